"""The simulated tenant's state and every operation on it, behind one lock.

The HTTP layer (``app.py``) only parses requests and renders answers; everything that reads or
changes data happens here under ``self._lock``, so uvicorn's worker threads, the tests' direct
calls and the admin endpoints see one consistent tenant.

Change feeds: every change of an order, refund request or release takes the next value of one global
sequence; a cursor is an opaque encoding of ``(feed, last sequence seen)``. A record changed
while a client pages appears again later with a higher ``version`` -- as a real "changed
since" feed would do.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from .bodies import ApiError, BodyParsingMixin
from .bodies import invalid as _invalid
from .config import (
    NOTE_CATEGORIES,
    OUTCOME_STATUSES,
    FreshPortalSandboxConfig,
)
from .faults import FaultInjector
from .generate import (
    IdAllocator,
    generate_orders,
    generate_refund_requests,
    order_from_scenario,
    parse_now,
    refund_request_from_scenario,
)
from .records import (
    SbInvoice,
    SbLine,
    SbNote,
    SbOrder,
    SbRefundRequest,
    SbRelease,
    check_order_status,
    check_refund_status,
    default_due_date,
    scenario_datetime,
    scenario_int,
)
from .releases import ReleasesMixin
from .render import Renderer

_MUTATION_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MAX_TEXT = 4000


class FreshPortalSandboxState(ReleasesMixin, BodyParsingMixin):
    """Orders, refund requests, releases, notes, tokens and exports of one simulated tenant."""

    def __init__(self, config: FreshPortalSandboxConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self.anchor = parse_now(config.now)
        self.render = Renderer(config.amount_format, config.local_timezone)
        self.faults = FaultInjector(config)
        self.ids = IdAllocator.for_seed(config.seed)
        self._seq = 0
        self._rng = random.Random(f"scenario-{config.seed}")
        self._secret = secrets.token_bytes(32)
        self.orders: dict[int, SbOrder] = {}
        self._by_number: dict[str, int] = {}
        self.refunds: dict[int, SbRefundRequest] = {}
        self.releases: dict[int, SbRelease] = {}
        self.notes: dict[int, SbNote] = {}
        self._tokens: dict[str, float] = {}
        self._exports: dict[str, tuple[bytes, int]] = {}
        self._skipped = 0.0  # seconds added by advance_lifetimes()
        self.counters: Counter[str] = Counter()
        self._load()

    # ================================================================== loading
    def _load(self) -> None:
        c = self.config
        if c.orders is not None:
            orders = [order_from_scenario(d, self.ids, self._rng, self.anchor) for d in c.orders]
        else:
            orders = generate_orders(c, self.ids, self.anchor)
        for order in orders:
            self._add_order(order)
        if c.refund_requests is not None:
            refunds = [
                refund_request_from_scenario(d, self._orders_by_ref(), self.ids, self.anchor)
                for d in c.refund_requests
            ]
        elif c.orders is None:
            refunds = generate_refund_requests(c, orders, self.ids, self.anchor)
        else:
            refunds = []
        for rr in refunds:
            self.refunds[rr.refund_request_id] = rr
        self._load_releases(c.fulfilment_releases or [], self.anchor)
        # Initial sequence follows the change time, as if the records had been changed in order.
        records: list[SbOrder | SbRefundRequest | SbRelease] = [
            *self.orders.values(),
            *self.refunds.values(),
            *self.releases.values(),
        ]
        for rec in sorted(records, key=lambda r: r.updated_at):
            rec.seq = self._next_seq()

    def _add_order(self, order: SbOrder) -> None:
        if order.order_id in self.orders:
            raise ValueError(f"duplicate order id {order.order_id}")
        if order.order_number in self._by_number:
            raise ValueError(f"duplicate order number {order.order_number}")
        self.orders[order.order_id] = order
        self._by_number[order.order_number] = order.order_id

    def _orders_by_ref(self) -> dict[str, SbOrder]:
        out = {o.order_number: o for o in self.orders.values()}
        out.update({str(o.order_id): o for o in self.orders.values()})
        return out

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def _touch(self, record: SbOrder | SbRefundRequest) -> None:
        record.version += 1
        record.seq = self._next_seq()
        record.updated_at = max(self.now(), record.updated_at)

    # ================================================================== lifetimes
    def advance_lifetimes(self, seconds: float) -> float:
        """Age every token and signed export URL by ``seconds``; returns the total skipped.

        Lifetimes are wall-clock (a client sees them expire in real time), so without this a test
        of expiry would have to sleep through one. Record timestamps are not moved: the change
        feeds and the export's day filter stay on the wall clock.
        """
        if not seconds > 0:
            raise ValueError("seconds must be positive")
        with self._lock:
            self._skipped += seconds
            return self._skipped

    def _monotonic(self) -> float:
        return time.monotonic() + self._skipped

    def _epoch(self) -> float:
        return time.time() + self._skipped

    # ================================================================== auth
    def issue_token(self, body: Any) -> str:
        if (
            not isinstance(body, dict)
            or body.get("type") != "api"
            or not isinstance(body.get("username"), str)
        ):
            raise ApiError(400, "invalid_request", 'expected {"username": <api key>, "type": "api"}')
        key = body["username"]
        if not any(hmac.compare_digest(key, k) for k in self.config.api_keys):
            with self._lock:
                self.counters["auth.refused"] += 1
            raise ApiError(401, "invalid_credentials", "API key refused")
        token = secrets.token_hex(24)
        with self._lock:
            self._tokens[token] = self._monotonic() + self.config.token_ttl_seconds
            self.counters["auth.tokens_issued"] += 1
        return token

    def check_token(self, authorization: str | None) -> None:
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(401, "unauthorized", "missing bearer token")
        token = authorization[len("Bearer ") :].strip()
        with self._lock:
            expires = self._tokens.get(token)
            if expires is None:
                raise ApiError(401, "unauthorized", "unknown token")
            if self._monotonic() >= expires:
                del self._tokens[token]
                self.counters["auth.expired_rejections"] += 1
                raise ApiError(401, "token_expired", "token expired")

    def expire_tokens(self) -> int:
        with self._lock:
            n = len(self._tokens)
            for token in self._tokens:
                self._tokens[token] = 0.0
            return n

    # ================================================================== change feeds
    @staticmethod
    def encode_cursor(feed: str, seq: int) -> str:
        return base64.urlsafe_b64encode(f"{feed}:{seq}".encode()).decode().rstrip("=")

    @staticmethod
    def decode_cursor(feed: str, cursor: str | None) -> int:
        if not cursor:
            return 0
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            name, _, seq = text.partition(":")
            if name != feed or not seq.isdigit():
                raise ValueError
            return int(seq)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_cursor", f"cursor is not a {feed} cursor") from None

    def _page(
        self,
        feed: str,
        records: list[Any],
        cursor: str | None,
        limit: int | None,
        render: Callable[[Any], dict[str, Any]],
    ) -> dict[str, Any]:
        size = self.config.default_page_size if limit is None else limit
        if not 1 <= size <= self.config.max_page_size:
            raise ApiError(400, "invalid_limit", f"limit must be within 1..{self.config.max_page_size}")
        after = self.decode_cursor(feed, cursor)
        changed = sorted((r for r in records if r.seq > after), key=lambda r: r.seq)
        page = changed[:size]
        last = page[-1].seq if page else after
        return {
            "data": [render(r) for r in page],
            "next_cursor": self.encode_cursor(feed, last),
            "has_more": len(changed) > size,
        }

    def list_orders(self, cursor: str | None, limit: int | None) -> dict[str, Any]:
        with self._lock:
            return self._page("orders", list(self.orders.values()), cursor, limit, self.render.order)

    def list_refund_requests(self, cursor: str | None, limit: int | None) -> dict[str, Any]:
        with self._lock:
            return self._page(
                "refund-requests", list(self.refunds.values()), cursor, limit, self.render.refund_request
            )

    # ================================================================== orders
    def _order(self, ref: str | int) -> SbOrder:
        text = str(ref)
        order_id = int(text) if text.isdigit() else self._by_number.get(text)
        order = self.orders.get(order_id) if order_id is not None else None
        if order is None:
            raise ApiError(404, "not_found", "order not found")
        return order

    def get_order(self, ref: str | int) -> dict[str, Any]:
        with self._lock:
            return self.render.order(self._order(ref))

    def put_payment(self, ref: str | int, body: Any) -> dict[str, Any]:
        with self._lock:
            order = self._order(ref)
            new = self._parse_payment(order, body)
            stored = order.payment
            order.payment_puts += 1
            self.counters["payment.puts"] += 1
            if stored is not None and {k: v for k, v in stored.items() if k != "updated_at"} == new:
                return self.render.payment(stored) or {}
            if (
                stored is not None
                and stored.get("sequence") is not None
                and new["sequence"] is not None
                and new["sequence"] < stored["sequence"]
            ):
                raise ApiError(409, "stale_sequence", "a newer payment status (higher sequence) is stored")
            new["updated_at"] = self.now()
            order.payment = new
            order.payment_history.append(copy.deepcopy(new))
            self._touch(order)
            answer = self.render.payment(new) or {}
            # A user then edits the status by hand, once: after the first write that names a
            # payment (the link write-back names none), as an operator would "fix" it.
            if order.manual_payment_status is not None and new.get("payment_id"):
                edited = {**new, "status": order.manual_payment_status}
                order.manual_payment_status = None
                order.payment = edited
                order.payment_history.append(copy.deepcopy(edited))
                self._touch(order)
            return answer

    # ================================================================== notes
    def list_notes(self, ref: str | int) -> dict[str, Any]:
        with self._lock:
            order = self._order(ref)
            notes = sorted(
                (n for n in self.notes.values() if n.order_id == order.order_id), key=lambda n: n.note_id
            )
            return {"data": [self.render.note(n) for n in notes]}

    def create_note(self, ref: str | int, body: Any) -> dict[str, Any]:
        """Always creates -- FreshPortal accepts duplicates; clients must check first."""
        with self._lock:
            order = self._order(ref)
            body = self._object(body, {"text", "category", "external_ref"})
            text = self._text(body, "text", limit=_MAX_TEXT)
            if not text:
                raise _invalid("text is required")
            category = body.get("category") or "payment_info"
            if category not in NOTE_CATEGORIES:
                raise _invalid(f"category must be one of {list(NOTE_CATEGORIES)}")
            note = SbNote(
                note_id=self.ids.next("note_id"),
                order_id=order.order_id,
                text=text,
                category=category,
                external_ref=self._text(body, "external_ref", limit=200),
                created_at=self.now(),
            )
            self.notes[note.note_id] = note
            self.counters["notes.created"] += 1
            return self.render.note(note)

    def type_note(self, ref: str | int, text: str, typed_by: str = "piet") -> dict[str, Any]:
        """A note a person typed in the portal: the other kind an order's listing holds."""
        with self._lock:
            order = self._order(ref)
            note = SbNote(
                note_id=self.ids.next("note_id"),
                order_id=order.order_id,
                text=text,
                category="payment_info",
                external_ref=None,
                created_at=self.now(),
                typed_by=typed_by,
            )
            self.notes[note.note_id] = note
            return self.render.note(note)

    # ================================================================== refund requests
    def _refund(self, ref: str | int) -> SbRefundRequest:
        text = str(ref)
        rr = self.refunds.get(int(text)) if text.isdigit() else None
        if rr is None:
            raise ApiError(404, "not_found", "refund request not found")
        return rr

    def get_refund_request(self, ref: str | int) -> dict[str, Any]:
        with self._lock:
            return self.render.refund_request(self._refund(ref))

    def put_outcome(self, ref: str | int, body: Any) -> dict[str, Any]:
        allowed = {
            "status",
            "refunded_amount",
            "currency_code",
            "psp_payment_id",
            "psp_refund_id",
            "processed_at",
            "failure_reason",
        }
        with self._lock:
            rr = self._refund(ref)
            body = self._object(body, allowed)
            status = body.get("status")
            if status not in OUTCOME_STATUSES:
                raise _invalid(f"status must be one of {list(OUTCOME_STATUSES)}")
            currency = body.get("currency_code")
            if currency is not None and currency != rr.currency:
                raise _invalid(f"currency_code must be {rr.currency}", "currency_mismatch")
            amount = self._amount(body.get("refunded_amount"), rr.currency, "refunded_amount")
            if amount is not None and currency is None:
                raise _invalid("currency_code is required with refunded_amount")
            if amount is not None and amount > rr.amount_minor:
                raise _invalid("refunded_amount exceeds the requested amount")
            new = {
                "status": status,
                "refunded_amount_minor": amount,
                "currency": currency,
                "payment_id": self._text(body, "psp_payment_id"),
                "refund_id": self._text(body, "psp_refund_id"),
                "processed_at": self._ts(body.get("processed_at"), "processed_at"),
                "failure_reason": self._text(body, "failure_reason"),
            }
            rr.outcome_puts += 1
            self.counters["refund_outcome.puts"] += 1
            if rr.outcome == new:
                return self.render.refund_request(rr)
            if rr.status in ("rejected", "cancelled"):
                raise ApiError(409, "refund_request_closed", f"the refund request is {rr.status}")
            rr.outcome = new
            rr.status = status
            self._touch(rr)
            return self.render.refund_request(rr)

    # ================================================================== export
    def create_export(self, mutation_datetime: str | None, base_url: str) -> dict[str, Any]:
        if not mutation_datetime or not _MUTATION_DATE.match(mutation_datetime):
            raise ApiError(400, "invalid_mutation_datetime", "mutation_datetime must be YYYY-MM-DD")
        try:
            since = date.fromisoformat(mutation_datetime)
        except ValueError:
            raise ApiError(400, "invalid_mutation_datetime", "mutation_datetime is not a date") from None
        tz = self.render.tz
        with self._lock:
            orders = [o for o in self.orders.values() if o.updated_at.astimezone(tz).date() >= since]
            refunds = [r for r in self.refunds.values() if r.updated_at.astimezone(tz).date() >= since]
            notes = [n for n in self.notes.values() if n.created_at.astimezone(tz).date() >= since]
            blob = self.render.export_zip(
                sorted(orders, key=lambda o: o.order_id),
                sorted(refunds, key=lambda r: r.refund_request_id),
                sorted(notes, key=lambda n: n.note_id),
            )
            export_id = secrets.token_hex(12)
            expires = int(self._epoch() + self.config.export_url_ttl_seconds)
            self._exports[export_id] = (blob, expires)
            self.counters["exports.created"] += 1
        sig = self._sign(export_id, expires)
        url = f"{base_url.rstrip('/')}/_storage/exports/{export_id}.zip?expires={expires}&signature={sig}"
        return {"export_url": url}

    def _sign(self, export_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{export_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def fetch_export(self, export_id: str, expires: str | None, signature: str | None) -> bytes:
        """The ZIP behind a signed URL; the caller has already refused an Authorization header."""
        if not expires or not expires.isdigit() or not signature:
            raise ApiError(403, "AccessDenied", "Query-string authentication requires expires and signature")
        if not hmac.compare_digest(self._sign(export_id, int(expires)), signature):
            raise ApiError(403, "SignatureDoesNotMatch", "The request signature does not match")
        if self._epoch() > int(expires):
            raise ApiError(403, "AccessDenied", "Request has expired")
        with self._lock:
            entry = self._exports.get(export_id)
            if entry is None:
                raise ApiError(404, "NoSuchKey", "The specified key does not exist")
            self.counters["exports.downloaded"] += 1
            return entry[0]

    # ================================================================== admin (/_sandbox)
    def snapshot(self) -> dict[str, Any]:
        """Everything, for tests and the demo: API views plus what the API does not show."""
        with self._lock:
            orders = []
            for o in sorted(self.orders.values(), key=lambda o: o.order_id):
                view = self.render.order(o)
                view["_sandbox"] = {
                    "amount_minor": o.amount_minor,
                    "seq": o.seq,
                    "payment_puts": o.payment_puts,
                    "payment_history": [self.render.payment(p) for p in o.payment_history],
                }
                orders.append(view)
            refunds = []
            for r in sorted(self.refunds.values(), key=lambda r: r.refund_request_id):
                view = self.render.refund_request(r)
                view["_sandbox"] = {
                    "amount_minor": r.amount_minor,
                    "seq": r.seq,
                    "outcome_puts": r.outcome_puts,
                }
                refunds.append(view)
            releases = []
            for rel in sorted(self.releases.values(), key=lambda r: r.release_id):
                view = self.render.release(rel)
                view["_sandbox"] = {"amount_minor": rel.amount_minor, "seq": rel.seq}
                releases.append(view)
            return {
                "tenant": self.config.tenant,
                "orders": orders,
                "refund_requests": refunds,
                "fulfilment_releases": releases,
                "notes": [self.render.note(n) for n in sorted(self.notes.values(), key=lambda n: n.note_id)],
                "counters": dict(self.counters),
                "faults": self.fault_settings(),
            }

    def fault_settings(self) -> dict[str, Any]:
        c = self.config
        return {
            "fault_429_share": c.fault_429_share,
            "fault_500_share": c.fault_500_share,
            "fault_slow_share": c.fault_slow_share,
            "fault_500_after_commit_share": c.fault_500_after_commit_share,
            "slow_seconds": c.slow_seconds,
            "token_ttl_seconds": c.token_ttl_seconds,
            "export_url_ttl_seconds": c.export_url_ttl_seconds,
            "queued": self.faults.pending(),
        }

    def admin_create_order(self, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            try:
                order = order_from_scenario(data, self.ids, self._rng, self.now())
                self._add_order(order)
            except ValueError as exc:
                raise _invalid(str(exc)) from None
            order.seq = self._next_seq()
            return self.render.order(order)

    def admin_update_order(self, ref: str, data: dict[str, Any]) -> dict[str, Any]:
        """Change an order as a FreshPortal user would: status, amount, customer, dates."""
        allowed = {"status", "amount_minor", "customer", "confirmed_at", "delivery_date", "lines"}
        with self._lock:
            order = self._order(ref)
            data = self._object(data, allowed)
            try:
                if "status" in data:
                    order.status = check_order_status(str(data["status"]))
                    if order.status == "confirmed" and order.confirmed_at is None:
                        order.confirmed_at = self.now()
                if "confirmed_at" in data:
                    order.confirmed_at = scenario_datetime(data["confirmed_at"], "confirmed_at")
                if "customer" in data:
                    order.customer = {**order.customer, **dict(data["customer"])}
                if "delivery_date" in data:
                    order.delivery_date = date.fromisoformat(str(data["delivery_date"]))
                if "amount_minor" in data:
                    target = scenario_int(data["amount_minor"], "amount_minor")
                    diff = target - order.amount_minor
                    if diff:
                        order.lines.append(
                            SbLine(self.ids.next("line_id"), "ADJ", "Price adjustment", 1, "lot", diff)
                        )
            except (ValueError, TypeError) as exc:
                raise _invalid(str(exc)) from None
            self._touch(order)
            return self.render.order(order)

    def admin_confirm(self, ref: str) -> dict[str, Any]:
        return self.admin_update_order(ref, {"status": "confirmed"})

    def admin_invoice(self, ref: str) -> dict[str, Any]:
        with self._lock:
            order = self._order(ref)
            today = self.now().astimezone(self.render.tz).date()
            order.invoices.append(
                SbInvoice(
                    invoice_id=self.ids.next("invoice_id"),
                    invoice_number=f"INV-{today.year}-{self.ids.next('invoice_number'):06d}",
                    invoice_date=today,
                    due_date=default_due_date(today),
                    amount_minor=order.amount_minor,
                )
            )
            order.status = "invoiced"
            order.confirmed_at = order.confirmed_at or self.now()
            self._touch(order)
            return self.render.order(order)

    def admin_create_refund_request(self, data: dict[str, Any]) -> dict[str, Any]:
        """As a FreshPortal user would; ``"duplicate": true`` stores the request twice.

        FreshPortal's creates are not idempotent: a double-click or a retried form post leaves
        two identical refund requests with two ids. The answer is the first; both are in the feed.
        """
        allowed = {"order_id", "order_number", "amount_minor", "reason", "status", "requested_at"}
        with self._lock:
            data = self._object(data, {*allowed, "duplicate"})
            duplicate = data.pop("duplicate", False)
            if not isinstance(duplicate, bool):
                raise _invalid("duplicate must be true or false")
            created = []
            try:
                for _ in range(2 if duplicate else 1):
                    created.append(
                        refund_request_from_scenario(data, self._orders_by_ref(), self.ids, self.now())
                    )
            except ValueError as exc:
                raise _invalid(str(exc)) from None
            for rr in created:
                rr.seq = self._next_seq()
                self.refunds[rr.refund_request_id] = rr
            if duplicate:
                self.counters["refund_requests.duplicated"] += 1
            view = self.render.refund_request(created[0])
            if duplicate:
                view["_sandbox"] = {"duplicate_ids": [rr.refund_request_id for rr in created]}
            return view

    def admin_update_refund_request(self, ref: str, data: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            rr = self._refund(ref)
            data = self._object(data, {"status", "amount_minor", "reason"})
            try:
                if "status" in data:
                    rr.status = check_refund_status(str(data["status"]))
                if "amount_minor" in data:
                    rr.amount_minor = scenario_int(data["amount_minor"], "amount_minor")
                if "reason" in data:
                    rr.reason = str(data["reason"])
            except ValueError as exc:
                raise _invalid(str(exc)) from None
            self._touch(rr)
            return self.render.refund_request(rr)

    def count(self, key: str) -> None:
        with self._lock:
            self.counters[key] += 1
