"""Pure functions: a Checkout.com API object (dict as returned) -> a staged row (dict).

Tolerant where the API is loose (docs/checkout-com.md#payments, #payment-search, #disputes):
optional fields may be absent (``GET /payments/{id}`` without ``balances``, ``amount_requested``
or ``processed_on``; dispute list items without entity or reason code), unknown fields are
ignored here (they stay in ``raw_api_objects``), ``response_code`` may come as a number, and
statuses, payment and card types come in any case and are staged in one spelling
(``checkout/statuses.py``). A balance the object does not state is staged NULL -- unknown, never
0. Strict where a wrong value would corrupt money or time: amounts must be integers (minor
units; a float or a numeric string is refused), currencies must be ISO 4217, timestamps must
parse exactly (0-7 fractional digits; no offset means UTC, as every API time is). Errors name
the object and the field.

Privacy: no card number, name, full email or address reaches staging. A customer is kept as its
``cus_`` id and ``sha256(lower(email))``, a card as scheme, type, BIN and last four (what PCI DSS
allows to display).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from checkout_freshportal import money
from checkout_freshportal.checkout import statuses
from checkout_freshportal.checkout.models import BalancesError, balance_fields
from checkout_freshportal.logsafe import safe
from checkout_freshportal.timeutil import TimestampError, parse_api_ts
from checkout_freshportal.warehouse.schema import PAYMENT_BALANCES

DEFAULT_SOURCE = "checkout.api"

log = logging.getLogger(__name__)

PAYMENT_STATUSES = statuses.PAYMENT_STATUSES
_PAYMENT_STATUS_BY_KEY = {s.lower(): s for s in PAYMENT_STATUSES} | {"cancelled": "Canceled"}

DISPUTE_STATUSES = statuses.DISPUTE_STATUSES
_DISPUTE_STATUS_BY_KEY = {s: s for s in DISPUTE_STATUSES} | {"cancelled": "canceled"}


class MappingError(ValueError):
    """An API object that cannot be staged as it is; names the object and the field."""

    def __init__(self, kind: str, object_id: Any, field: str, problem: str) -> None:
        self.kind, self.object_id, self.field, self.problem = kind, object_id, field, problem
        super().__init__(f"{kind} {object_id or '<no id>'}: field {field!r}: {problem}")


class _Ctx:
    """Field readers bound to one object, so every error names it."""

    def __init__(self, kind: str, obj: Mapping[str, Any], object_id: Any) -> None:
        if not isinstance(obj, Mapping):
            raise MappingError(kind, None, "<object>", f"expected a JSON object, got {type(obj).__name__}")
        self.kind, self.obj, self.object_id = kind, obj, object_id

    def fail(self, field: str, problem: str) -> MappingError:
        return MappingError(self.kind, self.object_id, field, problem)

    def get(self, field: str, src: Mapping[str, Any] | None = None) -> Any:
        value = (self.obj if src is None else src).get(field)
        return None if value == "" else value

    def required(self, field: str, src: Mapping[str, Any] | None = None) -> Any:
        value = self.get(field, src)
        if value is None:
            raise self.fail(field, "missing")
        return value

    def text(self, field: str, src: Mapping[str, Any] | None = None, *, required: bool = False) -> str | None:
        value = self.required(field, src) if required else self.get(field, src)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(field, f"expected text, got {type(value).__name__}")
        return str(value)

    def minor(
        self, field: str, src: Mapping[str, Any] | None = None, *, required: bool = False
    ) -> int | None:
        """An amount in minor units: a JSON integer, nothing else (no float, no string)."""
        value = self.required(field, src) if required else self.get(field, src)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(
                field, f"amount must be an integer in minor units, got {type(value).__name__} {value!r}"
            )
        return value

    def ts(
        self, field: str, src: Mapping[str, Any] | None = None, *, required: bool = False
    ) -> datetime | None:
        value = self.required(field, src) if required else self.get(field, src)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(field, f"timestamp must be ISO 8601 text, got {type(value).__name__}")
        try:
            return parse_api_ts(value)
        except TimestampError as exc:
            raise self.fail(field, str(exc)) from None

    def currency(
        self, field: str, src: Mapping[str, Any] | None = None, *, required: bool = False
    ) -> str | None:
        value = self.required(field, src) if required else self.get(field, src)
        if value is None:
            return None
        if not isinstance(value, str) or not money.is_currency(value):
            raise self.fail(field, f"not an ISO 4217 currency with a minor unit: {value!r}")
        return value.strip().upper()

    def boolean(self, field: str, src: Mapping[str, Any] | None = None) -> bool | None:
        value = self.get(field, src)
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(field, f"expected true/false, got {value!r}")

    def obj_at(self, field: str, src: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
        value = (self.obj if src is None else src).get(field)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(field, f"expected an object, got {type(value).__name__}")
        return value


#: What a payment status the project does not know yet must look like to be staged: words.
_STATUS_WORDS = re.compile(r"[A-Za-z][A-Za-z _-]{0,49}")


def normalize_payment_status(value: Any, *, object_id: Any = None) -> str:
    """``"captured"``, ``"PARTIALLY_CAPTURED"`` -> the Title Case enum value.

    A status word the project does not know yet is staged in the same spelling, with a warning,
    not refused: Checkout.com adds statuses (``Retry Scheduled``, ``Returned``; the .NET SDK
    knows a ``Chargeback``), the money comes from the balances and actions, and refusing one
    quarantined every payment in it and failed ingestion until a release knew the word. What is
    not a word at all (a number, empty, control characters, over 50 characters) is refused."""
    key = " ".join(str(value).replace("_", " ").split()).lower() if isinstance(value, str) else None
    status = _PAYMENT_STATUS_BY_KEY.get(key or "")
    if status is not None:
        return status
    if isinstance(value, str) and _STATUS_WORDS.fullmatch(value.strip()):
        spelled = statuses.canonical_status(value)
        assert spelled is not None  # a word, so not blank
        _warn_new_status(spelled)
        return spelled
    raise MappingError("payment", object_id, "status", f"unknown payment status {value!r}")


@lru_cache(maxsize=64)
def _warn_new_status(status: str) -> None:
    """Once per word and process: every payment in it would repeat the line."""
    log.warning(
        "payment status %s is not in the project's vocabulary: staged as given; add it to "
        "checkout/statuses.py (and the tenant mapping) if it should count",
        safe(status),
    )


def normalize_dispute_status(value: Any, *, object_id: Any = None) -> str:
    key = "_".join(str(value).replace("-", " ").split()).lower() if isinstance(value, str) else None
    status = _DISPUTE_STATUS_BY_KEY.get(key or "")
    if status is None:
        raise MappingError("dispute", object_id, "status", f"unknown dispute status {value!r}")
    return status


def email_hash(email: Any) -> str | None:
    """sha256 of the trimmed, lower-cased address: joinable, not readable."""
    if not isinstance(email, str) or not email.strip():
        return None
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def _metadata(ctx: _Ctx, field: str = "metadata", src: Mapping[str, Any] | None = None) -> dict | None:
    value = (ctx.obj if src is None else src).get(field)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ctx.fail(field, f"expected an object, got {type(value).__name__}")
    return dict(value)


def payment_row(obj: Mapping[str, Any], *, source: str = DEFAULT_SOURCE) -> dict[str, Any]:
    """A payment-details object (GET /payments/{id}, search item) -> ``stg_payments`` row."""
    ctx = _Ctx("payment", obj, obj.get("id") if isinstance(obj, Mapping) else None)
    payment_id = ctx.text("id", required=True)
    src = ctx.obj_at("source")
    customer = ctx.obj_at("customer")
    is_card = src.get("type") in {"card", "network_token", "token"} or "last4" in src or "last_4" in src
    last4 = ctx.text("last4", src) or ctx.text("last_4", src)
    row: dict[str, Any] = {
        "payment_id": payment_id,
        "status": normalize_payment_status(ctx.required("status"), object_id=payment_id),
        "requested_on": ctx.ts("requested_on", required=True),
        "processed_on": ctx.ts("processed_on"),
        "expires_on": ctx.ts("expires_on"),
        "currency": ctx.currency("currency", required=True),
        "amount_minor": ctx.minor("amount", required=True),
        "amount_requested_minor": ctx.minor("amount_requested"),
        "approved": ctx.boolean("approved"),
        "reference": ctx.text("reference"),
        "payment_type": statuses.canonical_payment_type(ctx.text("payment_type")),
        "response_code": ctx.text("response_code"),
        "response_summary": ctx.text("response_summary"),
        "processing_channel_id": ctx.text("processing_channel_id"),
        "source_type": ctx.text("type", src),
        "card_scheme": ctx.text("scheme", src) if is_card else None,
        "card_type": statuses.canonical_card_type(ctx.text("card_type", src)) if is_card else None,
        "card_bin": (ctx.text("bin", src) or None) if is_card else None,
        "card_last4": last4 if is_card else None,
        "customer_id": ctx.text("id", customer),
        # a raw copy's address is masked; its hash was kept beside it (warehouse/raw.py)
        "customer_email_hash": customer.get("email_sha256") or email_hash(customer.get("email")),
        "metadata": _metadata(ctx),
        "source": source,
    }
    try:
        known = balance_fields(obj.get("balances"), owner=payment_id)
    except BalancesError as exc:
        raise ctx.fail(f"balances.{exc.field}" if exc.field else "balances", str(exc)) from None
    for name in PAYMENT_BALANCES:
        row[f"{name}_minor"] = known[name]
    if row["card_bin"] is not None and len(row["card_bin"]) > 8:
        raise ctx.fail("source.bin", "longer than 8 digits (refusing to store more of a card number)")
    if row["card_last4"] is not None and len(row["card_last4"]) != 4:
        raise ctx.fail("source.last4", "not 4 characters")
    return row


def action_rows(
    payment_id: str,
    actions: Sequence[Mapping[str, Any]],
    *,
    currency: str | None = None,
    source: str = DEFAULT_SOURCE,
) -> list[dict[str, Any]]:
    """``GET /payments/{id}/actions`` items (or embedded ``actions[]``) -> ``stg_payment_actions``.

    Actions carry no currency: pass the payment's, or the column stays NULL. Summary actions
    (id/type/response only) map with NULL amount and date; upsert keeps a stored non-NULL value
    for those columns (``schema.PRESERVE_NON_NULL``) so a summary never erases a full action.
    """
    if not payment_id:
        raise MappingError("action", None, "payment_id", "missing")
    cur = None
    if currency is not None:
        if not money.is_currency(currency):
            raise MappingError("action", None, "currency", f"not an ISO 4217 currency: {currency!r}")
        cur = currency.strip().upper()
    out = []
    for act in actions:
        ctx = _Ctx("action", act, act.get("id") if isinstance(act, Mapping) else None)
        processing = ctx.obj_at("processing")
        amount = ctx.minor("amount")
        status = statuses.canonical_action_status(ctx.text("status"))
        out.append(
            {
                "action_id": ctx.text("id", required=True),
                "payment_id": payment_id,
                "action_type": ctx.text("type", required=True),
                "processed_on": ctx.ts("processed_on"),
                "currency": cur if amount is not None else None,
                "amount_minor": amount,
                # search actions say ``status`` instead of ``approved``
                "approved": statuses.action_approved(ctx.boolean("approved"), status),
                "status": status,
                "response_code": ctx.text("response_code"),
                "response_summary": ctx.text("response_summary"),
                "reference": ctx.text("reference"),
                "authorization_type": ctx.text("authorization_type"),
                "acquirer_reference_number": ctx.text("acquirer_reference_number", processing),
                "acquirer_transaction_id": ctx.text("acquirer_transaction_id", processing),
                "metadata": _metadata(ctx),
                "source": source,
            }
        )
    return out


def dispute_row(obj: Mapping[str, Any], *, source: str = DEFAULT_SOURCE) -> dict[str, Any]:
    """A dispute from ``GET /disputes`` (flat ``payment_*`` fields) or ``GET /disputes/{id}``
    (nested ``payment{}``) -> ``stg_disputes`` row."""
    ctx = _Ctx("dispute", obj, obj.get("id") if isinstance(obj, Mapping) else None)
    dispute_id = ctx.text("id", required=True)
    pay = ctx.obj_at("payment")

    def either(flat: str, nested: str) -> str | None:
        return ctx.text(flat) if ctx.get(flat) is not None else ctx.text(nested, pay)

    return {
        "dispute_id": dispute_id,
        "payment_id": either("payment_id", "id"),
        "payment_action_id": either("payment_action_id", "action_id"),
        "payment_reference": either("payment_reference", "reference"),
        "payment_method": either("payment_method", "method"),
        "payment_arn": either("payment_arn", "arn"),
        "category": ctx.text("category"),
        "status": normalize_dispute_status(ctx.required("status"), object_id=dispute_id),
        "resolved_reason": ctx.text("resolved_reason"),
        "reason_code": ctx.text("reason_code"),
        "currency": ctx.currency("currency", required=True),
        "amount_minor": ctx.minor("amount", required=True),
        "received_on": ctx.ts("received_on"),
        "last_update": ctx.ts("last_update", required=True),
        "evidence_required_by": ctx.ts("evidence_required_by"),
        "entity_id": ctx.text("entity_id"),
        "sub_entity_id": ctx.text("sub_entity_id"),
        "processing_channel_id": ctx.text("processing_channel") or ctx.text("processing_channel_id", pay),
        "is_ce_candidate": ctx.boolean("is_ce_candidate"),
        "source": source,
    }
