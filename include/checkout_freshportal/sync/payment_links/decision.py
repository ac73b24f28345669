"""The create step's per-order decision: what an order's current intent calls for.

Phase 1 settles what the warehouse alone can (paid, waiting out a lost POST, failed and
unchanged) without reading the order; phase 2 acts on a fresh read of the order, because only
the current price, customer and status may decide a new link.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import RowMapping

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.freshportal import errors as fp_errors
from checkout_freshportal.freshportal.models import Order
from checkout_freshportal.sync.orders import SOURCE_GET, land_orders, stg_order
from checkout_freshportal.sync.payment_links import store
from checkout_freshportal.sync.payment_links.runner import Runner, RunResult, describe
from checkout_freshportal.sync.payment_links.send import new_intent, send

log = logging.getLogger(__name__)


def create_links(run: Runner) -> RunResult:
    """Serve every candidate order; one order's failure is counted and the batch goes on, except
    for errors every order would hit (credentials, configuration)."""
    now = run.clock()
    with run.engine.connect() as conn:
        todo = store.link_candidates(
            conn,
            confirmed_statuses=sorted(run.mapping.confirmed_order_statuses),
            settled_statuses=sorted(run.settled_fp),
            confirmed_after=run.settings.confirmed_after,
            now=now,
            limit=run.settings.max_links_per_run,
        )
    for order_id in todo:
        try:
            outcome = serve_order(run, order_id)
        except (
            cko_errors.AuthenticationError,
            cko_errors.ActionNotAllowedError,
            cko_errors.UnsafeRedirectError,
            fp_errors.AuthenticationError,
            fp_errors.ForbiddenError,
        ):
            raise  # credentials or configuration: every order would fail the same way
        except fp_errors.DataError as exc:
            run.result.refused.append(f"order {order_id}: {describe(exc)}")
            outcome = "order_unreadable"
        except (cko_errors.CheckoutError, fp_errors.FreshPortalError) as exc:
            run.result.deferred.append(f"order {order_id}: {describe(exc)}")
            outcome = "error"
        run.result.counts[outcome] += 1
    run.finish()
    log.info("payment links: %s; intents: %s", dict(run.result.counts), run.result.intents)
    return run.result


def serve_order(run: Runner, order_id: str) -> str:
    """The outcome (a count name) of bringing one order to exactly one live link."""
    now = run.clock()
    with run.engine.connect() as conn:
        cur = store.current_intent(conn, order_id)
        staged = stg_order(conn, order_id)
    settled, expired = _settle_without_order(run, order_id, cur, staged, now)
    if settled is not None:
        return settled

    # Phase 2: act on a fresh read of the order (current price, customer, status).
    try:
        order = run.fp.get_order(order_id)
    except fp_errors.NotFoundError:
        if cur is not None and cur.state in (store.PENDING, store.FAILED):
            with run.engine.begin() as conn:
                store.supersede(conn, cur, by=None, reason="order_gone", now=now)
        return "order_gone"
    with run.engine.begin() as conn:
        land_orders(conn, [order], SOURCE_GET)
    why_not = run.eligible(order)
    if cur is None:
        return why_not or new_intent(run, order, None, reason=None)
    same_price = (cur.currency, cur.amount_minor) == (order.currency, order.amount_minor)
    if cur.state == store.CREATED:
        return _created(run, order, cur, why_not, same_price=same_price, expired=expired, now=now)
    if cur.state in (store.PENDING, store.FAILED):
        return _pending_or_failed(run, order, cur, why_not, same_price=same_price, now=now)
    return _in_doubt(run, order, cur, why_not, same_price=same_price, now=now)


def _settle_without_order(
    run: Runner,
    order_id: str,
    cur: store.Intent | None,
    staged: RowMapping | None,
    now: datetime,
) -> tuple[str | None, bool]:
    """Phase 1: the outcome the warehouse alone can settle (or None), and whether the link expired."""
    s = run.settings
    if cur is not None and cur.state == store.CREATED:
        if cur.link_status == store.LINK_PAID:
            return "paid", False
        if cur.expires_on is not None and cur.expires_on <= now:
            status = run.check_link(cur)
            if status == store.LINK_PAID:
                return "paid", False
            return None, status == store.LINK_EXPIRED
    elif cur is not None and cur.state == store.CREATING and s.in_doubt == "wait":
        assert cur.attempted_at is not None
        safe_after = cur.attempted_at + timedelta(seconds=cur.expires_in) + s.in_doubt_margin
        if now < safe_after:
            log.warning(
                "intent %s (order %s) is in doubt until %s: no new link before any link of its "
                "lost POST has expired (runbook: adopt_link / release_in_doubt)",
                cur.intent_id,
                order_id,
                safe_after.isoformat(),
            )
            return "in_doubt_waiting", False
        if run.paid_while_in_doubt(cur):
            return "paid", False
    elif cur is not None and cur.state == store.FAILED:
        changed = (
            staged is not None
            and staged["fp_version"] is not None
            and staged["fp_version"] > (cur.fp_version if cur.fp_version is not None else -1)
        )
        if not changed:
            return "failed_unchanged", False
    return None, False


def _created(
    run: Runner,
    order: Order,
    cur: store.Intent,
    why_not: str | None,
    *,
    same_price: bool,
    expired: bool,
    now: datetime,
) -> str:
    """A live (or expired) link: keep it, replace it at a new price, or renew it."""
    s = run.settings
    if same_price and not expired:
        return "live"
    if not same_price:
        if not expired and run.check_link(cur) == store.LINK_PAID:
            return "paid"
        return why_not or new_intent(run, order, cur, reason="price_changed")
    if why_not:
        return why_not
    if not s.renew_expired or cur.renewal_no >= s.max_renewals:
        if cur.writeback_status != run.expired_status_fp:
            with run.engine.begin() as conn:
                store.set_writeback_status(conn, cur.intent_id, run.expired_status_fp, now=now)
        return "expired_not_renewed"
    return new_intent(run, order, cur, reason="expired", renewal_no=cur.renewal_no + 1)


def _pending_or_failed(
    run: Runner, order: Order, cur: store.Intent, why_not: str | None, *, same_price: bool, now: datetime
) -> str:
    """Nothing was sent (or Checkout.com refused it): retire, replace, or (re)send the intent."""
    if why_not:
        with run.engine.begin() as conn:
            store.supersede(conn, cur, by=None, reason=why_not, now=now)
        return why_not
    if not same_price:
        return new_intent(run, order, cur, reason="price_changed")
    if cur.state == store.FAILED:
        with run.engine.begin() as conn:
            if not store.reopen(conn, cur, now=now):
                return "raced"
            reopened = store.get_intent(conn, cur.intent_id)
        assert reopened is not None
        cur = reopened
    return send(run, cur, order)


def _in_doubt(
    run: Runner, order: Order, cur: store.Intent, why_not: str | None, *, same_price: bool, now: datetime
) -> str:
    """``creating``: in doubt, and either policy "resend" or the wait is over."""
    if run.settings.in_doubt == "resend":
        if why_not or not same_price:
            with run.engine.begin() as conn:
                store.supersede(conn, cur, by=None, reason=why_not or "price_changed", now=now)
            return why_not or new_intent(run, order, None, reason=None)
        log.warning("intent %s in doubt: resending with its idempotency key", cur.intent_id)
        return send(run, cur, order, resend=True)
    if why_not:
        with run.engine.begin() as conn:
            store.supersede(conn, cur, by=None, reason="in_doubt_expired", now=now)
        return why_not
    return new_intent(
        run, order, cur, reason="in_doubt_expired", renewal_no=cur.renewal_no + 1 if same_price else 0
    )
