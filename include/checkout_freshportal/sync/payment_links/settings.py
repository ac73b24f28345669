"""Knobs of the payment-request sync (``freshportal_payment_requests``), with the reasons for their defaults.

Built from DAG params / JSON with :meth:`PaymentRequestSettings.from_mapping` (the shared parser
of :mod:`checkout_freshportal.settings_base`); a duration may be ``"48h"``, ``"P2D"`` or a number
under a key naming its unit (``expires_in_hours: 48``; ``_seconds``, ``_minutes``, ``_days`` too).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, field_validator
from pydantic_core import PydanticCustomError

from checkout_freshportal.checkout import statuses
from checkout_freshportal.settings_base import (
    AwareDatetime,
    Duration,
    Flag,
    NonNegativeInt,
    PositiveInt,
    TypedSettings,
    bounded_int,
)

#: What to do with an intent whose POST went out but whose answer was never recorded.
IN_DOUBT_POLICIES = ("wait", "resend")
InDoubtPolicy = Literal["wait", "resend"]

#: Checkout.com statuses whose FreshPortal mapping means "money has moved or is held": an order
#: in such a payment status gets no new link and its status is never overwritten by a link.
SETTLED_CHECKOUT_STATUSES: tuple[str, ...] = statuses.SETTLED_CHECKOUT_STATUSES

#: Checkout.com accepts link lifetimes of 1 s .. 60 days, in whole seconds.
MAX_EXPIRES_IN = timedelta(days=60)


class PaymentRequestSettings(TypedSettings):
    settings_group: ClassVar[str] = "payment-request"
    env_prefix: ClassVar[str] = "CFP_PAYMENT_REQUESTS_"

    # Link lifetime asked of Checkout.com (1 s .. 60 days; Checkout's own default is 24 h).
    # Long enough for a florist to pay a morning order the same day, short enough that a
    # superseded link (which cannot be cancelled) stops being payable soon.
    expires_in: Duration = timedelta(hours=24)
    # An expired, unpaid link is replaced by a new one (a new intent) at most this many times
    # per price; after that the order's payment status becomes "expired" and stays so.
    renew_expired: Flag = True
    max_renewals: NonNegativeInt = 3
    # A POST whose answer was lost (crash, 5xx, read timeout) leaves the intent "in doubt".
    # "wait": create nothing until any link that POST may have made has expired (attempted_at +
    # expires_in + in_doubt_margin), then renew -- never two payable links. "resend": send again
    # at once with the same Cko-Idempotency-Key -- exact if Checkout.com honours the key for
    # links (undocumented), otherwise a second, unreachable link may exist until it expires.
    in_doubt: InDoubtPolicy = "wait"
    in_doubt_margin: Duration = timedelta(minutes=10)
    # Work bounds per run (the schedule runs every few minutes; the rest waits for the next run).
    max_links_per_run: PositiveInt = 500
    orders_page_size: Annotated[int, BeforeValidator(bounded_int(1, 500))] = 100
    # Orders confirmed before this instant never get a link (set it when going live, so years
    # of invoiced history do not all get payment requests on the first run).
    confirmed_after: AwareDatetime | None = None
    # Link content.
    description: str = "FreshPortal order {order_number}"
    display_name: str | None = None
    return_url: str | None = None
    locale: str | None = None
    capture: Flag | None = None  # None: Checkout.com's default (capture on approval)
    max_products: PositiveInt = 100  # more lines than this are sent as one summary product
    # FreshPortal statuses written with a link; None = the mapping's status for Checkout.com's
    # "Pending" (awaiting payment) and "Expired".
    link_payment_status: str | None = None
    expired_payment_status: str | None = None

    @field_validator("expires_in")
    @classmethod
    def _checkout_accepts(cls, lifetime: timedelta) -> timedelta:
        seconds = lifetime.total_seconds()
        if not 1 <= seconds <= MAX_EXPIRES_IN.total_seconds() or seconds != int(seconds):
            raise PydanticCustomError("settings", "must be a whole number of seconds within 1 s .. 60 days")
        return lifetime

    @property
    def expires_in_seconds(self) -> int:
        return int(self.expires_in.total_seconds())
