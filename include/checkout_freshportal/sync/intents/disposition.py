"""What a failed Checkout.com write means for its intent: refused, never sent, fatal, or in doubt.

The whole exactly-once argument rests on this reading. Only an answer that proves nothing was
created (a 4xx refusal) or that the request never left (a 429, a connection that was never
made) may release an intent; every other failure -- a 5xx, a read timeout, a 409 for a key in
flight -- may hide an effect that happened, so the intent stays in doubt and is resolved by
looking (or by resending under the same idempotency key), never by a blind new request.
"""

from __future__ import annotations

from enum import StrEnum

from checkout_freshportal.checkout import errors as cko_errors


class Disposition(StrEnum):
    REFUSED = "refused"  # Checkout.com answered no: nothing exists; fix the data, not the call
    NOT_SENT = "not_sent"  # provably never processed: safe to send again with a fresh claim
    FATAL = "fatal"  # every item would hit it (credentials, scope): stop the run
    IN_DOUBT = "in_doubt"  # may have been processed: find out before anything else


#: Errors that refuse one item, not the whole run, for money movements: a 403 is "not allowed in
#: this payment's state" (refund before capture), a 404 an unknown payment, a 422 a business rule.
ITEM_REFUSALS: tuple[type[cko_errors.CheckoutError], ...] = (
    cko_errors.ValidationError,
    cko_errors.ActionNotAllowedError,
    cko_errors.NotFoundError,
)


def classify(
    exc: cko_errors.CheckoutError,
    *,
    item_refusals: tuple[type[cko_errors.CheckoutError], ...] = (cko_errors.ValidationError,),
) -> Disposition:
    """Read a failed write. ``item_refusals`` are the error classes that refuse only this item;
    other 4xx except 409/429 stop the run, since every item would hit them."""
    if isinstance(exc, item_refusals):
        return Disposition.REFUSED
    if isinstance(exc, cko_errors.RateLimitedError):
        return Disposition.NOT_SENT
    if isinstance(exc, cko_errors.CheckoutTransportError) and not exc.request_sent:
        return Disposition.NOT_SENT
    if isinstance(
        exc, cko_errors.AuthenticationError | cko_errors.ActionNotAllowedError | cko_errors.NotFoundError
    ):
        return Disposition.FATAL
    if (
        isinstance(exc, cko_errors.UnexpectedStatusError)
        and exc.status is not None
        and 400 <= exc.status < 500
        and exc.status not in (408, 409, 429)
    ):
        return Disposition.REFUSED
    return Disposition.IN_DOUBT  # 5xx, read timeout, 409 (same key in flight), anything unknown
