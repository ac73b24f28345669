"""What the warehouse holds, summarised the way the sandbox summarises its scenario.

The demo and the end-to-end tests compare the two line by line: counts per staged table and
money per currency to the minor unit (exact decimals for report amounts), so "it landed" is a
checked statement rather than a row count.

Report lines are compared one for one: the staging keeps every line of a file as one row
(identical lines included, told apart by their occurrence) and a line that arrives again in an
overlapping file as the same row, so the staged count must equal the number of lines the
sandbox's visible report files hold, non-payment and entity-level lines included, and the staged
holding amounts must add up to the balance effects those files write.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from checkout_freshportal.money import from_e8
from checkout_freshportal.warehouse import schema


def _count(conn: sa.Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _sum_by(conn: sa.Connection, table: sa.Table, currency_col: str, amount_col: str) -> dict[str, int]:
    cur, amt = table.c[currency_col], table.c[amount_col]
    rows = conn.execute(sa.select(cur, sa.func.sum(amt)).group_by(cur).order_by(cur))
    return {c: int(v or 0) for c, v in rows}


def landed_summary(engine: Engine) -> dict[str, Any]:
    pay, fa, po = schema.stg_payments, schema.stg_financial_actions, schema.stg_payouts
    with engine.connect() as conn:
        counts = {
            "payments": _count(conn, pay),
            "actions": _count(conn, schema.stg_payment_actions),
            "disputes": _count(conn, schema.stg_disputes),
            "financial_action_lines": _count(conn, fa),
            "payouts": _count(conn, po),
            "report_files": _count(conn, schema.raw_report_files),
        }
        money = {
            "amount": _sum_by(conn, pay, "currency", "amount_minor"),
            "total_captured": _sum_by(conn, pay, "currency", "total_captured_minor"),
            "total_refunded": _sum_by(conn, pay, "currency", "total_refunded_minor"),
            "disputed_amount": _sum_by(conn, schema.stg_disputes, "currency", "amount_minor"),
            "financial_action_holding_amounts": {
                c: str(from_e8(v).normalize())
                for c, v in _sum_by(conn, fa, "holding_currency", "holding_amount_e8").items()
            },
            "payouts": _sum_by(conn, po, "currency", "payout_amount_minor"),
        }
    return {"counts": counts, "money": money}


#: (label, key in the scenario summary's "counts", key in landed "counts")
_COUNT_LINES = (
    ("payments", "payments", "payments"),
    ("payment actions", "actions", "actions"),
    ("disputes", "disputes", "disputes"),
    ("financial-action report lines", "financial_action_lines_in_reports", "financial_action_lines"),
    ("payouts", "payouts", "payouts"),
)
#: (label, key in the scenario's "money", key in landed "money")
_MONEY_LINES = (
    ("payment amount", "amount", "amount"),
    ("captured", "total_captured", "total_captured"),
    ("refunded", "total_refunded", "total_refunded"),
    ("disputed", "disputed_amount", "disputed_amount"),
    (
        "fees+gross (holding)",
        "financial_action_holding_amounts_in_reports",
        "financial_action_holding_amounts",
    ),
    ("payouts", "payouts", "payouts"),
)


def _same(expected: Any, landed: Any) -> bool:
    if isinstance(expected, str) or isinstance(landed, str):
        return Decimal(str(expected)) == Decimal(str(landed))
    return expected == landed


def compare_with_scenario(scenario: Mapping[str, Any], landed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per checked figure: ``{what, expected, landed, ok}``."""
    rows: list[dict[str, Any]] = []
    for label, skey, lkey in _COUNT_LINES:
        exp, got = scenario["counts"].get(skey, 0), landed["counts"].get(lkey, 0)
        rows.append({"what": label, "expected": exp, "landed": got, "ok": exp == got})
    for label, skey, lkey in _MONEY_LINES:
        exp_map = scenario["money"].get(skey, {}) or {}
        got_map = landed["money"].get(lkey, {}) or {}
        for cur in sorted(set(exp_map) | set(got_map)):
            exp, got = exp_map.get(cur, 0), got_map.get(cur, 0)
            rows.append({"what": f"{label} {cur}", "expected": exp, "landed": got, "ok": _same(exp, got)})
    return rows
