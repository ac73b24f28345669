"""The mapping config: coverage of every Checkout.com status, tenant overrides, clear errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from checkout_freshportal.freshportal import (
    CHECKOUT_DISPUTE_STATES,
    CHECKOUT_DISPUTE_STATUSES,
    CHECKOUT_PAYMENT_STATUSES,
    DataError,
    MappingError,
    PaymentStatusUpdate,
    UnknownStatusError,
    load_mapping,
)
from checkout_freshportal.freshportal.mapping import FreshPortalMapping, default_mapping_data
from checkout_freshportal.freshportal.models import order_from_api, payment_update_body


def test_default_mapping_covers_every_checkout_status() -> None:
    m = load_mapping()
    for status in CHECKOUT_PAYMENT_STATUSES + CHECKOUT_DISPUTE_STATES:
        assert m.payment_status_for(status) in m.freshportal_payment_statuses
    for status in CHECKOUT_DISPUTE_STATUSES:
        assert m.payment_status_for_dispute(status) in m.freshportal_payment_statuses
    # The brief's list, explicitly.
    for status in (
        "Pending",
        "Authorized",
        "Card Verified",
        "Voided",
        "Partially Captured",
        "Captured",
        "Partially Refunded",
        "Refunded",
        "Declined",
        "Canceled",
        "Expired",
    ):
        m.payment_status_for(status)


@pytest.mark.parametrize(
    ("checkout", "freshportal"),
    [
        ("Captured", "paid"),
        ("captured", "paid"),
        ("PARTIALLY_CAPTURED", "partially_paid"),
        ("partially-refunded", "partially_refunded"),
        ("Card Verified", "awaiting_payment"),
        ("Voided", "cancelled"),
        ("Canceled", "cancelled"),
        ("Chargeback", "chargeback"),
        ("Disputed", "disputed"),
    ],
)
def test_status_names_are_normalised(checkout: str, freshportal: str) -> None:
    assert load_mapping().payment_status_for(checkout) == freshportal


def test_unknown_status_gives_a_clear_error() -> None:
    m = load_mapping()
    with pytest.raises(UnknownStatusError) as info:
        m.payment_status_for("Teleported")
    text = str(info.value)
    assert "'Teleported'" in text
    assert "payment_status_map" in text
    assert "default_mapping.json" in text
    with pytest.raises(UnknownStatusError, match="dispute_status_map"):
        m.payment_status_for_dispute("pre_arbitration")
    with pytest.raises(UnknownStatusError, match="not a FreshPortal payment status"):
        payment_update_body(PaymentStatusUpdate(status="settled"), m)


def test_confirmed_statuses_and_unknown_order_status() -> None:
    m = load_mapping()
    assert m.is_confirmed("confirmed")
    assert m.is_confirmed("invoiced")
    assert not m.is_confirmed("draft")
    assert not m.is_confirmed("cancelled")
    with pytest.raises(UnknownStatusError, match="order_statuses"):
        m.is_confirmed("on_hold", record="order 1 (FP-1)")


def test_tenant_override_file_from_env(tmp_path, monkeypatch) -> None:
    override = {
        "payment_status_map": {"Authorized": "reserved", "Card Verified": "reserved"},
        "freshportal_payment_statuses": [
            *default_mapping_data()["freshportal_payment_statuses"],
            "reserved",
        ],
        "order_statuses": [*default_mapping_data()["order_statuses"], "on_hold"],
        "fields": {"order": {"order_number": "reference"}, "customer": {"email": "contact.email"}},
    }
    path = tmp_path / "tenant.json"
    path.write_text(json.dumps(override))
    monkeypatch.setenv("CFP_FRESHPORTAL_MAPPING", str(path))
    m = load_mapping()
    assert str(path) in m.sources
    assert m.payment_status_for("Authorized") == "reserved"
    assert m.payment_status_for("Captured") == "paid"  # untouched keys keep their default
    assert not m.is_confirmed("on_hold")
    raw = {
        "id": 5,
        "reference": "FP-5",
        "status": "on_hold",
        "currency_code": "JPY",
        "total_incl_vat": "1400",
        "debtor": {"id": 9, "name": "Hana", "contact": {"email": "buyer@hana.example"}},
    }
    order = order_from_api(raw, m)
    assert (order.order_number, order.amount_minor, order.customer.email) == (
        "FP-5",
        1400,
        "buyer@hana.example",
    )


def test_tenant_override_yaml(tmp_path) -> None:
    path = tmp_path / "tenant.yaml"
    path.write_text("amount_format: minor_int\nconfirmed_order_statuses: [invoiced]\n")
    m = load_mapping(path)
    assert m.amount_format == "minor_int"
    assert not m.is_confirmed("confirmed")
    assert m.amount_to_minor(1250, "EUR", field="amount") == 1250


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"payment_status_mapp": {}}, "unknown top-level key"),
        ({"payment_status_map": {"Captured": "settled"}}, "not in freshportal_payment_statuses"),
        ({"fields": {"order": {"order_numbr": "x"}}}, "unknown field"),
        ({"fields": {"order": {"order_number": ""}}}, "fields.order.order_number"),
        ({"confirmed_order_statuses": ["shipped"]}, "not in order_statuses"),
        ({"amount_format": "float"}, "amount_format"),
        ({"local_timezone": "Mars/Olympus"}, "local_timezone"),
        ({"refund_outcome_statuses": {"reversed": "refunded"}}, "refund_outcome_statuses"),
    ],
)
def test_invalid_override_fails_at_load(tmp_path, override, message) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(override))
    with pytest.raises(MappingError, match=message) as info:
        load_mapping(path)
    assert str(path) in str(info.value)


def test_mapping_must_cover_every_status() -> None:
    data = default_mapping_data()
    del data["payment_status_map"]["Expired"]
    with pytest.raises(MappingError, match="does not cover"):
        FreshPortalMapping.from_dict(data)


def test_unreadable_override_file(tmp_path) -> None:
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(MappingError, match="does not parse"):
        load_mapping(bad)


@pytest.mark.parametrize(
    ("value", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("1400", "JPY", 1400),
        ("0.265", "KWD", 265),
        (Decimal("7.5"), "SEK", 750),
        (3, "USD", 300),
    ],
)
def test_major_decimal_amounts_are_exact(value, currency, minor) -> None:
    assert load_mapping().amount_to_minor(value, currency, field="amount") == minor


@pytest.mark.parametrize(
    ("value", "currency"), [("12.505", "EUR"), ("1400.5", "JPY"), (12.5, "EUR"), ("abc", "EUR")]
)
def test_inexact_or_float_amounts_are_refused(value, currency) -> None:
    with pytest.raises(DataError, match="amount"):
        load_mapping().amount_to_minor(value, currency, field="amount", record="order 1")


@pytest.mark.parametrize("field", ["total_incl_vat", "version"])
@pytest.mark.parametrize("value", ["1e300000", "100000000000000000000"])
def test_numbers_beyond_a_bigint_are_refused_as_data_errors(field: str, value: str) -> None:
    order = {"id": 1, "order_number": "FP-1", "status": "confirmed", "currency_code": "EUR"}
    with pytest.raises(DataError, match="beyond a 64-bit integer"):
        order_from_api({**order, "total_incl_vat": "12.50", field: value}, load_mapping())


def test_minor_int_amounts_beyond_a_bigint_are_refused() -> None:
    m = FreshPortalMapping(default_mapping_data() | {"amount_format": "minor_int"})
    with pytest.raises(DataError, match="beyond a 64-bit integer"):
        m.amount_to_minor("1e300000", "EUR", field="amount", record="order 1")
    assert m.amount_to_minor(str(2**63 - 1), "EUR", field="amount") == 2**63 - 1


def test_amounts_are_written_in_the_tenant_format() -> None:
    m = load_mapping()
    body = payment_update_body(
        PaymentStatusUpdate(status="paid", currency="KWD", amount_paid_minor=12345, amount_refunded_minor=0),
        m,
    )
    assert body["amount_paid"] == "12.345"
    assert body["amount_refunded"] == "0.000"
    assert body["currency_code"] == "KWD"
    assert body["payment_status"] == "paid"
    assert body["payment_link_url"] is None  # PUT replaces: unknown fields are written as null
