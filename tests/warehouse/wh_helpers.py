"""Helpers for the warehouse tests: migrated engines and small report CSVs in the documented layout."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa

from checkout_freshportal.warehouse import make_engine, upgrade

#: The 35 columns of both financial-actions report types, in Checkout.com's order, plus the
#: optional ``Fee Detail`` (docs/checkout-com.md).
FA_HEADER = [
    "Client Entity ID",
    "Client Entity Name",
    "Sub Entity ID",
    "Sub Entity Name",
    "Processing Channel ID",
    "Merchant Category Code",
    "Currency Account ID",
    "Currency Account Name",
    "Currency Account Custom ID",
    "Action Type",
    "Action ID",
    "Payment ID",
    "Requested On",
    "Processed On",
    "Processing Currency",
    "FX Rate Applied",
    "Holding Currency",
    "FX Trade ID",
    "Payout ID",
    "Reference",
    "Payment Method",
    "Card Type",
    "Card Category",
    "Issuer Country",
    "Entity Country",
    "Region",
    "MID",
    "Response Code",
    "Response Description",
    "Breakdown Type",
    "Processing Currency Amount",
    "Holding Currency Amount",
    "Entity Country Tax Currency",
    "Tax Fx Rate",
    "Tax Currency Amount",
    "Fee Detail",
]

PAYOUT_HEADER = [
    "Client Entity ID",
    "Sub Entity ID",
    "Currency Account ID",
    "Holding Currency",
    "Payout ID",
    "Payout Date",
    "Payout Amount",
    "Merchant Payout Fees",
    "Payments",
    "Refunds",
    "Chargebacks",
    "Card Payment Interchange Fees",
    "Card Payment Scheme Fees",
    "Processing Fees",
    "Reporting Start Date",
    "Reporting End Date",
    "Pay To Cards",
]


def migrated_engine(url: str) -> sa.Engine:
    upgrade(url)
    return make_engine(url)


def fa_line(action: str = "act_1", breakdown: str = "Gross", **over: str) -> dict[str, str]:
    """One financial-action breakdown line with plausible defaults; override by header name."""
    line = {
        "Client Entity ID": "ent_client",
        "Client Entity Name": "Client Ltd",
        "Sub Entity ID": "ent_sub",
        "Sub Entity Name": "Shop",
        "Currency Account ID": "ca_1",
        "Currency Account Name": "EUR account",
        "Currency Account Custom ID": "",
        "FX Trade ID": "",
        "Entity Country Tax Currency": "",
        "Tax Fx Rate": "",
        "Tax Currency Amount": "",
        "Merchant Category Code": "5411",
        "Processing Channel ID": "pc_1",
        "Card Category": "Consumer",
        "Issuer Country": "NL",
        "Entity Country": "GB",
        "MID": "mid_1",
        "Response Code": "10000",
        "Response Description": "Approved",
        "Payment ID": "pay_" + action.removeprefix("act_"),
        "Action ID": action,
        "Action Type": "Capture",
        "Reference": "ORD-1",
        "Payment Method": "VISA",
        "Card Type": "CREDIT",
        "Region": "Domestic",
        "Processed On": "2026-01-02 10:00:00",
        "Requested On": "2026-01-02 09:59:59",
        "Payout ID": "",
        "Breakdown Type": breakdown,
        "Fee Detail": "",
        "Holding Currency": "EUR",
        "Holding Currency Amount": "10.00",
        "Processing Currency": "EUR",
        "Processing Currency Amount": "10.00",
        "FX Rate Applied": "1",
    }
    line.update(over)
    return line


def payout_line(payout: str = "po_1", **over: str) -> dict[str, str]:
    line = {
        "Client Entity ID": "ent_client",
        "Sub Entity ID": "ent_sub",
        "Currency Account ID": "ca_1",
        "Holding Currency": "EUR",
        "Payout ID": payout,
        "Payout Date": "2026-01-05",
        "Payout Amount": "1234.56",
        "Merchant Payout Fees": "1.50",
        "Payments": "1300.00",
        "Refunds": "-50.00",
        "Chargebacks": "0",
        "Card Payment Interchange Fees": "-8.12345678",
        "Card Payment Scheme Fees": "-3.1",
        "Processing Fees": "-2.71654322",
        "Reporting Start Date": "2026-01-01 00:00:00",
        "Reporting End Date": "2026-01-02 00:00:00",
        "Pay To Cards": "-2",
    }
    line.update(over)
    return line


def to_csv(
    lines: Iterable[Mapping[str, str]], header: Sequence[str] = FA_HEADER, *, newline: str = "\r\n"
) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header)
    for line in lines:
        w.writerow([line.get(h, "") for h in header])
    return buf.getvalue().encode("utf-8")


def rows_of(conn: sa.Connection, table: sa.Table, *order: str) -> list[dict]:
    q = sa.select(table)
    if order:
        q = q.order_by(*[table.c[c] for c in order])
    return [dict(r._mapping) for r in conn.execute(q)]
