"""Payment requests: each confirmed FreshPortal order gets exactly one live Checkout.com Payment Link.

Three steps, each safe to repeat and to interrupt anywhere (docs/payment-requests.md):

* :func:`sync_orders` -- the changed-orders feed into ``stg_orders`` (cursor moves with the data);
* :func:`create_payment_links` -- for each confirmed order without a live link at its current
  price: intent row first (unique on order + version), ``creating`` committed, POST with a
  deterministic ``Cko-Idempotency-Key``, link id committed the moment the 201 arrives;
  superseded links (price change) and expired ones (renewal) get a new intent;
* :func:`write_back_links` -- link id + URL onto the FreshPortal order (``PUT``, idempotent),
  ``written_back_at`` recorded.

``POST /payment-links`` has no documented idempotency and no list endpoint exists, so a POST
whose answer was lost leaves the intent *in doubt* (``creating`` without a link id); the
``in_doubt`` setting decides what happens to it. Nothing here retries a POST blindly.
"""

from __future__ import annotations

import inspect
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.freshportal import errors as fp_errors
from checkout_freshportal.freshportal.mapping import FreshPortalMapping, load_mapping
from checkout_freshportal.freshportal.models import Order, OrderPayment, Page, PaymentStatusUpdate
from checkout_freshportal.sync.orders import SOURCE_GET, land_orders, stg_order
from checkout_freshportal.sync.orders import sync_orders as _sync_orders
from checkout_freshportal.sync.payment_links import store
from checkout_freshportal.sync.payment_links.body import (
    IntentKey,
    LinkDataError,
    base_version,
    link_body,
    strip_renewal,
    with_renewal,
)
from checkout_freshportal.sync.payment_links.errors import (
    PaymentRequestError,
    PaymentRequestsDeferred,
    PaymentRequestsRefused,
)
from checkout_freshportal.sync.payment_links.settings import (
    SETTLED_CHECKOUT_STATUSES,
    PaymentRequestSettings,
)
from checkout_freshportal.timeutil import parse_ts, utcnow

log = logging.getLogger(__name__)

#: Named points of the flow where tests inject a crash (``checkpoint(point, intent_id)``).
__all__ = [
    "CHECKPOINTS",
    "PaymentRequestError",
    "PaymentRequestsDeferred",
    "PaymentRequestsRefused",
    "RunResult",
    "adopt_link",
    "create_payment_links",
    "post_payment_link",
    "release_in_doubt",
    "run_all",
    "sync_orders",
    "write_back_links",
]

CHECKPOINTS = ("intent_written", "before_post", "after_post", "after_record", "before_writeback")
Checkpoint = Callable[[str, str], None]


class FreshPortalPort(Protocol):
    mapping: FreshPortalMapping

    def get_orders_page(self, cursor: str | None = None, limit: int | None = None) -> Page[Order]: ...
    def get_order(self, order_id: str) -> Order: ...
    def write_payment_status(self, order_id: str, update: PaymentStatusUpdate) -> OrderPayment: ...


class CheckoutLinks(Protocol):
    def create_payment_link(self, body: Mapping[str, Any]) -> dict: ...
    def get_payment_link(self, link_id: str) -> dict: ...
    def list_payments_by_reference(self, reference: str, limit: int = ...) -> Iterator[dict]: ...


@dataclass
class RunResult:
    step: str
    counts: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    intents: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "counts": dict(self.counts),
            "refused": list(self.refused),
            "deferred": list(self.deferred),
            "intents": dict(self.intents),
        }

    def raise_for_failures(self) -> None:
        """Loud failure after the whole batch had its chance (one bad order blocks nobody)."""
        if self.refused:
            raise PaymentRequestsRefused(
                f"{self.step}: {len(self.refused)} order(s) refused (fix them in FreshPortal; they are "
                "retried when the order changes)",
                self.refused + self.deferred,
            )
        if self.deferred:
            raise PaymentRequestsDeferred(
                f"{self.step}: {len(self.deferred)} order(s) deferred (transient); a retry resumes them",
                self.deferred,
            )


def _describe(exc: BaseException) -> str:
    """Class and message of an error for ``last_error`` and task logs.

    The clients' messages carry method, path, status, error codes and request id, never a body,
    a credential or an e-mail (FreshPortal messages are scrubbed by its client).
    """
    text = f"{exc.code}: {exc}" if isinstance(exc, LinkDataError) else str(exc)
    return f"{type(exc).__name__}: {text}"[: store.MAX_ERROR_CHARS]


def _no_checkpoint(point: str, intent_id: str) -> None:
    return None


def post_payment_link(cko: CheckoutLinks, body: Mapping[str, Any], idempotency_key: str) -> dict:
    """POST the link, with ``Cko-Idempotency-Key`` when the client can send one.

    The key is undocumented for ``/payment-links``: if Checkout.com honours it, a resend after a
    lost answer returns the same link; if not, it is ignored. It costs nothing to send.
    """
    create = cko.create_payment_link
    try:
        accepts_key = "idempotency_key" in inspect.signature(create).parameters
    except (TypeError, ValueError):
        accepts_key = False
    if accepts_key:
        return create(body, idempotency_key=idempotency_key)  # type: ignore[call-arg]
    return create(body)


# ============================================================================ step 1


def sync_orders(
    fp: FreshPortalPort,
    engine: Engine,
    settings: PaymentRequestSettings | None = None,
    *,
    run_id: str | None = None,
) -> dict[str, Any]:
    """FreshPortal's changed-orders feed into ``stg_orders`` (see :mod:`.orders_sync`)."""
    settings = settings or PaymentRequestSettings()
    return _sync_orders(fp, engine, page_size=settings.orders_page_size, run_id=run_id)


# ============================================================================ steps 2 and 3


class _Runner:
    def __init__(
        self,
        fp: FreshPortalPort,
        cko: CheckoutLinks | None,
        engine: Engine,
        settings: PaymentRequestSettings,
        *,
        step: str,
        clock: Callable[[], datetime],
        run_id: str | None,
        checkpoint: Checkpoint | None,
    ) -> None:
        self.fp, self.cko, self.engine, self.settings = fp, cko, engine, settings
        self.clock, self.run_id = clock, run_id
        self.checkpoint = checkpoint or _no_checkpoint
        self.result = RunResult(step)
        m = fp.mapping
        self.mapping = m
        self.link_status_fp = m.check_payment_status(
            settings.link_payment_status or m.payment_status_for("Pending")
        )
        self.expired_status_fp = m.check_payment_status(
            settings.expired_payment_status or m.payment_status_for("Expired")
        )
        self.settled_fp = frozenset(m.payment_status_for(s) for s in SETTLED_CHECKOUT_STATUSES) - {
            self.link_status_fp,
            self.expired_status_fp,
        }

    # ------------------------------------------------------------------ helpers
    def _eligible(self, order: Order) -> str | None:
        """None when the order should have a live link; else why not (a count name)."""
        if not order.confirmed:
            return "not_confirmed"
        if order.amount_minor < 1:
            return "zero_amount"
        if order.payment is not None and order.payment.status in self.settled_fp:
            return "already_paid"
        after = self.settings.confirmed_after
        if after is not None and (order.confirmed_at is None or order.confirmed_at < after):
            return "confirmed_before_cutoff"
        return None

    def _check_link(self, intent: store.Intent) -> str:
        """``GET /payment-links/{id}``: record and return its status."""
        assert self.cko is not None
        assert intent.link_id
        link = self.cko.get_payment_link(intent.link_id)
        status = str(link.get("status") or "")
        with self.engine.begin() as conn:
            store.record_link_status(
                conn, intent.intent_id, status=status, payment_id=link.get("payment_id"), now=self.clock()
            )
        return status

    def _paid_while_in_doubt(self, intent: store.Intent) -> bool:
        """Did anyone pay a link of this intent? Its payment carries our ``metadata.intent_id``.

        Payments are listable by reference, links are not; a link whose id we lost cannot have
        reached a customer (its URL was never written anywhere), so this is a belt-and-braces check.
        """
        assert self.cko is not None
        for payment in self.cko.list_payments_by_reference(intent.reference):
            meta = payment.get("metadata") or {}
            if meta.get("intent_id") == intent.intent_id and payment.get("approved") is True:
                with self.engine.begin() as conn:
                    store.record_paid_in_doubt(
                        conn, intent, payment_id=str(payment.get("id")), now=self.clock()
                    )
                log.warning("in-doubt intent %s: its link was paid (%s)", intent.intent_id, payment.get("id"))
                return True
        return False

    # ------------------------------------------------------------------ create
    def create_links(self) -> RunResult:
        now = self.clock()
        with self.engine.connect() as conn:
            todo = store.link_candidates(
                conn,
                confirmed_statuses=sorted(self.mapping.confirmed_order_statuses),
                settled_statuses=sorted(self.settled_fp),
                confirmed_after=self.settings.confirmed_after,
                now=now,
                limit=self.settings.max_links_per_run,
            )
        for order_id in todo:
            try:
                outcome = self._serve_order(order_id)
            except (
                cko_errors.AuthenticationError,
                cko_errors.ActionNotAllowedError,
                cko_errors.UnsafeRedirectError,
                fp_errors.AuthenticationError,
                fp_errors.ForbiddenError,
            ):
                raise  # credentials or configuration: every order would fail the same way
            except fp_errors.DataError as exc:
                self.result.refused.append(f"order {order_id}: {_describe(exc)}")
                outcome = "order_unreadable"
            except (cko_errors.CheckoutError, fp_errors.FreshPortalError) as exc:
                self.result.deferred.append(f"order {order_id}: {_describe(exc)}")
                outcome = "error"
            self.result.counts[outcome] += 1
        with self.engine.connect() as conn:
            self.result.intents = store.summary(conn)
        log.info("payment links: %s; intents: %s", dict(self.result.counts), self.result.intents)
        return self.result

    def _serve_order(self, order_id: str) -> str:
        now = self.clock()
        s = self.settings
        with self.engine.connect() as conn:
            cur = store.current_intent(conn, order_id)
            staged = stg_order(conn, order_id)

        # Phase 1: what the warehouse alone can settle, without reading the order.
        expired = False
        if cur is not None and cur.state == store.CREATED:
            if cur.link_status == store.LINK_PAID:
                return "paid"
            if cur.expires_on is not None and cur.expires_on <= now:
                status = self._check_link(cur)
                if status == store.LINK_PAID:
                    return "paid"
                expired = status == store.LINK_EXPIRED
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
                return "in_doubt_waiting"
            if self._paid_while_in_doubt(cur):
                return "paid"
        elif cur is not None and cur.state == store.FAILED:
            changed = (
                staged is not None
                and staged["fp_version"] is not None
                and staged["fp_version"] > (cur.fp_version if cur.fp_version is not None else -1)
            )
            if not changed:
                return "failed_unchanged"

        # Phase 2: act on a fresh read of the order (current price, customer, status).
        try:
            order = self.fp.get_order(order_id)
        except fp_errors.NotFoundError:
            if cur is not None and cur.state in (store.PENDING, store.FAILED):
                with self.engine.begin() as conn:
                    store.supersede(conn, cur, by=None, reason="order_gone", now=now)
            return "order_gone"
        with self.engine.begin() as conn:
            land_orders(conn, [order], SOURCE_GET)
        why_not = self._eligible(order)
        same_price = cur is not None and (cur.currency, cur.amount_minor) == (
            order.currency,
            order.amount_minor,
        )

        if cur is None:
            return why_not or self._new_intent(order, None, reason=None)

        if cur.state == store.CREATED:
            if same_price and not expired:
                return "live"
            if not same_price:
                if not expired and self._check_link(cur) == store.LINK_PAID:
                    return "paid"
                return why_not or self._new_intent(order, cur, reason="price_changed")
            if why_not:
                return why_not
            if not s.renew_expired or cur.renewal_no >= s.max_renewals:
                if cur.writeback_status != self.expired_status_fp:
                    with self.engine.begin() as conn:
                        store.set_writeback_status(conn, cur.intent_id, self.expired_status_fp, now=now)
                return "expired_not_renewed"
            return self._new_intent(order, cur, reason="expired", renewal_no=cur.renewal_no + 1)

        if cur.state in (store.PENDING, store.FAILED):
            if why_not:
                with self.engine.begin() as conn:
                    store.supersede(conn, cur, by=None, reason=why_not, now=now)
                return why_not
            if not same_price:
                return self._new_intent(order, cur, reason="price_changed")
            if cur.state == store.FAILED:
                with self.engine.begin() as conn:
                    if not store.reopen(conn, cur, now=now):
                        return "raced"
                    cur = store.get_intent(conn, cur.intent_id)
                assert cur is not None
            return self._send(cur, order)

        # cur.state == CREATING: in doubt, and either policy "resend" or the wait is over.
        if s.in_doubt == "resend":
            if why_not or not same_price:
                with self.engine.begin() as conn:
                    store.supersede(conn, cur, by=None, reason=why_not or "price_changed", now=now)
                return why_not or self._new_intent(order, None, reason=None)
            log.warning("intent %s in doubt: resending with its idempotency key", cur.intent_id)
            return self._send(cur, order, resend=True)
        if why_not:
            with self.engine.begin() as conn:
                store.supersede(conn, cur, by=None, reason="in_doubt_expired", now=now)
            return why_not
        return self._new_intent(
            order, cur, reason="in_doubt_expired", renewal_no=cur.renewal_no + 1 if same_price else 0
        )

    def _new_intent(
        self, order: Order, old: store.Intent | None, *, reason: str | None, renewal_no: int = 0
    ) -> str:
        """Write the new intent (and retire ``old``) in one transaction, then send it."""
        now = self.clock()
        with self.engine.begin() as conn:
            store.lock_order(conn, order.order_id)
            latest = store.current_intent(conn, order.order_id)
            if (latest.intent_id if latest else None) != (old.intent_id if old else None):
                return "raced"
            if old is not None and renewal_no > 0:
                base = strip_renewal(old.order_version)
            else:
                base = base_version(
                    order.version,
                    order.currency,
                    order.amount_minor,
                    fallback=len(store.intents_of_order(conn, order.order_id)),
                )
            n = renewal_no
            while store.version_taken(conn, order.order_id, with_renewal(base, n)):
                n += 1
            key = IntentKey(order.order_id, with_renewal(base, n))
            if old is not None:
                assert reason is not None
                if not store.supersede(conn, old, by=key.intent_id, reason=reason, now=now):
                    return "raced"
            intent = store.insert_intent(
                conn,
                key,
                reference=order.order_number,
                currency=order.currency,
                amount_minor=order.amount_minor,
                renewal_no=n,
                expires_in=self.settings.expires_in_seconds,
                fp_version=order.version,
                now=now,
                run_id=self.run_id,
            )
            if intent is None or intent.state != store.PENDING:
                return "raced"  # another runner wrote (and maybe sent) this order's intent
        if old is not None:
            log.info(
                "order %s: intent %s supersedes %s (%s)",
                order.order_id,
                intent.intent_id,
                old.intent_id,
                reason,
            )
            self.result.counts[f"superseded_{reason}"] += 1
        self.checkpoint("intent_written", intent.intent_id)
        return self._send(intent, order)

    def _send(self, intent: store.Intent, order: Order, *, resend: bool = False) -> str:
        assert self.cko is not None
        key = IntentKey(intent.order_id, intent.order_version)
        now = self.clock()
        try:
            assert (intent.currency, intent.amount_minor) == (order.currency, order.amount_minor)
            body = link_body(order, key, self.settings)
        except LinkDataError as exc:
            with self.engine.begin() as conn:
                store.record_failed(conn, intent.intent_id, _describe(exc), now=now, fp_version=order.version)
            self.result.refused.append(f"order {order.order_id} ({intent.intent_id}): {exc.code}")
            return "refused"
        with self.engine.begin() as conn:
            if not store.claim_for_post(conn, intent, now=now, fp_version=order.version, run_id=self.run_id):
                return "raced"
        # From here until record_created commits, a crash leaves the intent in doubt.
        self.checkpoint("before_post", intent.intent_id)
        try:
            answer = post_payment_link(self.cko, body, key.idempotency_key)
        except cko_errors.CheckoutError as exc:
            return self._post_failed(intent, order, exc)
        self.checkpoint("after_post", intent.intent_id)
        link_id = answer.get("id")
        href = ((answer.get("_links") or {}).get("redirect") or {}).get("href")
        if not isinstance(link_id, str) or not link_id:
            with self.engine.begin() as conn:
                store.record_in_doubt(conn, intent.intent_id, "201 without a link id", now=self.clock())
            self.result.deferred.append(f"order {order.order_id} ({intent.intent_id}): 201 without a link id")
            return "in_doubt"
        expires_on = parse_ts(answer["expires_on"]) if answer.get("expires_on") else None
        with self.engine.begin() as conn:
            store.record_created(
                conn,
                intent.intent_id,
                link_id=link_id,
                link_url=href if isinstance(href, str) else None,
                expires_on=expires_on,
                writeback_status=self.link_status_fp,
                now=self.clock(),
            )
        self.checkpoint("after_record", intent.intent_id)
        log.info(
            "order %s: link %s created for intent %s%s",
            order.order_id,
            link_id,
            intent.intent_id,
            " (resent)" if resend else "",
        )
        return "created"

    def _post_failed(self, intent: store.Intent, order: Order, exc: cko_errors.CheckoutError) -> str:
        now = self.clock()
        what = _describe(exc)
        line = f"order {order.order_id} ({intent.intent_id}): {what}"
        refused = isinstance(exc, cko_errors.ValidationError) or (
            isinstance(exc, cko_errors.UnexpectedStatusError)
            and exc.status is not None
            and 400 <= exc.status < 500
        )
        not_sent = isinstance(exc, cko_errors.RateLimitedError) or (
            isinstance(exc, cko_errors.CheckoutTransportError) and not exc.request_sent
        )
        fatal = isinstance(
            exc,
            cko_errors.AuthenticationError | cko_errors.ActionNotAllowedError | cko_errors.NotFoundError,
        )
        with self.engine.begin() as conn:
            if refused:
                store.record_failed(conn, intent.intent_id, what, now=now, fp_version=order.version)
            elif not_sent or fatal:
                store.release(conn, intent.intent_id, what, now=now)
            else:  # 5xx, read timeout, 409, unexpected: the link may exist
                store.record_in_doubt(conn, intent.intent_id, "in_doubt: " + what, now=now)
        if fatal:
            raise exc
        if refused:
            self.result.refused.append(line)
            return "refused"
        self.result.deferred.append(line)
        if not_sent:
            return "deferred"
        log.warning("intent %s is in doubt after %s", intent.intent_id, what)
        return "in_doubt"

    # ------------------------------------------------------------------ write back
    def write_back(self) -> RunResult:
        with self.engine.connect() as conn:
            todo = store.writeback_candidates(conn, limit=self.settings.max_links_per_run)
        for intent in todo:
            try:
                outcome = self._write_back_one(intent)
            except (fp_errors.AuthenticationError, fp_errors.ForbiddenError):
                raise
            except fp_errors.DataError as exc:
                self.result.refused.append(f"order {intent.order_id}: {_describe(exc)}")
                outcome = "order_unreadable"
            except fp_errors.FreshPortalError as exc:
                with self.engine.begin() as conn:
                    store.count_writeback_attempt(conn, intent.intent_id, _describe(exc), now=self.clock())
                if isinstance(exc, fp_errors.ValidationError | fp_errors.NotFoundError):
                    self.result.refused.append(
                        f"order {intent.order_id} ({intent.intent_id}): {_describe(exc)}"
                    )
                else:
                    self.result.deferred.append(
                        f"order {intent.order_id} ({intent.intent_id}): {_describe(exc)}"
                    )
                outcome = "error"
            self.result.counts[outcome] += 1
        with self.engine.connect() as conn:
            self.result.intents = store.summary(conn)
        log.info("write-back: %s", dict(self.result.counts))
        return self.result

    def _write_back_one(self, intent: store.Intent) -> str:
        assert intent.writeback_status
        assert intent.link_id
        target = intent.writeback_status
        for _attempt in range(3):
            order = self.fp.get_order(intent.order_id)
            with self.engine.begin() as conn:
                land_orders(conn, [order], SOURCE_GET)
            pay = order.payment
            now = self.clock()
            if (
                pay is not None
                and pay.payment_link_id == intent.link_id
                and pay.payment_link_url == intent.link_url
                and pay.status == target
            ):
                with self.engine.begin() as conn:  # already there (e.g. a 500 sent after the commit)
                    store.record_written_back(conn, intent.intent_id, target, now=now)
                return "already_written"
            note = None
            if pay is not None and pay.status in self.settled_fp:
                note = f"writeback_skipped: order payment status is {pay.status}"
            elif not order.confirmed:
                note = f"writeback_skipped: order status is {order.status}"
            if note is not None:
                with self.engine.begin() as conn:
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
            self.checkpoint("before_writeback", intent.intent_id)
            try:
                self.fp.write_payment_status(intent.order_id, update)
            except fp_errors.ConflictError:
                continue
            with self.engine.begin() as conn:
                store.record_written_back(conn, intent.intent_id, target, now=self.clock())
            return "written_back"
        raise fp_errors.ConflictError(
            f"order {intent.order_id}: payment status kept changing (409 three times)"
        )


def create_payment_links(
    fp: FreshPortalPort,
    cko: CheckoutLinks,
    engine: Engine,
    settings: PaymentRequestSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    run_id: str | None = None,
    checkpoint: Checkpoint | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Step 2: create (or renew, or replace) links so each eligible order has one live link."""
    runner = _Runner(
        fp,
        cko,
        engine,
        settings or PaymentRequestSettings(),
        step="create_payment_links",
        clock=clock,
        run_id=run_id,
        checkpoint=checkpoint,
    )
    result = runner.create_links()
    if raise_on_failure:
        result.raise_for_failures()
    return result


def write_back_links(
    fp: FreshPortalPort,
    engine: Engine,
    settings: PaymentRequestSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    run_id: str | None = None,
    checkpoint: Checkpoint | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Step 3: put each created link's id and URL (and status) on its FreshPortal order."""
    runner = _Runner(
        fp,
        None,
        engine,
        settings or PaymentRequestSettings(),
        step="write_back_links",
        clock=clock,
        run_id=run_id,
        checkpoint=checkpoint,
    )
    result = runner.write_back()
    if raise_on_failure:
        result.raise_for_failures()
    return result


def run_all(
    fp: FreshPortalPort,
    cko: CheckoutLinks,
    engine: Engine,
    settings: PaymentRequestSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    run_id: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> dict[str, Any]:
    """The three steps in order, as the DAG runs them (demo, CLI and tests)."""
    settings = settings or PaymentRequestSettings()
    out: dict[str, Any] = {"sync_orders": sync_orders(fp, engine, settings, run_id=run_id)}
    out["create_payment_links"] = create_payment_links(
        fp, cko, engine, settings, clock=clock, run_id=run_id, checkpoint=checkpoint
    ).as_dict()
    out["write_back_links"] = write_back_links(
        fp, engine, settings, clock=clock, run_id=run_id, checkpoint=checkpoint
    ).as_dict()
    return out


# ============================================================================ operator actions


def adopt_link(
    cko: CheckoutLinks,
    engine: Engine,
    intent_id: str,
    link_id: str,
    *,
    mapping: FreshPortalMapping | None = None,
) -> store.Intent:
    """Resolve an in-doubt intent with the link an operator found (Checkout.com Dashboard, by reference).

    The link must carry this intent's ``metadata.intent_id`` and price, so a wrong id cannot be
    adopted. The intent becomes ``created`` and the next write-back step advertises the link.
    """
    with engine.connect() as conn:
        intent = store.get_intent(conn, intent_id)
    if intent is None or intent.state != store.CREATING:
        raise ValueError(
            f"intent {intent_id} is not in doubt (state {intent.state if intent else 'missing'})"
        )
    link = cko.get_payment_link(link_id)
    meta = link.get("metadata") or {}
    if meta.get("intent_id") != intent_id or (link.get("currency"), link.get("amount")) != (
        intent.currency,
        intent.amount_minor,
    ):
        raise ValueError(f"link {link_id} does not belong to intent {intent_id}")
    href = ((link.get("_links") or {}).get("redirect") or {}).get("href")
    mapping = mapping or load_mapping()
    now = utcnow()
    with engine.begin() as conn:
        existing = store.get_intent(conn, intent_id)
        assert existing is not None
        store.record_created(
            conn,
            intent_id,
            link_id=link_id,
            link_url=href,
            expires_on=parse_ts(link["expires_on"]) if link.get("expires_on") else None,
            writeback_status=existing.writeback_status or mapping.payment_status_for("Pending"),
            now=now,
        )
        store.record_link_status(
            conn, intent_id, status=str(link.get("status")), payment_id=link.get("payment_id"), now=now
        )
        adopted = store.get_intent(conn, intent_id)
    assert adopted is not None
    log.info("intent %s: adopted link %s", intent_id, link_id)
    return adopted


def release_in_doubt(engine: Engine, intent_id: str) -> store.Intent:
    """An operator confirmed that no link exists for an in-doubt intent: send it again next run."""
    with engine.begin() as conn:
        if not store.release(conn, intent_id, "released by operator: no link found", now=utcnow()):
            raise ValueError(f"intent {intent_id} is not in doubt")
        intent = store.get_intent(conn, intent_id)
    assert intent is not None
    log.info("intent %s released by operator", intent_id)
    return intent
