"""Review findings on captures (issue 8), as tests that fail while the finding stands."""

from __future__ import annotations

from dataclasses import replace

from cap_fixtures import World, settings

from checkout_freshportal.sync.captures import pull, service
from checkout_freshportal.sync.captures.pull import land_releases
from checkout_freshportal.sync.intents import store


def test_release_corrected_before_anything_was_sent_is_captured_as_corrected(world: World) -> None:
    """The release feed is a *changed* feed and releases carry a ``version``; pull.py keeps the
    first reading even while the intent is ``pending`` with ``attempts == 0`` (nothing sent),
    although ``store.amend_pending`` exists for exactly that case. A release read at 80.00 and
    corrected to 50.00 before the execute step is captured at 80.00."""
    pay = world.authorise("FP-400003", 10_000)
    rid = world.release("FP-400003", 8_000, complete=False)
    service.run_step("pull", fp=world.fp, cko=None, engine=world.engine, clock=world.now)
    page = world.fp.get_fulfilment_releases_page(None, 100)
    (read,) = [r for r in page.items if r.release_id == rid]
    corrected = replace(read, amount_minor=5_000, version=(read.version or 0) + 1)
    with world.engine.begin() as conn:  # the feed repeats the changed record
        counts = land_releases(conn, [corrected], now=world.now(), run_id="review")
    assert counts["amended"] == 1
    service.run_step(
        "execute", fp=world.fp, cko=world.cko, engine=world.engine, settings=settings(), clock=world.now
    )
    intent = world.intents()[pull.request_key(rid)]
    assert intent["state"] in (store.ACCEPTED, store.SUCCEEDED)
    assert [c["amount"] for c in world.captures(pay)] == [5_000]
