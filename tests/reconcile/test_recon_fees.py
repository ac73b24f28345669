"""Fee categories: the Python rules and the SQL CASE agree on every action/breakdown pair that
occurs (docs/checkout-com.md "Non-payment lines", the sandbox's fees and entity lines)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from checkout_freshportal.reconcile.fees import (
    CATEGORIES,
    ENTITY_CATEGORIES,
    FEE_CATEGORIES,
    fee_category,
    fee_category_sql,
)

PAIRS: dict[tuple[str, str], str] = {
    ("Capture", "Gross"): "gross",
    ("Refund", "Gross"): "gross",
    ("Capture", "Capture"): "gross",
    ("Capture", "Interchange Fee"): "interchange",
    ("Capture", "Scheme Variable Fee"): "scheme",
    ("Refund", "Scheme Fixed Fee"): "scheme",
    ("Capture", "Gateway Fee"): "processing",
    ("Authorization", "Authorization Fixed Fee"): "processing",
    ("Authentication", "Authentication Fixed Fee"): "processing",
    ("Optimization", "Optimization Fixed Fee"): "processing",
    ("Account Updater", "Account Updater Fixed Fee"): "processing",
    ("Network Token Update", "Network Token Update Fixed Fee"): "processing",
    ("Capture", "Premium Variable Fee"): "processing",
    ("Chargeback", "Gross"): "chargeback",
    ("Chargeback", "Chargeback (ADJM)"): "chargeback",
    ("Chargeback", "Chargeback Fee"): "chargeback_fee",
    ("Capture", "FX Markup"): "fx",
    ("Capture", "Rolling Reserve"): "reserve",
    ("Invoice Settlement", "VAT"): "invoice_settlement",  # the entity-level action decides
    ("Adjustment", "Tax on Fees"): "tax",
    ("Adjustment", "Minimum Billing Fee"): "minimum_billing_fee",
    ("Tiered Pricing Adjustment", "Gateway Fixed Fee"): "pricing_adjustment",
    ("Security Deposit Reservation", "Security Deposit Reservation"): "security_deposit",
    ("Security Deposit Release", "Security Deposit Release"): "security_deposit",
    ("Operational Funding Reservation", "Operational Funding Reservation"): "operational_funding",
    ("Top Up", "Top Up"): "top_up",
    ("Cover Negative Position", "Cover Negative Position"): "cover_negative_position",
    ("Invoice Settlement", "Invoice Settlement"): "invoice_settlement",
    ("  capture ", " GROSS"): "gross",  # labels in other cases and with spaces
    ("Something New", "Private label"): "other",  # 'vat' inside a word is not tax
}


@pytest.mark.parametrize(("pair", "category"), PAIRS.items(), ids=[f"{a}/{b}" for a, b in PAIRS])
def test_python_rules(pair: tuple[str, str], category: str) -> None:
    assert fee_category(*pair) == category


def test_sql_case_agrees_with_python(recon_engine: sa.Engine) -> None:
    rows = sa.union_all(
        *[sa.select(sa.literal(a, sa.Text).label("a"), sa.literal(b, sa.Text).label("b")) for a, b in PAIRS]
    ).subquery()
    sel = sa.select(rows.c.a, rows.c.b, fee_category_sql(rows.c.a, rows.c.b))
    with recon_engine.connect() as conn:
        got = {(a, b): cat for a, b, cat in conn.execute(sel)}
    assert got == PAIRS
    assert {fee_category(None, None)} == {"other"}


def test_every_category_is_described() -> None:
    assert set(PAIRS.values()) <= set(CATEGORIES)
    assert set(CATEGORIES) >= FEE_CATEGORIES
    assert set(CATEGORIES) >= ENTITY_CATEGORIES
