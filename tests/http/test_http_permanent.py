"""Which failures are permanent: the one flag the client retry rule and Airflow's policy read."""

from __future__ import annotations

import pickle

import pytest

from checkout_freshportal import money, timeutil
from checkout_freshportal.checkout import errors as cko
from checkout_freshportal.checkout.settings import SettingsError as CheckoutSettingsError
from checkout_freshportal.errors import PermanentError, is_permanent
from checkout_freshportal.freshportal import errors as fp
from checkout_freshportal.freshportal.mapping import MappingError, UnknownStatusError
from checkout_freshportal.freshportal.settings import SettingsError as FreshPortalSettingsError
from checkout_freshportal.http import errors as http
from checkout_freshportal.sync.events.service import StatusMappingError
from checkout_freshportal.sync.payment_links.errors import PaymentRequestsDeferred, PaymentRequestsRefused
from checkout_freshportal.sync.status_push.service import StatusPushError

PERMANENT = [
    cko.AuthenticationError,
    cko.ActionNotAllowedError,
    cko.NotFoundError,
    cko.ValidationError,
    cko.UnexpectedStatusError,
    cko.PaginationError,
    cko.UnsafeRedirectError,
    cko.ResponseTooLargeError,
    fp.AuthenticationError,
    fp.ForbiddenError,
    fp.NotFoundError,
    fp.ValidationError,
    fp.UnexpectedStatusError,
    fp.DataError,
    fp.PaginationError,
    fp.UnsafeRedirectError,
    fp.ResponseTooLargeError,
]
TRANSIENT = [
    cko.CheckoutError,
    cko.ConflictError,
    cko.RateLimitedError,
    cko.ServerError,
    cko.CheckoutTransportError,
    fp.FreshPortalError,
    fp.ConflictError,
    fp.RateLimitedError,
    fp.ServerError,
    fp.TransportError,
    fp.ExportError,
]


@pytest.mark.parametrize("cls", PERMANENT)
def test_http_errors_that_a_retry_cannot_fix_are_permanent(cls: type[http.HttpError]) -> None:
    err = cls("refused", status=400)
    assert err.permanent is True
    assert is_permanent(err)


@pytest.mark.parametrize("cls", TRANSIENT)
def test_http_errors_that_time_may_cure_are_not(cls: type[http.HttpError]) -> None:
    err = cls("later", status=503)
    assert err.permanent is False
    assert not is_permanent(err)


@pytest.mark.parametrize(
    "error",
    [
        money.MoneyError("amount 1.005 EUR has more decimals than the currency"),
        money.UnknownCurrencyError("XXX"),
        timeutil.TimestampError("not a timestamp"),
        CheckoutSettingsError("bad"),
        FreshPortalSettingsError("bad"),
        MappingError("bad mapping"),
        UnknownStatusError("unmapped"),
        StatusMappingError("unmapped status"),
        StatusPushError("refused writes"),
        PaymentRequestsRefused("refused", ["order 1"]),
    ],
)
def test_non_http_errors_carry_the_same_marker(error: Exception) -> None:
    assert isinstance(error, PermanentError)
    assert is_permanent(error)


def test_deferred_payment_requests_are_transient() -> None:
    assert not is_permanent(PaymentRequestsDeferred("429 on 3 orders", ["order 1"]))


def test_both_clients_share_one_settings_error_that_is_still_a_value_error() -> None:
    assert CheckoutSettingsError is FreshPortalSettingsError is http.SettingsError
    assert issubclass(http.SettingsError, ValueError)


def test_client_classes_are_their_shared_family() -> None:
    assert issubclass(cko.NotFoundError, http.NotFoundError)
    assert issubclass(fp.NotFoundError, http.NotFoundError)
    assert issubclass(cko.ActionNotAllowedError, http.ForbiddenError)
    assert issubclass(cko.CheckoutTransportError, http.TransportError)
    assert issubclass(fp.TransportError, http.TransportError)


def _raise_wrapped() -> None:
    try:
        raise money.MoneyError("bad amount")
    except money.MoneyError as inner:
        raise RuntimeError("step failed") from inner


def _raise_suppressed() -> None:
    try:
        raise timeutil.TimestampError("x")
    except timeutil.TimestampError:
        raise KeyError("k") from None


def _raise_while_handling_permanent() -> None:
    try:
        raise money.MoneyError("bad amount")
    except money.MoneyError:
        raise ConnectionResetError("driver lost the connection")  # noqa: B904 -- the case itself


def test_an_error_raised_while_handling_a_permanent_one_is_not_permanent() -> None:
    """The implicit context is what was being handled, not a cause: the reset must be retried."""
    with pytest.raises(ConnectionResetError) as info:
        _raise_while_handling_permanent()
    assert isinstance(info.value.__context__, money.MoneyError)  # the context is there ...
    assert not is_permanent(info.value)  # ... and is not followed
    explicit = RuntimeError("wrapped")
    explicit.__cause__ = money.MoneyError("bad amount")
    assert is_permanent(explicit)  # while an explicit cause still is


def test_a_wrapper_without_marker_is_transparent() -> None:
    with pytest.raises(RuntimeError) as info:
        _raise_wrapped()
    assert is_permanent(info.value)


def test_the_nearest_marker_decides() -> None:
    transient_over_permanent = cko.ServerError(status=503)
    transient_over_permanent.__cause__ = cko.NotFoundError(status=404)
    assert not is_permanent(transient_over_permanent)
    permanent_over_transient = fp.DataError("amount unreadable")
    permanent_over_transient.__context__ = fp.ServerError(status=502)
    assert is_permanent(permanent_over_transient)


def test_suppressed_context_is_not_followed_and_cycles_end() -> None:
    with pytest.raises(KeyError) as info:
        _raise_suppressed()
    assert not is_permanent(info.value)
    a, b = ValueError("a"), ValueError("b")
    a.__cause__, b.__cause__ = b, a
    assert not is_permanent(a)


def test_a_non_bool_marker_is_ignored() -> None:
    class Odd(Exception):
        permanent = "yes"

    assert not is_permanent(Odd())


def test_pickling_keeps_the_shared_and_the_client_fields() -> None:
    err = fp.RateLimitedError("slow down", status=429, code="rate", retry_after=2.5, request_id="r1")
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.code, back.retry_after, back.request_id, str(back)) == (
        fp.RateLimitedError,
        "rate",
        2.5,
        "r1",
        str(err),
    )
    t = pickle.loads(pickle.dumps(fp.TransportError("connect timeout", request_sent=False, path="/v1/auth")))
    assert t.request_sent is False
    assert t.permanent is False
