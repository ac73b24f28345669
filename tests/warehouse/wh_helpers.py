"""Helpers for the warehouse tests: migrated engines and small report CSVs in the documented layout."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa

from checkout_freshportal.warehouse import make_engine, upgrade

FA_HEADER = [
    "Client Entity ID",
    "Sub Entity ID",
    "Currency Account ID",
    "Processing Channel ID",
    "Payment ID",
    "Action ID",
    "Action Type",
    "Reference",
    "Payment Method",
    "Card Type",
    "Region",
    "Processed On",
    "Requested On",
    "Payout ID",
    "Breakdown Type",
    "Fee Detail",
    "Holding Currency",
    "Holding Currency Amount",
    "Processing Currency",
    "Processing Currency Amount",
    "Transaction Currency",
    "Transaction Currency Amount",
    "FX Rate Applied",
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
    "Period Start",
    "Period End",
]


def migrated_engine(url: str) -> sa.Engine:
    upgrade(url)
    return make_engine(url)


def fa_line(action: str = "act_1", breakdown: str = "Gross", **over: str) -> dict[str, str]:
    """One financial-action breakdown line with plausible defaults; override by header name."""
    line = {
        "Client Entity ID": "ent_client",
        "Sub Entity ID": "ent_sub",
        "Currency Account ID": "ca_1",
        "Processing Channel ID": "pc_1",
        "Payment ID": "pay_" + action.removeprefix("act_"),
        "Action ID": action,
        "Action Type": "Capture",
        "Reference": "ORD-1",
        "Payment Method": "VISA",
        "Card Type": "CREDIT",
        "Region": "Domestic",
        "Processed On": "2026-01-02T10:00:00.1234567Z",
        "Requested On": "2026-01-02T09:59:59Z",
        "Payout ID": "",
        "Breakdown Type": breakdown,
        "Fee Detail": "",
        "Holding Currency": "EUR",
        "Holding Currency Amount": "10.00",
        "Processing Currency": "EUR",
        "Processing Currency Amount": "10.00",
        "Transaction Currency": "EUR",
        "Transaction Currency Amount": "10.00",
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
        "Period Start": "2026-01-01T00:00:00Z",
        "Period End": "2026-01-02T00:00:00Z",
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
