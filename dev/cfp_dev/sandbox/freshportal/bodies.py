"""Request bodies of the simulated API: strict parsing as FreshPortal's server is assumed to do.

Unknown fields are refused (422 ``unknown_field``), amounts must be exact in the currency
(never a float), timestamps ISO 8601 with an offset. Kept out of ``state.py`` so the state
holds the tenant's data and operations, and this module the wire rules they share.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from checkout_freshportal.money import MoneyError, exponent, to_minor_exact
from checkout_freshportal.timeutil import TimestampError, parse_ts

from .config import PAYMENT_STATUSES, REFUND_STATES, FreshPortalSandboxConfig
from .records import SbOrder

_MAX_REF = 500


class ApiError(Exception):
    """An error answer: HTTP status, machine code, human message (``{"error": {...}}``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(message: str, code: str = "invalid_request") -> ApiError:
    return ApiError(422, code, message)


class BodyParsingMixin:
    """Parsing helpers of :class:`~.state.FreshPortalSandboxState` (they need its amount format)."""

    config: FreshPortalSandboxConfig

    def _parse_payment(self, order: SbOrder, body: Any) -> dict[str, Any]:
        allowed = {
            "payment_status",
            "currency_code",
            "amount_paid",
            "amount_refunded",
            "refund_state",
            "payment_link_id",
            "payment_link_url",
            "psp_payment_id",
            "payout_reference",
            "status_changed_at",
            "sequence",
            "chargeback",
        }
        body = self._object(body, allowed)
        status = body.get("payment_status")
        if status not in PAYMENT_STATUSES:
            raise invalid(f"payment_status must be one of {list(PAYMENT_STATUSES)}", "invalid_payment_status")
        currency = body.get("currency_code")
        has_amounts = body.get("amount_paid") is not None or body.get("amount_refunded") is not None
        if currency is None and has_amounts:
            raise invalid("currency_code is required with amounts")
        if currency is not None and currency != order.currency:
            raise invalid(f"currency_code must be the order currency {order.currency}", "currency_mismatch")
        refund_state = body.get("refund_state")
        if refund_state is not None and refund_state not in REFUND_STATES:
            raise invalid(f"refund_state must be one of {list(REFUND_STATES)}")
        url = self._text(body, "payment_link_url")
        if url is not None and not url.startswith(("https://", "http://")):
            raise invalid("payment_link_url must be an http(s) URL")
        sequence = body.get("sequence")
        if sequence is not None and (
            isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0
        ):
            raise invalid("sequence must be a non-negative integer")
        return {
            "status": status,
            "currency": currency,
            "amount_paid_minor": self._amount(body.get("amount_paid"), order.currency, "amount_paid"),
            "amount_refunded_minor": self._amount(
                body.get("amount_refunded"), order.currency, "amount_refunded"
            ),
            "refund_state": refund_state,
            "payment_link_id": self._text(body, "payment_link_id"),
            "payment_link_url": url,
            "payment_id": self._text(body, "psp_payment_id"),
            "payout_reference": self._text(body, "payout_reference"),
            "status_changed_at": self._ts(body.get("status_changed_at"), "status_changed_at"),
            "sequence": sequence,
            "chargeback": self._parse_chargeback(order, body.get("chargeback")),
        }

    def _parse_chargeback(self, order: SbOrder, value: Any) -> dict[str, Any] | None:
        """The assumed ``chargeback`` object: a dispute's signal, in the order's currency."""
        if value is None:
            return None
        allowed = {
            "dispute_id",
            "category",
            "reason_code",
            "amount",
            "currency_code",
            "status",
            "evidence_required_by",
            "updated_at",
        }
        cb = self._object(value, allowed)
        dispute_id, status = self._text(cb, "dispute_id"), self._text(cb, "status")
        if not dispute_id or not status:
            raise invalid("chargeback.dispute_id and chargeback.status are required")
        currency = cb.get("currency_code")
        if currency != order.currency:
            raise invalid(
                f"chargeback.currency_code must be the order currency {order.currency}", "currency_mismatch"
            )
        amount = self._amount(cb.get("amount"), order.currency, "chargeback.amount")
        if amount is None:
            raise invalid("chargeback.amount is required")
        return {
            "dispute_id": dispute_id,
            "category": self._text(cb, "category"),
            "reason_code": self._text(cb, "reason_code"),
            "amount_minor": amount,
            "currency": currency,
            "status": status,
            "evidence_required_by": self._ts(
                cb.get("evidence_required_by"), "chargeback.evidence_required_by"
            ),
            "updated_at": self._ts(cb.get("updated_at"), "chargeback.updated_at"),
        }

    @staticmethod
    def _not_found(message: str) -> Exception:
        return ApiError(404, "not_found", message)

    @staticmethod
    def _unprocessable(message: str) -> Exception:
        return invalid(message)

    @staticmethod
    def _object(body: Any, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid("the request body must be a JSON object")
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise invalid(f"unknown field(s) {unknown}", "unknown_field")
        return body

    @staticmethod
    def _text(body: dict[str, Any], name: str, *, limit: int = _MAX_REF) -> str | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string")
        if len(value) > limit:
            raise invalid(f"{name} longer than {limit} characters")
        return value

    def _amount(self, value: Any, currency: str, name: str) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool | float):
            raise invalid(f"{name} must be a decimal string")
        try:
            if self.config.amount_format == "minor_int":
                if not isinstance(value, int):
                    raise invalid(f"{name} must be an integer of minor units")
                minor = value
            else:
                if not isinstance(value, str | Decimal | int):
                    raise invalid(f"{name} must be a decimal string")
                minor = to_minor_exact(value, currency)
        except (MoneyError, InvalidOperation):
            raise invalid(
                f"{name} must be an amount with at most {exponent(currency)} decimals for {currency}"
            ) from None
        if minor < 0:
            raise invalid(f"{name} must not be negative")
        return minor

    @staticmethod
    def _ts(value: Any, name: str) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise invalid(f"{name} must be an ISO 8601 string")
        try:
            return parse_ts(value)
        except TimestampError:
            raise invalid(f"{name} must be ISO 8601 with a UTC offset") from None
