"""What a FreshPortal tenant mapping must hold, and the check that a merged mapping does.

The mapping is validated as a whole once it is merged, so a typo in a tenant file fails at
start-up and not in the middle of a sync; each message names the file(s) and the offending key.
The status vocabularies here are what every table must cover: a Checkout.com status the mapping
cannot translate would otherwise surface only when the first such payment arrives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..checkout.statuses import DISPUTE_STATUSES, DisputeState, DisputeStatus, PaymentStatus
from ..errors import PermanentError

#: Every payment status the Checkout.com API reports (``GET /payments/{id}`` ``status``).
CHECKOUT_PAYMENT_STATUSES: tuple[str, ...] = (
    PaymentStatus.PENDING,
    PaymentStatus.RETRY_SCHEDULED,
    PaymentStatus.AUTHORIZED,
    PaymentStatus.CARD_VERIFIED,
    PaymentStatus.VOIDED,
    PaymentStatus.PARTIALLY_CAPTURED,
    PaymentStatus.CAPTURED,
    PaymentStatus.PAID,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.DECLINED,
    PaymentStatus.CANCELED,
    PaymentStatus.EXPIRED,
)
#: Dispute-derived states of a payment, as the status state machine names them.
CHECKOUT_DISPUTE_STATES: tuple[str, ...] = (
    DisputeState.DISPUTED,
    DisputeState.CHARGEBACK,
    DisputeState.DISPUTE_WON,
)
#: Checkout.com dispute ``status`` values.
#: (``arb_evidence_submitted`` is only ever staged from the API, never derived from an event.)
CHECKOUT_DISPUTE_STATUSES: tuple[str, ...] = tuple(
    s for s in DISPUTE_STATUSES if s != DisputeStatus.ARB_EVIDENCE_SUBMITTED
)
#: Our refund-request states (what ``refund_request_statuses`` maps FreshPortal codes onto).
REFUND_REQUEST_STATES: frozenset[str] = frozenset(
    {"requested", "processing", "succeeded", "failed", "rejected", "cancelled"}
)
#: Outcomes we write back (keys of ``refund_outcome_statuses``).
REFUND_OUTCOMES: frozenset[str] = frozenset({"processing", "succeeded", "failed"})
AMOUNT_FORMATS: frozenset[str] = frozenset({"major_decimal", "minor_int"})

#: Our field names per entity; every one must be mapped (models.py reads exactly these).
ENTITY_FIELDS: dict[str, frozenset[str]] = {
    "order": frozenset(
        {
            "order_id",
            "order_number",
            "status",
            "order_date",
            "delivery_date",
            "confirmed_at",
            "created_at",
            "updated_at",
            "version",
            "currency",
            "amount",
            "customer",
            "billing_address",
            "lines",
            "invoices",
            "payment",
        }
    ),
    "customer": frozenset({"customer_id", "name", "email", "country"}),
    "address": frozenset({"line1", "line2", "postal_code", "city", "country"}),
    "order_line": frozenset(
        {"line_id", "product_code", "description", "quantity", "unit", "unit_price", "line_total"}
    ),
    "invoice": frozenset({"invoice_id", "invoice_number", "invoice_date", "due_date", "amount"}),
    "payment": frozenset(
        {
            "status",
            "currency",
            "amount_paid",
            "amount_refunded",
            "refund_state",
            "payment_link_id",
            "payment_link_url",
            "payment_id",
            "payout_reference",
            "status_changed_at",
            "sequence",
            "chargeback",
            "updated_at",
        }
    ),
    "chargeback": frozenset(
        {
            "dispute_id",
            "category",
            "reason_code",
            "amount",
            "currency",
            "status",
            "evidence_required_by",
            "updated_at",
        }
    ),
    "fulfilment_release": frozenset(
        {
            "release_id",
            "order_id",
            "order_number",
            "currency",
            "amount",
            "complete",
            "released_at",
            "updated_at",
            "version",
        }
    ),
    "refund_request": frozenset(
        {
            "refund_request_id",
            "order_id",
            "order_number",
            "amount",
            "currency",
            "reason",
            "status",
            "requested_at",
            "updated_at",
            "version",
            "outcome",
        }
    ),
    "refund_outcome": frozenset(
        {"status", "refunded_amount", "currency", "payment_id", "refund_id", "processed_at", "failure_reason"}
    ),
    "note": frozenset({"note_id", "order_id", "text", "category", "external_ref", "created_at"}),
}

_TOP_LEVEL_KEYS = frozenset(
    {
        "version",
        "amount_format",
        "local_timezone",
        "fields",
        "order_statuses",
        "confirmed_order_statuses",
        "unknown_order_status",
        "freshportal_payment_statuses",
        "payment_status_map",
        "dispute_status_map",
        "refund_states",
        "refund_request_statuses",
        "refund_outcome_statuses",
        "note_categories",
        "default_note_category",
    }
)


class MappingError(PermanentError, ValueError):
    """The mapping configuration is invalid (names the file(s) and the offending key); permanent."""


class UnknownStatusError(MappingError):
    """A status that the mapping does not cover: add it to the tenant mapping file."""


def normalize_status(value: str) -> str:
    """``"Partially Captured"``, ``"partially_captured"`` and ``"PARTIALLY-CAPTURED"`` compare equal."""
    return re.sub(r"[\s_\-]+", " ", str(value).strip()).casefold()


def validate_mapping(d: Mapping[str, Any], where: str) -> None:
    """Raise :class:`MappingError` (naming ``where``) at the first key the mapping gets wrong."""
    _check_top_level(d, where)
    _check_fields(d["fields"], where)
    _check_lists(d, where)
    _check_status_maps(d, where)
    _check_refund_tables(d, where)


def _fail(msg: str, where: str) -> MappingError:
    return MappingError(f"{msg} ({where})")


def _check_top_level(d: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(d) - _TOP_LEVEL_KEYS)
    if unknown:
        raise _fail(f"unknown top-level key(s) {unknown}; known: {sorted(_TOP_LEVEL_KEYS)}", where)
    missing = sorted(_TOP_LEVEL_KEYS - set(d))
    if missing:
        raise _fail(f"missing key(s) {missing}", where)
    if d["amount_format"] not in AMOUNT_FORMATS:
        raise _fail(
            f"amount_format must be one of {sorted(AMOUNT_FORMATS)}, got {d['amount_format']!r}", where
        )
    try:
        ZoneInfo(str(d["local_timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(f"local_timezone {d['local_timezone']!r} is not an IANA time zone", where) from None
    if d["unknown_order_status"] not in ("error", "not_confirmed"):
        raise _fail("unknown_order_status must be 'error' or 'not_confirmed'", where)


def _check_fields(fields: Any, where: str) -> None:
    """Every field of ours is mapped, to a usable dotted path, and nothing unknown is."""
    if not isinstance(fields, Mapping):
        raise _fail("fields must be an object", where)
    for entity, names in ENTITY_FIELDS.items():
        section = fields.get(entity)
        if not isinstance(section, Mapping):
            raise _fail(f"fields.{entity} is missing", where)
        extra = sorted(set(section) - names)
        if extra:
            raise _fail(f"fields.{entity}: unknown field(s) {extra}; ours are {sorted(names)}", where)
        for name in sorted(names):
            value = section.get(name)
            if not isinstance(value, str) or not value.strip() or any(not p for p in value.split(".")):
                raise _fail(f"fields.{entity}.{name} must be a FreshPortal field name (dotted path)", where)
    extra_entities = sorted(set(fields) - set(ENTITY_FIELDS))
    if extra_entities:
        raise _fail(f"fields: unknown entit(y/ies) {extra_entities}", where)


def _check_lists(d: Mapping[str, Any], where: str) -> None:
    for key in (
        "order_statuses",
        "confirmed_order_statuses",
        "freshportal_payment_statuses",
        "refund_states",
        "note_categories",
    ):
        value = d[key]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise _fail(f"{key} must be a non-empty list of strings", where)
    not_known = sorted(set(d["confirmed_order_statuses"]) - set(d["order_statuses"]))
    if not_known:
        raise _fail(f"confirmed_order_statuses {not_known} are not in order_statuses", where)
    if d["default_note_category"] not in d["note_categories"]:
        raise _fail("default_note_category is not in note_categories", where)


def _check_status_maps(d: Mapping[str, Any], where: str) -> None:
    """Both status tables land on declared FreshPortal statuses and cover every Checkout.com one."""
    fp_statuses = set(d["freshportal_payment_statuses"])
    for key, required in (
        ("payment_status_map", CHECKOUT_PAYMENT_STATUSES + CHECKOUT_DISPUTE_STATES),
        ("dispute_status_map", CHECKOUT_DISPUTE_STATUSES),
    ):
        table = d[key]
        if not isinstance(table, Mapping):
            raise _fail(f"{key} must be an object", where)
        bad = sorted(f"{k} -> {v}" for k, v in table.items() if v not in fp_statuses)
        if bad:
            raise _fail(f"{key}: target(s) not in freshportal_payment_statuses: {bad}", where)
        covered = {normalize_status(k) for k in table}
        uncovered = [s for s in required if normalize_status(s) not in covered]
        if uncovered:
            raise _fail(f"{key} does not cover {uncovered}", where)


def _check_refund_tables(d: Mapping[str, Any], where: str) -> None:
    rr = d["refund_request_statuses"]
    if not isinstance(rr, Mapping) or not rr:
        raise _fail("refund_request_statuses must be a non-empty object", where)
    bad = sorted(f"{k} -> {v}" for k, v in rr.items() if v not in REFUND_REQUEST_STATES)
    if bad:
        raise _fail(
            f"refund_request_statuses: targets must be in {sorted(REFUND_REQUEST_STATES)}: {bad}", where
        )
    ro = d["refund_outcome_statuses"]
    if not isinstance(ro, Mapping) or set(ro) != REFUND_OUTCOMES:
        raise _fail(f"refund_outcome_statuses must map exactly {sorted(REFUND_OUTCOMES)}", where)
    if not all(isinstance(v, str) and v for v in ro.values()):
        raise _fail("refund_outcome_statuses values must be FreshPortal status strings", where)
