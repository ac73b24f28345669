"""The payment-request use case against both real sandboxes, on SQLite and PostgreSQL.

Links are counted in the Checkout.com simulator's own world, write-backs in the FreshPortal
simulator's state: "exactly one link per order version" is checked where it matters.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from checkout_freshportal.sync.payment_links import service as pr
from checkout_freshportal.sync.payment_links.errors import PaymentRequestsDeferred, PaymentRequestsRefused

# isort: split
from pr_fixtures import CONFIRMED, World, fast_settings, freshportal_client


class SimulatedCrash(BaseException):
    """The worker dies: not an error the use case may catch and count."""


def crash_at(point: str, reference_intent: list[str] | None = None):
    def checkpoint(where: str, intent_id: str) -> None:
        if where == point:
            if reference_intent is not None:
                reference_intent.append(intent_id)
            raise SimulatedCrash(f"crash at {where}")

    return checkpoint


def payment_puts(world: World) -> dict[str, int]:
    return {o["order_number"]: o["_sandbox"]["payment_puts"] for o in world.fp_state()["orders"]}


def current(world: World, number: str) -> dict:
    rows = [i for i in world.intents() if i["reference"] == number and i["state"] != "superseded"]
    assert len(rows) == 1, rows
    return rows[0]


def test_confirmed_orders_get_one_link_each_written_back_and_a_rerun_changes_nothing(world: World) -> None:
    out = pr.run_all(world.fp, world.cko, world.engine, fast_settings(), run_id="run-1")
    assert out["sync_orders"]["fetched"] == 6
    assert out["create_payment_links"]["counts"] == {"created": 4}
    assert out["write_back_links"]["counts"] == {"written_back": 4}

    links = world.links_by_reference()
    assert sorted(links) == sorted(CONFIRMED)  # draft and cancelled orders get none
    assert all(len(v) == 1 for v in links.values())
    intents = {i["reference"]: i for i in world.intents()}
    for number in CONFIRMED:
        link, intent, order = links[number][0], intents[number], world.fp_order(number)
        assert link["amount"] == order["_sandbox"]["amount_minor"] == intent["amount_minor"]
        assert link["currency"] == order["currency_code"] == intent["currency"]
        assert link["metadata"] == {
            "freshportal_order_id": str(order["id"]),
            "order_version": intent["order_version"],
            "intent_id": intent["intent_id"],
        }
        assert intent["state"] == "created"
        assert intent["link_id"] == link["id"]
        assert intent["idempotency_key"] == f"cfp-pl-{order['id']}-{intent['order_version']}"
        assert order["payment"]["payment_link_id"] == link["id"]
        assert order["payment"]["payment_link_url"] == intent["link_url"]
        assert order["payment"]["payment_status"] == "awaiting_payment"
        assert intent["written_back_status"] == "awaiting_payment"
        assert intent["written_back_at"] is not None
        assert intent["attempts"] == 1

    before = (world.links(), world.intents(), payment_puts(world))
    again = pr.run_all(world.fp, world.cko, world.engine, fast_settings(), run_id="run-2")
    assert again["create_payment_links"]["counts"] == {}
    assert again["write_back_links"]["counts"] == {}
    assert again["sync_orders"]["fetched"] == 4  # our own write-backs came back through the feed
    assert (world.links(), world.intents(), payment_puts(world)) == before


def test_a_create_answer_with_only_id_expiry_and_redirect_is_enough(world: World) -> None:
    """Checkout.com's recorded 201 carries ``id``, ``expires_on`` and ``_links.redirect`` only
    (docs/checkout-com.md#payment-links): creating, recording and writing back need no more."""
    r = requests.post(f"{world.cko_sb.base_url}/_sandbox/faults", json={"real_shapes": True}, timeout=10)
    assert r.status_code == 200, r.text
    out = pr.run_all(world.fp, world.cko, world.engine, fast_settings(), run_id="run-1")
    assert out["create_payment_links"]["counts"] == {"created": 4}
    assert out["write_back_links"]["counts"] == {"written_back": 4}
    for intent in world.intents():
        order = world.fp_order(intent["reference"])
        assert intent["link_url"].endswith(f"/_sandbox/link/{intent['link_id']}")
        assert intent["expires_on"] is not None
        assert order["payment"]["payment_link_url"] == intent["link_url"]


def test_link_content_and_no_personal_data_in_the_warehouse(world: World) -> None:
    pr.run_all(world.fp, world.cko, world.engine, fast_settings(expires_in=timedelta(hours=48)))
    link = world.links_by_reference()["FP-300001"][0]
    assert link["amount"] == 100 * 62 + 50 * 35
    assert link["products"] == [
        {"name": "Rosa Red Naomi 60cm", "quantity": 100, "price": 62, "reference": "ROS-NAO-60"},
        {"name": "Tulip mix", "quantity": 50, "price": 35, "reference": "TUL-MIX"},
    ]
    assert link["customer"] == {"email": "inkoop@jansen.example", "name": "Bloemenhuis Jansen"}
    assert link["billing"]["address"]["country"] == "NL"
    remaining = link["expires_on"] - world.cko_sb.world.now
    assert timedelta(hours=47) < remaining <= timedelta(hours=48)

    row = world.orders()["FP-300001"]
    assert row["customer_email_masked"] == "i***@jansen.example"
    assert len(row["customer_email_hash"]) == 64
    assert "inkoop@jansen.example" not in repr(world.orders())
    assert "inkoop@jansen.example" not in repr(world.intents())


def test_a_changed_amount_gets_a_new_link_and_the_old_one_is_superseded(world: World) -> None:
    pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    old = current(world, "FP-300002")
    world.fp_admin("PATCH", "/orders/FP-300002", {"amount_minor": 47500})

    out = pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert out["create_payment_links"]["counts"] == {"created": 1, "superseded_price_changed": 1}
    new = current(world, "FP-300002")
    assert new["amount_minor"] == 47500
    assert new["intent_id"] != old["intent_id"]
    retired = next(i for i in world.intents() if i["intent_id"] == old["intent_id"])
    assert retired["state"] == "superseded"
    assert retired["superseded_by"] == new["intent_id"]
    assert retired["superseded_reason"] == "price_changed"
    assert retired["link_status"] == "Active"  # the old link's status was read and recorded

    links = world.links_by_reference()["FP-300002"]
    assert sorted(link["amount"] for link in links) == [45000, 47500]
    payment = world.fp_order("FP-300002")["payment"]
    assert payment["payment_link_id"] == new["link_id"]
    assert payment["payment_link_url"] == new["link_url"]
    assert all(len(v) == 1 for k, v in world.links_by_reference().items() if k != "FP-300002")

    # The same again changes nothing; a change back to the old price is a new version, a new link.
    assert (
        pr.run_all(world.fp, world.cko, world.engine, fast_settings())["create_payment_links"]["counts"] == {}
    )
    world.fp_admin("PATCH", "/orders/FP-300002", {"amount_minor": 45000})
    pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert len(world.links_by_reference()["FP-300002"]) == 3
    assert current(world, "FP-300002")["amount_minor"] == 45000
    assert len({i["order_version"] for i in world.intents() if i["reference"] == "FP-300002"}) == 3


def test_expired_unpaid_links_are_renewed_paid_ones_are_not_and_renewals_are_bounded(world: World) -> None:
    # 30 s, not 1 s: the sandbox clock also moves with real time, and a loaded machine can spend
    # a second between creating the links and paying one (seen in CI: payment_link_expired).
    settings = fast_settings(expires_in=timedelta(seconds=30), max_renewals=1)
    pr.run_all(world.fp, world.cko, world.engine, settings, clock=world.now)
    paid_link = world.links_by_reference()["FP-300003"][0]
    world.pay(paid_link["id"])
    world.advance(31)  # every unpaid link is past its expires_on

    out = pr.run_all(world.fp, world.cko, world.engine, settings, clock=world.now)
    assert out["create_payment_links"]["counts"] == {"created": 3, "superseded_expired": 3, "paid": 1}
    links = world.links_by_reference()
    assert len(links["FP-300003"]) == 1  # paid: never renewed
    assert current(world, "FP-300003")["link_status"] == "Payment Received"
    for number in ("FP-300001", "FP-300002", "FP-300004"):
        assert sorted(link["status"] for link in links[number]) == ["Active", "Expired"]
        renewal = current(world, number)
        assert renewal["renewal_no"] == 1
        assert renewal["order_version"].endswith("-r1")
        assert world.fp_order(number)["payment"]["payment_link_id"] == renewal["link_id"]

    world.advance(31)  # the renewals expire too; max_renewals=1 stops here
    out = pr.run_all(world.fp, world.cko, world.engine, settings, clock=world.now)
    assert out["create_payment_links"]["counts"] == {"expired_not_renewed": 3}
    for number in ("FP-300001", "FP-300002", "FP-300004"):
        assert len(world.links_by_reference()[number]) == 2
        assert world.fp_order(number)["payment"]["payment_status"] == "expired"
    again = pr.run_all(world.fp, world.cko, world.engine, settings, clock=world.now)
    assert again["create_payment_links"]["counts"] == {}


def test_crash_after_the_link_was_recorded_rerun_writes_it_back_and_creates_nothing(world: World) -> None:
    crashed: list[str] = []
    with pytest.raises(SimulatedCrash):
        pr.run_all(
            world.fp, world.cko, world.engine, fast_settings(), checkpoint=crash_at("after_record", crashed)
        )
    assert len(world.links()) == 1
    first = world.intents()[0]
    assert first["state"] == "created"
    assert first["written_back_at"] is None

    pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    links = world.links_by_reference()
    assert all(len(v) == 1 for v in links.values())
    assert len(links) == 4
    assert world.fp_order(first["reference"])["payment"]["payment_link_id"] == first["link_id"]


def test_crash_between_the_checkout_call_and_recording_it_creates_no_second_link(world: World) -> None:
    """The residual window: the 201 is lost with the worker. Default policy: wait it out."""
    settings = fast_settings(expires_in=timedelta(seconds=1), in_doubt_margin=timedelta(seconds=0.5))
    crashed: list[str] = []
    with pytest.raises(SimulatedCrash):
        pr.run_all(
            world.fp,
            world.cko,
            world.engine,
            settings,
            clock=world.now,
            checkpoint=crash_at("after_post", crashed),
        )
    (orphan,) = world.links()
    doubt = next(i for i in world.intents() if i["intent_id"] == crashed[0])
    assert doubt["state"] == "creating"
    assert doubt["link_id"] is None

    out = pr.run_all(world.fp, world.cko, world.engine, settings, clock=world.now)
    assert out["create_payment_links"]["counts"] == {"created": 3, "in_doubt_waiting": 1}
    assert len(world.links_by_reference()[orphan["reference"]]) == 1  # no second link
    assert world.fp_order(orphan["reference"])["payment"] is None

    world.advance(2)  # any link the lost POST made has now expired: a renewal is safe
    out = pr.run_all(world.fp, world.cko, world.engine, settings, clock=world.now)
    assert out["create_payment_links"]["counts"]["superseded_in_doubt_expired"] == 1
    links = world.links_by_reference()[orphan["reference"]]
    assert len(links) == 2
    assert {link["id"]: link["status"] for link in links}[orphan["id"]] == "Expired"
    renewal = current(world, orphan["reference"])
    assert renewal["link_id"] != orphan["id"]
    assert world.fp_order(orphan["reference"])["payment"]["payment_link_id"] == renewal["link_id"]


def test_an_operator_adopts_the_link_of_an_in_doubt_intent(world: World) -> None:
    crashed: list[str] = []
    with pytest.raises(SimulatedCrash):
        pr.run_all(
            world.fp, world.cko, world.engine, fast_settings(), checkpoint=crash_at("after_post", crashed)
        )
    (orphan,) = world.links()  # what the operator finds in the Checkout.com Dashboard by reference
    other = world.cko.create_payment_link(
        {
            "amount": 1,
            "currency": "EUR",
            "reference": orphan["reference"],
            "billing": {"address": {"country": "NL"}},
        }
    )
    with pytest.raises(ValueError, match="does not belong"):
        pr.adopt_link(world.cko, world.engine, crashed[0], other["id"])
    adopted = pr.adopt_link(world.cko, world.engine, crashed[0], orphan["id"])
    assert adopted.state == "created"
    assert adopted.link_id == orphan["id"]

    pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert [link["id"] for link in world.links_by_reference()[orphan["reference"]]] == [
        orphan["id"],
        other["id"],
    ]
    assert world.fp_order(orphan["reference"])["payment"]["payment_link_id"] == orphan["id"]


def test_resend_policy_documented_residual(world: World) -> None:
    """``in_doubt: resend`` reuses the idempotency key. This sandbox, like the documented API,
    ignores keys on /payment-links, so the lost link stays behind -- unreferenced and unpaid --
    and exactly one link is recorded and written back."""
    crashed: list[str] = []
    with pytest.raises(SimulatedCrash):
        pr.run_all(
            world.fp, world.cko, world.engine, fast_settings(), checkpoint=crash_at("after_post", crashed)
        )
    (orphan,) = world.links()
    pr.run_all(world.fp, world.cko, world.engine, fast_settings(in_doubt="resend"))
    intent = current(world, orphan["reference"])
    assert intent["intent_id"] == crashed[0]
    assert intent["attempts"] == 2
    links = world.links_by_reference()[orphan["reference"]]
    assert len(links) == 2
    assert {link["metadata"]["intent_id"] for link in links} == {crashed[0]}
    assert (
        world.fp_order(orphan["reference"])["payment"]["payment_link_id"] == intent["link_id"] != orphan["id"]
    )


def test_checkout_5xx_on_create_is_in_doubt_and_released_by_an_operator(world: World) -> None:
    faults = f"{world.cko_sb.base_url}/_sandbox/faults"
    requests.post(faults, json={"fault_500_share": 1.0}, timeout=10).raise_for_status()
    with pytest.raises(PaymentRequestsDeferred):
        pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    requests.post(faults, json={"fault_500_share": 0.0}, timeout=10).raise_for_status()
    assert world.links() == []
    assert {i["state"] for i in world.intents()} == {"creating"}
    assert all(i["last_error"].startswith("in_doubt: ServerError") for i in world.intents())

    out = pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert out["create_payment_links"]["counts"] == {"in_doubt_waiting": 4}
    assert world.links() == []

    for intent in world.intents():  # the runbook: nothing in the Dashboard for these references
        pr.release_in_doubt(world.engine, intent["intent_id"])
    out = pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert out["create_payment_links"]["counts"] == {"created": 4}
    assert all(len(v) == 1 for v in world.links_by_reference().values())


def test_a_freshportal_500_on_write_back_then_a_task_retry_creates_no_duplicate(world: World) -> None:
    fp = freshportal_client(world.fp_sb, max_retries=1)
    world.queue_fp_fault("500", "PUT", "/payment", count=2)  # more than the client's own retries
    with pytest.raises(PaymentRequestsDeferred):
        pr.run_all(fp, world.cko, world.engine, fast_settings())
    assert len(world.links()) == 4
    unwritten = [i for i in world.intents() if i["written_back_at"] is None]
    assert len(unwritten) == 1
    assert unwritten[0]["writeback_attempts"] == 1

    # The task retry: the whole step again (and the create step too, as a DAG rerun would).
    out = pr.run_all(fp, world.cko, world.engine, fast_settings())
    assert out["create_payment_links"]["counts"] == {}
    assert out["write_back_links"]["counts"] == {"written_back": 1}
    assert len(world.links()) == 4
    assert all(world.fp_order(n)["payment"]["payment_link_id"] for n in CONFIRMED)
    fp.close()


def test_a_write_back_stored_before_a_500_is_recognised_not_repeated(world: World) -> None:
    fp = freshportal_client(world.fp_sb, max_retries=0)
    world.queue_fp_fault("500_after_commit", "PUT", "/payment", count=1)
    with pytest.raises(PaymentRequestsDeferred):
        pr.run_all(fp, world.cko, world.engine, fast_settings())
    puts = payment_puts(world)
    out = pr.write_back_links(fp, world.engine, fast_settings())
    assert out.counts == {"already_written": 1}
    assert payment_puts(world) == puts
    fp.close()


def test_a_paid_order_is_never_overwritten_by_a_link_write_back(world: World) -> None:
    pr.sync_orders(world.fp, world.engine)
    pr.create_payment_links(world.fp, world.cko, world.engine)
    # Before our write-back lands, the status push (another DAG) marks one order paid.
    from checkout_freshportal.freshportal import PaymentStatusUpdate

    world.fp.write_payment_status(
        str(world.fp_order("FP-300004")["id"]),
        PaymentStatusUpdate(status="paid", currency="KWD", amount_paid_minor=12345, sequence=5),
    )
    out = pr.write_back_links(world.fp, world.engine)
    assert out.counts == {"written_back": 3, "skipped": 1}
    assert world.fp_order("FP-300004")["payment"]["payment_status"] == "paid"
    assert pr.write_back_links(world.fp, world.engine).counts == {}


def test_an_order_confirmed_later_gets_its_link_then(world: World) -> None:
    pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert "FP-300005" not in world.links_by_reference()
    world.fp_admin("POST", "/orders/FP-300005/confirm")
    out = pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert out["create_payment_links"]["counts"] == {"created": 1}
    assert len(world.links_by_reference()["FP-300005"]) == 1


def test_a_refused_order_fails_loudly_after_the_others_were_served(world: World) -> None:
    long_number = "FP-" + "9" * 60  # Checkout.com references are at most 50 characters
    world.fp_admin("POST", "/orders", {"order_number": long_number, "currency": "EUR", "amount_minor": 500})
    with pytest.raises(PaymentRequestsRefused, match="reference_too_long"):
        pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert len(world.links()) == 4
    refused = current(world, long_number)
    assert refused["state"] == "failed"
    assert refused["attempts"] == 0
    assert refused["last_error"].startswith("LinkDataError: reference_too_long")
    # Unchanged order: not even looked at again, so it does not fail every run...
    out = pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert out["create_payment_links"]["counts"] == {}
    assert out["create_payment_links"]["intents"]["failed"] == 1  # ...but stays visible
    # Changed order (someone edited it in FreshPortal): tried again.
    world.fp_admin("PATCH", f"/orders/{long_number}", {"delivery_date": "2030-01-02"})
    with pytest.raises(PaymentRequestsRefused):
        pr.run_all(world.fp, world.cko, world.engine, fast_settings())
    assert len(world.links()) == 4


def test_two_runners_at_once_still_make_one_link_per_order(world: World) -> None:
    import threading

    pr.sync_orders(world.fp, world.engine)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            pr.create_payment_links(world.fp, world.cko, world.engine)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    links = world.links_by_reference()
    assert sorted(links) == sorted(CONFIRMED)
    assert all(len(v) == 1 for v in links.values())


def test_the_cursor_only_moves_with_landed_pages(world: World) -> None:
    from checkout_freshportal.freshportal import ServerError
    from checkout_freshportal.sync.orders import WM_ORDERS
    from checkout_freshportal.warehouse.watermarks import get_watermark

    world.queue_fp_fault("500", "GET", "/v1/orders", count=10)
    fp = freshportal_client(world.fp_sb, max_retries=0)
    with pytest.raises(ServerError):
        pr.sync_orders(fp, world.engine, fast_settings(orders_page_size=2))
    with world.engine.connect() as conn:
        assert get_watermark(conn, WM_ORDERS) is None
    world.fp_admin("DELETE", "/faults/next")
    first = pr.sync_orders(fp, world.engine, fast_settings(orders_page_size=2))
    assert (first["pages"], first["inserted"]) == (3, 6)
    assert pr.sync_orders(fp, world.engine, fast_settings(orders_page_size=2))["fetched"] == 0
    fp.close()


def test_a_status_push_racing_the_write_back_wins(world: World) -> None:
    """A payment status written between our read and our PUT is never overwritten (409, re-read)."""
    from checkout_freshportal.freshportal import PaymentStatusUpdate

    pr.sync_orders(world.fp, world.engine)
    pr.create_payment_links(world.fp, world.cko, world.engine)
    kwd = world.fp_order("FP-300004")

    def push_first(point: str, intent_id: str) -> None:
        if point == "before_writeback" and intent_id == current(world, "FP-300004")["intent_id"]:
            world.fp.write_payment_status(
                str(kwd["id"]),
                PaymentStatusUpdate(status="authorized", currency="KWD", amount_paid_minor=0, sequence=3),
            )

    out = pr.write_back_links(world.fp, world.engine, checkpoint=push_first)
    assert out.counts == {"written_back": 3, "skipped": 1}
    payment = world.fp_order("FP-300004")["payment"]
    assert payment["payment_status"] == "authorized"
    assert payment["sequence"] == 3


def test_the_idempotency_key_is_sent_when_the_client_takes_one() -> None:
    seen: dict = {}

    class KeyedClient:
        def create_payment_link(self, body, idempotency_key=None):
            seen.update(body=body, key=idempotency_key)
            return {"id": "pl_x"}

    class PlainClient:
        def create_payment_link(self, body):
            seen.update(body=body, key=None)
            return {"id": "pl_y"}

    assert pr.post_payment_link(KeyedClient(), {"amount": 1}, "cfp-pl-1-v1")["id"] == "pl_x"
    assert seen["key"] == "cfp-pl-1-v1"
    assert pr.post_payment_link(PlainClient(), {"amount": 1}, "cfp-pl-1-v1")["id"] == "pl_y"
