"""The exception keys a planted scenario expects, resolved against the warehouse.

A planted case (``demo.reconciliation.cases[].expected_exceptions``, docs/scenario-format.md)
names its subject the way a person writing the file can: an order number, a payment id or an
action id given in the file, or "the payout / the dispute of this payment" (ids the simulator
draws). This turns each entry into the stable ``exception_key`` of the spec
(docs/reconciliation.md), reading the ids the pipeline staged, so the demo and tests/planted
compare key sets exactly.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from checkout_freshportal.warehouse import schema

#: Refund-request states still waiting for execution (``refund_not_executed``).
_WAITING = ("requested", "processing")


def _one(conn: sa.Connection, query: sa.Select[Any], what: str) -> str:
    found = sorted({str(v) for v in conn.execute(query).scalars() if v is not None})
    if len(found) != 1:
        raise LookupError(f"{what}: expected one, found {found}")
    return found[0]


def _order_id(conn: sa.Connection, number: str) -> str:
    t = schema.stg_orders
    return _one(conn, sa.select(t.c.order_id).where(t.c.order_number == number), f"order {number}")


def key_of(conn: sa.Connection, exp: dict[str, Any]) -> str:
    """The exception_key one expected entry names (see the module docstring)."""
    kind = exp["kind"]
    if kind == "currency_mismatch":
        return f"{kind}:order:{_order_id(conn, exp['order_number'])}:payment:{exp['payment_id']}"
    if kind == "refund_not_executed":
        rr = schema.stg_refund_requests
        q = sa.select(rr.c.refund_request_id).where(
            rr.c.order_number == exp["order_number"], rr.c.state.in_(_WAITING)
        )
        return f"{kind}:refund_request:{_one(conn, q, 'waiting refund request')}"
    if "payout_of_payment" in exp:
        lines = schema.financial_action_lines().subquery()
        q = sa.select(lines.c.payout_id).where(lines.c.payment_id == exp["payout_of_payment"])
        return f"{kind}:payout:{_one(conn, q, 'payout of ' + exp['payout_of_payment'])}"
    if "dispute_of_payment" in exp:
        d = schema.stg_disputes
        q = sa.select(d.c.dispute_id).where(d.c.payment_id == exp["dispute_of_payment"])
        return f"{kind}:dispute:{_one(conn, q, 'dispute of ' + exp['dispute_of_payment'])}"
    if "action_id" in exp:
        return f"{kind}:action:{exp['action_id']}"
    if "payment_id" in exp:
        return f"{kind}:payment:{exp['payment_id']}"
    return f"{kind}:order:{_order_id(conn, exp['order_number'])}"


def expected_keys(engine: Engine, scenario: dict[str, Any]) -> dict[str, str]:
    """exception_key -> planted case name, for every expected exception of the scenario."""
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for case in scenario["demo"]["reconciliation"]["cases"]:
            for exp in case["expected_exceptions"]:
                out[key_of(conn, exp)] = case["case"]
    return out


def control_orders(scenario: dict[str, Any]) -> list[str]:
    return [n for c in scenario["demo"]["reconciliation"]["controls"] for n in c["orders"]]
