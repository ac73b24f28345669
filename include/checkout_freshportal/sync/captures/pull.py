"""FreshPortal's fulfilment-release feed into capture intents, one per release.

Each page's intents land in one transaction with the cursor that follows it
(``sync_watermarks``), so the cursor is never ahead of the data and a run that dies mid-feed
resumes where it stopped. The intent is unique on ``release:<id>``: a release seen again (the
feed repeats changed records) finds its row and adds nothing, so a release is captured at most
once whatever the feed does. The intent row holds all a capture needs (order, amount, currency,
``final`` = the release completes the order), so releases need no staging table.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.freshportal.models import Page
from checkout_freshportal.freshportal.releases import FulfilmentRelease
from checkout_freshportal.logsafe import safe
from checkout_freshportal.sync.feed import walk_feed
from checkout_freshportal.sync.intents import store

log = logging.getLogger(__name__)

WM_RELEASES = "freshportal.fulfilment_releases.cursor"


class ReleaseFeed(Protocol):
    def get_fulfilment_releases_page(
        self, cursor: str | None = None, limit: int | None = None
    ) -> Page[FulfilmentRelease]: ...


def request_key(release_id: str) -> str:
    return f"release:{release_id}"


def release_id_of(intent: store.MoneyIntent) -> str:
    return intent.request_key.split(":", 1)[1]


def land_releases(
    conn: Connection, items: Sequence[FulfilmentRelease], *, now: datetime, run_id: str | None
) -> Counter[str]:
    """Write the intent of every release on one page (``pending``); returns counts."""
    counts: Counter[str] = Counter()
    newest: dict[str, FulfilmentRelease] = {}
    for r in items:  # the feed may repeat a release within a page: its last version wins
        newest[r.release_id] = r
    for r in newest.values():
        intent, inserted = store.insert(
            conn,
            kind=store.CAPTURE,
            request_key=request_key(r.release_id),
            order_id=r.order_id,
            order_number=r.order_number,
            currency=r.currency,
            amount_minor=r.amount_minor,
            final=r.complete,
            fp_version=r.version,
            requested_at=r.released_at or r.updated_at,
            now=now,
            run_id=run_id,
        )
        if inserted:
            counts["new_releases"] += 1
            continue
        counts["seen_again"] += 1
        if (intent.amount_minor, intent.currency, intent.final) != (r.amount_minor, r.currency, r.complete):
            # Corrected before anything was sent: the intent follows the release.
            if store.amend_pending(
                conn,
                intent,
                amount_minor=r.amount_minor,
                currency=r.currency,
                fp_version=r.version,
                requested_at=r.released_at or r.updated_at,
                now=now,
                final=r.complete,
            ):
                counts["amended"] += 1
                continue
            # Already sent: the first reading stands (it may be captured already). Say so, loudly.
            log.warning(
                "release %s changed after it was read (amount/currency/complete); the first reading "
                "stands (intent %s, %s)",
                safe(r.release_id),
                intent.intent_id,
                intent.state,
            )
            counts["changed_after_read"] += 1
    return counts


def pull_releases(
    fp: ReleaseFeed, engine: Engine, *, page_size: int, now: datetime, run_id: str | None
) -> Counter[str]:
    """Walk the feed from the stored cursor to its end, one committed page at a time."""
    return walk_feed(
        engine,
        fp.get_fulfilment_releases_page,
        lambda conn, items: land_releases(conn, items, now=now, run_id=run_id),
        watermark=WM_RELEASES,
        what="fulfilment releases",
        page_size=page_size,
        run_id=run_id,
    )
