"""A refusal's text is stored on the intent and written back to FreshPortal (a refund's
``failure_reason``, a link's ``last_error``): Checkout.com's error codes in it may echo a card
number or an e-mail address (a code built from a field's value), so both describers mask them,
as ingestion's item errors do. Found by a hostile review: they only escaped."""

from __future__ import annotations

from checkout_freshportal.checkout import errors as cko_errors
from checkout_freshportal.sync.intents import execute
from checkout_freshportal.sync.payment_links import runner


def _refusal() -> cko_errors.CheckoutError:
    return cko_errors.ValidationError(
        "",
        status=422,
        method="POST",
        path="/payments/pay_1/refunds",
        error_type="request_invalid",
        error_codes=["card_number_invalid:4242424242424242", "customer_email_invalid:jan.devries@example.nl"],
        request_id="req_1",
    )


def test_both_describers_mask_card_numbers_and_addresses() -> None:
    for describe in (execute.describe, runner.describe):
        text = describe(_refusal())
        assert "4242424242424242" not in text, describe
        assert "jan.devries@example.nl" not in text, describe
        assert "card_number_invalid" in text, text  # the codes themselves stay
        assert "req_1" in text, text
