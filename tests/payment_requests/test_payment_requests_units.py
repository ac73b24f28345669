"""Pure parts: intent identity, link bodies, settings. No servers, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from checkout_freshportal.freshportal.models import Address, Customer, Order, OrderLine
from checkout_freshportal.sync.payment_links.body import (
    IntentKey,
    LinkDataError,
    base_version,
    idempotency_key_for,
    intent_id_for,
    link_body,
    products,
    strip_renewal,
    with_renewal,
)
from checkout_freshportal.sync.payment_links.errors import PaymentRequestsRefused
from checkout_freshportal.sync.payment_links.settings import PaymentRequestSettings


def order(**overrides) -> Order:
    fields = {
        "order_id": "482113",
        "order_number": "FP-100234",
        "status": "confirmed",
        "confirmed": True,
        "currency": "EUR",
        "amount_minor": 7950,
        "customer": Customer("77", "Bloemenhuis", "jan@bloem.example", "NL"),
        "billing_address": Address("Veilingweg 1", None, "1431 GD", "Aalsmeer", "NL"),
        "lines": (
            OrderLine("1", "ROS-60", "Rosa 60cm", Decimal(100), "stem", Decimal("0.62"), 6200, "EUR"),
            OrderLine("2", "TUL", "Tulip", Decimal(50), "stem", Decimal("0.35"), 1750, "EUR"),
        ),
        "version": 7,
    }
    fields.update(overrides)
    return Order(**fields)


def test_intent_identity_is_deterministic_and_distinct_per_version() -> None:
    v = base_version(7, "EUR", 7950)
    assert v == "v7-EUR-7950"
    assert with_renewal(v, 0) == v
    assert with_renewal(v, 2) == "v7-EUR-7950-r2"
    assert strip_renewal("v7-EUR-7950-r2") == v
    key = IntentKey("482113", v)
    assert key.intent_id == intent_id_for("482113", v) == IntentKey("482113", v).intent_id
    assert key.intent_id.startswith("pli_")
    assert len(key.intent_id) == 28
    assert key.idempotency_key == "cfp-pl-482113-v7-EUR-7950"
    assert IntentKey("482113", with_renewal(v, 1)).intent_id != key.intent_id
    assert base_version(None, "JPY", 1400, fallback=3) == "n3-JPY-1400"
    long_key = idempotency_key_for("x" * 300, v)
    assert len(long_key) < 255
    assert long_key.startswith("cfp-pl-")


def test_link_body_carries_order_customer_billing_products_and_metadata() -> None:
    key = IntentKey("482113", "v7-EUR-7950")
    body = link_body(order(), key, PaymentRequestSettings(display_name="Kwekerij", locale="nl-NL"))
    assert body == {
        "amount": 7950,
        "currency": "EUR",
        "reference": "FP-100234",
        "description": "FreshPortal order FP-100234",
        "expires_in": 86400,
        "billing": {
            "address": {
                "country": "NL",
                "address_line1": "Veilingweg 1",
                "city": "Aalsmeer",
                "zip": "1431 GD",
            }
        },
        "products": [
            {"name": "Rosa 60cm", "quantity": 100, "price": 62, "reference": "ROS-60"},
            {"name": "Tulip", "quantity": 50, "price": 35, "reference": "TUL"},
        ],
        "metadata": {
            "freshportal_order_id": "482113",
            "order_version": "v7-EUR-7950",
            "intent_id": key.intent_id,
        },
        "customer": {"email": "jan@bloem.example", "name": "Bloemenhuis"},
        "display_name": "Kwekerij",
        "locale": "nl-NL",
    }


def test_products_fall_back_to_line_totals_or_one_summary_line() -> None:
    sub_cent = order(
        amount_minor=3450,
        lines=(OrderLine("1", "CHR", "Chrysant", Decimal(10000), "stem", Decimal("0.345"), 3450, "EUR"),),
    )
    assert products(sub_cent, 100) == [{"name": "Chrysant", "quantity": 1, "price": 3450, "reference": "CHR"}]
    adjusted = order(
        amount_minor=7000,
        lines=(
            *order().lines,
            OrderLine("3", "ADJ", "Price adjustment", Decimal(1), "lot", None, -950, "EUR"),
        ),
    )
    summary = [{"name": "Order FP-100234", "quantity": 1, "price": 7000}]
    assert products(adjusted, 100) == summary
    assert products(order(amount_minor=7951), 100) == [
        {"name": "Order FP-100234", "quantity": 1, "price": 7951}
    ]
    assert products(order(), 1) == [{"name": "Order FP-100234", "quantity": 1, "price": 7950}]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"amount_minor": 0}, "amount_not_positive"),
        ({"order_number": "FP-" + "1" * 60}, "reference_too_long"),
        (
            {"billing_address": None, "customer": Customer("77", "B", None, None)},
            "billing_country_missing",
        ),
    ],
)
def test_link_body_refuses_what_checkout_would_refuse(change, code) -> None:
    with pytest.raises(LinkDataError) as info:
        link_body(order(**change), IntentKey("1", "v1-EUR-1"), PaymentRequestSettings())
    assert info.value.code == code


def test_billing_country_falls_back_to_the_customer() -> None:
    body = link_body(order(billing_address=None), IntentKey("1", "v"), PaymentRequestSettings())
    assert body["billing"] == {"address": {"country": "NL"}}


def test_settings_from_params() -> None:
    s = PaymentRequestSettings.from_mapping(
        {
            "expires_in_hours": 48,
            "renew_expired": "false",
            "max_renewals": "2",
            "in_doubt": "resend",
            "in_doubt_margin_minutes": 1,
            "confirmed_after": "2026-01-01T00:00:00Z",
            "display_name": "Kwekerij",
        }
    )
    assert s.expires_in == timedelta(hours=48)
    assert s.expires_in_seconds == 172800
    assert s.renew_expired is False
    assert s.max_renewals == 2
    assert s.in_doubt == "resend"
    assert s.in_doubt_margin == timedelta(minutes=1)
    assert s.confirmed_after == datetime(2026, 1, 1, tzinfo=UTC)
    assert PaymentRequestSettings.from_mapping(None) == PaymentRequestSettings()
    with pytest.raises(ValueError, match="unknown payment-request setting"):
        PaymentRequestSettings.from_mapping({"expires": 1})
    with pytest.raises(ValueError, match="in_doubt"):
        PaymentRequestSettings.from_mapping({"in_doubt": "maybe"})
    with pytest.raises(ValueError, match="expires_in"):
        PaymentRequestSettings.from_mapping({"expires_in_days": 61})


def test_errors_survive_pickling() -> None:
    import pickle

    err = PaymentRequestsRefused("create_payment_links: 1 order(s) refused", ["order 1: reference_too_long"])
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is PaymentRequestsRefused
    assert back.failures == err.failures
    assert str(back) == str(err)
