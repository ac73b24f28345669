"""Step 3's work: each created link's id, URL and status onto its FreshPortal order.

``PUT`` is idempotent, so a write whose answer was lost is simply read back and recorded; the
stored payment sequence is echoed so a status push that lands in between wins (409, re-read).
"""

from __future__ import annotations

import logging

from checkout_freshportal.freshportal import errors as fp_errors
from checkout_freshportal.freshportal.models import PaymentStatusUpdate
from checkout_freshportal.sync.orders import SOURCE_GET, land_orders
from checkout_freshportal.sync.payment_links import store
from checkout_freshportal.sync.payment_links.runner import Runner, RunResult, describe

log = logging.getLogger(__name__)


def write_back(run: Runner) -> RunResult:
    """Write back every created link not on its order yet; one order's failure blocks nobody."""
    with run.engine.connect() as conn:
        todo = store.writeback_candidates(conn, limit=run.settings.max_links_per_run)
    for intent in todo:
        try:
            outcome = write_back_one(run, intent)
        except (fp_errors.AuthenticationError, fp_errors.ForbiddenError):
            raise
        except fp_errors.DataError as exc:
            run.result.refused.append(f"order {intent.order_id}: {describe(exc)}")
            outcome = "order_unreadable"
        except fp_errors.FreshPortalError as exc:
            with run.engine.begin() as conn:
                store.count_writeback_attempt(conn, intent.intent_id, describe(exc), now=run.clock())
            if isinstance(exc, fp_errors.ValidationError | fp_errors.NotFoundError):
                run.result.refused.append(f"order {intent.order_id} ({intent.intent_id}): {describe(exc)}")
            else:
                run.result.deferred.append(f"order {intent.order_id} ({intent.intent_id}): {describe(exc)}")
            outcome = "error"
        run.result.counts[outcome] += 1
    run.finish()
    log.info("write-back: %s", dict(run.result.counts))
    return run.result


def write_back_one(run: Runner, intent: store.Intent) -> str:
    """Read the order fresh before each write: it may already show the link, be paid, or have
    changed its price, and a 409 means a status push got there first (three tries)."""
    assert intent.writeback_status
    assert intent.link_id
    target = intent.writeback_status
    for _attempt in range(3):
        order = run.fp.get_order(intent.order_id)
        with run.engine.begin() as conn:
            land_orders(conn, [order], SOURCE_GET)
        pay = order.payment
        now = run.clock()
        if (
            pay is not None
            and pay.payment_link_id == intent.link_id
            and pay.payment_link_url == intent.link_url
            and pay.status == target
        ):
            with run.engine.begin() as conn:  # already there (e.g. a 500 sent after the commit)
                store.record_written_back(conn, intent.intent_id, target, now=now)
            return "already_written"
        note = None
        if pay is not None and pay.status in run.settled_fp:
            note = f"writeback_skipped: order payment status is {pay.status}"
        elif not order.confirmed:
            note = f"writeback_skipped: order status is {order.status}"
        if note is not None:
            with run.engine.begin() as conn:
                store.set_writeback_status(conn, intent.intent_id, None, now=now, note=note)
            log.warning("order %s: %s; link %s not written", intent.order_id, note, intent.link_id)
            return "skipped"
        if (order.currency, order.amount_minor) != (intent.currency, intent.amount_minor):
            return "stale_price"  # the next create step supersedes this link
        update = PaymentStatusUpdate(
            status=target,
            currency=order.currency,
            payment_link_id=intent.link_id,
            payment_link_url=intent.link_url,
            status_changed_at=now,
            # Echo the stored sequence (0 when none): never ahead of the status pushes, and
            # a push that lands between our read and this write makes it fail with 409
            # (stale sequence), so we re-read instead of overwriting a newer status.
            sequence=pay.sequence if pay is not None and pay.sequence is not None else 0,
        )
        run.checkpoint("before_writeback", intent.intent_id)
        try:
            run.fp.write_payment_status(intent.order_id, update)
        except fp_errors.ConflictError:
            continue
        with run.engine.begin() as conn:
            store.record_written_back(conn, intent.intent_id, target, now=run.clock())
        return "written_back"
    raise fp_errors.ConflictError(f"order {intent.order_id}: payment status kept changing (409 three times)")
