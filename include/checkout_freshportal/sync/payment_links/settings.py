"""Knobs of the payment-request sync (``freshportal_payment_requests``), with the reasons for their defaults.

Built from DAG params / JSON with :meth:`PaymentRequestSettings.from_mapping`; durations may be
given in seconds, minutes, hours or days by suffix (``expires_in_hours: 48``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from checkout_freshportal.checkout import statuses
from checkout_freshportal.timeutil import parse_ts

#: What to do with an intent whose POST went out but whose answer was never recorded.
IN_DOUBT_POLICIES = ("wait", "resend")

#: Checkout.com statuses whose FreshPortal mapping means "money has moved or is held": an order
#: in such a payment status gets no new link and its status is never overwritten by a link.
SETTLED_CHECKOUT_STATUSES: tuple[str, ...] = statuses.SETTLED_CHECKOUT_STATUSES

_DURATION_SUFFIXES = {
    "_seconds": 1,
    "_minutes": 60,
    "_hours": 3600,
    "_days": 86400,
}


@dataclass(frozen=True)
class PaymentRequestSettings:
    # Link lifetime asked of Checkout.com (1 s .. 60 days; Checkout's own default is 24 h).
    # Long enough for a florist to pay a morning order the same day, short enough that a
    # superseded link (which cannot be cancelled) stops being payable soon.
    expires_in: timedelta = timedelta(hours=24)
    # An expired, unpaid link is replaced by a new one (a new intent) at most this many times
    # per price; after that the order's payment status becomes "expired" and stays so.
    renew_expired: bool = True
    max_renewals: int = 3
    # A POST whose answer was lost (crash, 5xx, read timeout) leaves the intent "in doubt".
    # "wait": create nothing until any link that POST may have made has expired (attempted_at +
    # expires_in + in_doubt_margin), then renew -- never two payable links. "resend": send again
    # at once with the same Cko-Idempotency-Key -- exact if Checkout.com honours the key for
    # links (undocumented), otherwise a second, unreachable link may exist until it expires.
    in_doubt: str = "wait"
    in_doubt_margin: timedelta = timedelta(minutes=10)
    # Work bounds per run (the schedule runs every few minutes; the rest waits for the next run).
    max_links_per_run: int = 500
    orders_page_size: int = 100
    # Orders confirmed before this instant never get a link (set it when going live, so years
    # of invoiced history do not all get payment requests on the first run).
    confirmed_after: datetime | None = None
    # Link content.
    description: str = "FreshPortal order {order_number}"
    display_name: str | None = None
    return_url: str | None = None
    locale: str | None = None
    capture: bool | None = None  # None: Checkout.com's default (capture on approval)
    max_products: int = 100  # more lines than this are sent as one summary product
    # FreshPortal statuses written with a link; None = the mapping's status for Checkout.com's
    # "Pending" (awaiting payment) and "Expired".
    link_payment_status: str | None = None
    expired_payment_status: str | None = None

    def __post_init__(self) -> None:
        seconds = self.expires_in.total_seconds()
        if not 1 <= seconds <= 5_184_000 or seconds != int(seconds):
            raise ValueError("expires_in must be a whole number of seconds within 1 s .. 60 days")
        if self.in_doubt not in IN_DOUBT_POLICIES:
            raise ValueError(f"in_doubt must be one of {IN_DOUBT_POLICIES}, got {self.in_doubt!r}")
        if self.max_renewals < 0 or self.max_links_per_run < 1 or self.max_products < 1:
            raise ValueError("max_renewals must be >= 0, max_links_per_run and max_products >= 1")
        if not 1 <= self.orders_page_size <= 500:
            raise ValueError("orders_page_size must be within 1..500")
        if self.confirmed_after is not None and self.confirmed_after.tzinfo is None:
            raise ValueError("confirmed_after must be timezone-aware")

    @property
    def expires_in_seconds(self) -> int:
        return int(self.expires_in.total_seconds())

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None) -> PaymentRequestSettings:
        """Build from DAG params / Airflow Variable JSON (unknown keys are refused)."""
        if not values:
            return cls()
        names = {f.name: f for f in fields(cls)}
        durations = {n for n in names if isinstance(getattr(cls(), n), timedelta)}
        out: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue
            base, factor = key, None
            for suffix, seconds in _DURATION_SUFFIXES.items():
                if key.endswith(suffix) and key[: -len(suffix)] in durations:
                    base, factor = key[: -len(suffix)], seconds
            if base not in names:
                raise ValueError(f"unknown payment-request setting: {key}")
            if base in durations:
                out[base] = timedelta(seconds=float(value) * (factor or 1))
            elif base == "confirmed_after":
                out[base] = parse_ts(value, assume_utc=True) if isinstance(value, str) else value
            elif base in {"renew_expired", "capture"}:
                out[base] = _bool(key, value)
            elif base in {"max_renewals", "max_links_per_run", "orders_page_size", "max_products"}:
                out[base] = int(value)
            else:
                out[base] = str(value)
        return replace(cls(), **out)


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"setting {key} must be a boolean, got {value!r}")
