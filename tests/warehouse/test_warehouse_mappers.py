"""Mappers on the payloads of docs/checkout-com.md: tolerant of shape, strict on money/time, and
nothing personal reaches staging."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime

import pytest

from checkout_freshportal.warehouse import schema
from checkout_freshportal.warehouse.mappers import (
    MappingError,
    action_rows,
    dispute_row,
    normalize_payment_status,
    payment_row,
)

from wh_samples import ACTIONS, DISPUTE, PAYMENT


def test_payment_row_from_a_realistic_payload() -> None:
    row = payment_row(PAYMENT)
    assert set(row) <= {c.name for c in schema.stg_payments.c}
    assert row["payment_id"] == "pay_gjulv7byhhwerb3jyx2547xlme"
    assert row["status"] == "Authorized"
    assert row["requested_on"] == datetime(2021, 12, 26, 21, 16, 39, 469551, tzinfo=UTC)  # 7 digits, cut
    assert row["processed_on"] == datetime(2021, 12, 26, 21, 16, 40, 79866, tzinfo=UTC)
    assert (row["currency"], row["amount_minor"]) == ("USD", 6540)
    assert row["total_authorized_minor"] == 6540
    assert row["available_to_capture_minor"] == 6540
    assert row["total_captured_minor"] == 0
    assert row["available_to_refund_minor"] == 0
    assert (row["card_scheme"], row["card_last4"], row["card_bin"], row["card_type"]) == (
        "Visa",
        "4242",
        "424242",
        "CREDIT",
    )
    assert row["customer_id"] == "cus_3dapnnm2l6ue3eagk5lufxt3am"
    assert row["customer_email_hash"] == hashlib.sha256(b"j@example.com").hexdigest()
    assert row["metadata"] == {"coupon_code": "NY2018", "partner_id": 123989}
    assert row["source"] == "checkout.api"


def test_no_personal_data_reaches_staging() -> None:
    flat = repr(payment_row(PAYMENT))
    for secret in ("J@Example.com", "j@example.com", "Jane Smith", "J S", "A8E3", "2028"):
        assert secret not in flat


def test_payment_row_tolerates_missing_optional_and_unknown_fields() -> None:
    slim = {
        "id": "pay_k72n4u433mierlthuim5oc5syu",
        "status": "Pending",
        "reference": "ORD-1",
        "amount": 100,
        "currency": "eur",
        "requested_on": "2024-01-01T00:00:00+00:00",
        "customer": {"id": "cus_6artgoevd77u7ojah2wled32sa"},
        "3ds": {"downgraded": False, "enrolled": "Y"},
        "brand_new_field": {"nested": [1, 2]},
        "source": {"type": "ideal"},
    }
    row = payment_row(slim)
    assert row["currency"] == "EUR"
    assert row["status"] == "Pending"
    assert row["total_captured_minor"] is None
    assert row["processed_on"] is None
    assert row["metadata"] is None
    assert row["source_type"] == "ideal"
    assert row["card_last4"] is None
    assert row["customer_email_hash"] is None


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("captured", "Captured"),
        ("CAPTURED", "Captured"),
        ("Partially Captured", "Partially Captured"),
        ("partially_refunded", "Partially Refunded"),
        ("card verified", "Card Verified"),
        ("Cancelled", "Canceled"),
        ("  retry   scheduled ", "Retry Scheduled"),
    ],
)
def test_status_is_normalised_case_insensitively(raw: str, status: str) -> None:
    assert normalize_payment_status(raw) == status
    assert payment_row({**PAYMENT, "status": raw})["status"] == status


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("amount", 65.4, "integer in minor units"),
        ("amount", "6540", "integer in minor units"),
        ("amount", True, "integer in minor units"),
        ("amount", None, "missing"),
        ("currency", "EURO", "ISO 4217"),
        ("requested_on", "26/12/2021", "ISO 8601"),
        ("requested_on", "2021-12-26T21:16:39", "offset"),
        ("requested_on", None, "missing"),
        ("processed_on", 1640553400, "ISO 8601 text"),
        ("status", "Exploded", "unknown payment status"),
        ("id", None, "missing"),
    ],
)
def test_money_time_and_status_are_strict(field: str, value, problem: str) -> None:
    bad = copy.deepcopy(PAYMENT)
    bad[field] = value
    with pytest.raises(MappingError) as err:
        payment_row(bad)
    assert problem in str(err.value)
    assert f"'{field}'" in str(err.value)
    if field != "id":
        assert "pay_gjulv7byhhwerb3jyx2547xlme" in str(err.value)


def test_balance_errors_name_the_nested_field() -> None:
    bad = copy.deepcopy(PAYMENT)
    bad["balances"]["total_captured"] = 1.5
    with pytest.raises(MappingError, match=r"balances\.total_captured"):
        payment_row(bad)


def test_action_rows_from_the_actions_endpoint() -> None:
    rows = action_rows("pay_1", ACTIONS, currency="usd")
    assert [r["action_id"] for r in rows] == [
        "act_t6ksnbs3tguu7iblmk22jjimca",
        "act_juevt3h5mcjulir2t5g3wfug6u",
    ]
    cap = rows[0]
    assert set(cap) <= {c.name for c in schema.stg_payment_actions.c}
    assert (cap["payment_id"], cap["action_type"], cap["amount_minor"], cap["currency"]) == (
        "pay_1",
        "Capture",
        100,
        "USD",
    )
    assert cap["processed_on"] == datetime(2020, 1, 29, 11, 53, 40, tzinfo=UTC)
    assert cap["acquirer_reference_number"] == "175286612147"
    assert cap["reference"] == "ORD-1-CAP1"
    assert "745837" not in repr(rows)  # auth codes are not staged


def test_summary_actions_and_numeric_response_codes() -> None:
    summary = [{"id": "act_1", "type": "Capture", "response_code": 10000, "response_summary": "Approved"}]
    (row,) = action_rows("pay_1", summary)
    assert row["amount_minor"] is None
    assert row["processed_on"] is None
    assert row["currency"] is None
    assert row["response_code"] == "10000"
    with pytest.raises(MappingError, match=r"act_2.*'amount'"):
        action_rows("pay_1", [{"id": "act_2", "type": "Refund", "amount": 1.0}])


def test_dispute_row_from_the_list_shape_and_the_details_shape() -> None:
    row = dispute_row(DISPUTE)
    assert set(row) <= {c.name for c in schema.stg_disputes.c}
    assert (row["dispute_id"], row["status"], row["amount_minor"], row["currency"]) == (
        "dsp_3dc29c89ce075g46136d",
        "evidence_required",
        1040,
        "USD",
    )
    assert row["payment_id"] == "pay_l5rvkbinxztepjskr7vwlovzsq"
    assert row["processing_channel_id"] == "pc_z"
    assert row["last_update"] == datetime(2020, 4, 26, 20, 47, 44, tzinfo=UTC)
    assert row["evidence_required_by"] == datetime(2020, 5, 6, 18, 0, tzinfo=UTC)
    details = {
        "id": "dsp_1",
        "category": "general",
        "status": "WON",
        "amount": 500,
        "currency": "KWD",
        "last_update": "2020-05-01T10:00:00.1234567Z",
        "payment": {
            "id": "pay_2",
            "action_id": "act_3",
            "reference": "R",
            "method": "Visa",
            "arn": "A1",
            "processing_channel_id": "pc_9",
        },
    }
    row = dispute_row(details)
    assert (row["payment_id"], row["payment_action_id"], row["payment_reference"], row["payment_arn"]) == (
        "pay_2",
        "act_3",
        "R",
        "A1",
    )
    assert row["status"] == "won"
    assert row["processing_channel_id"] == "pc_9"
    assert row["last_update"].microsecond == 123456


def test_dispute_row_is_strict_on_money_and_last_update() -> None:
    with pytest.raises(MappingError, match=r"dsp_3dc29c89ce075g46136d.*'amount'"):
        dispute_row({**DISPUTE, "amount": "1040"})
    with pytest.raises(MappingError, match=r"'last_update'.*missing"):
        dispute_row({**DISPUTE, "last_update": None})
    with pytest.raises(MappingError, match="unknown dispute status"):
        dispute_row({**DISPUTE, "status": "pending_magic"})
