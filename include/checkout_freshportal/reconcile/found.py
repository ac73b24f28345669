"""The scratch table of what this run found, and the shape every detector's SELECT has.

Every detector is one ``INSERT INTO found SELECT ...``; :func:`row` builds its select list so a
detector names only what it knows (the rest is NULL) and the exception key is built in SQL from
the kind and the subject (the stable formats of the spec, e.g. ``missing_payment:order:<id>``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.reconcile import order_facts, sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.reconcile.kinds import KINDS

#: Columns of ``found`` besides the key, kind and severity (all nullable).
FOUND_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("order_id", sa.Text),
    ("order_number", sa.Text),
    ("payment_id", sa.Text),
    ("payout_id", sa.Text),
    ("refund_request_id", sa.Text),
    ("dispute_id", sa.Text),
    ("action_id", sa.Text),
    ("currency", sa.Text),
    ("expected_minor", sa.BigInteger),
    ("actual_minor", sa.BigInteger),
    ("detail", sa.Text),
)


def found_table(ctx: Ctx) -> sa.Table:
    t = sqlbits.scratch(
        ctx.conn,
        "recon_tmp_found",
        sa.Column("exception_key", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("severity", sa.Text(), nullable=False),
        *[sa.Column(name, typ()) for name, typ in FOUND_COLUMNS],
    )
    ctx.tmp["found"] = t
    return t


def key(kind: str, *parts: tuple[str, Any]) -> Any:
    """``kind:subject:<id>[:subject:<id>]`` in SQL."""
    expr: Any = sa.literal(kind)
    for name, col in parts:
        expr = expr + sa.literal(f":{name}:") + col
    return expr


def text(value: Any) -> Any:
    """A number or text as text in a detail sentence (NULL becomes '?')."""
    return sa.func.coalesce(sa.cast(value, sa.Text), "?")


def row(kind: str, exception_key: Any, **cols: Any) -> list[Any]:
    """The select list of one detector: key, kind, severity, then FOUND_COLUMNS in order."""
    unknown = set(cols) - {name for name, _ in FOUND_COLUMNS}
    if unknown:
        raise ValueError(f"not a column of found: {sorted(unknown)}")
    out: list[Any] = [
        exception_key.label("exception_key"),
        sa.literal(kind).label("kind"),
        sa.literal(KINDS[kind].severity).label("severity"),
    ]
    for name, typ in FOUND_COLUMNS:
        value = cols.get(name)
        out.append((sa.null() if value is None else value).cast(typ()).label(name))
    return out


def add(ctx: Ctx, select: sa.Select[Any]) -> int:
    return sqlbits.fill(ctx.conn, ctx.tmp["found"], select)


def add_found_beside(ctx: Ctx, name: str, select: Callable[[], sa.Select[Any]]) -> int:
    """The rows a full run's second connection found as ``name`` (reconcile/inputs.py), or,
    where it did not look (SQLite, incremental runs, too many rows), ``select()`` run here."""
    found = ctx.wait_for(name)
    return add(ctx, select()) if found is None else add_rows(ctx, found)


def add_rows(ctx: Ctx, rows: Sequence[Mapping[str, Any]]) -> int:
    """Rows found elsewhere (as mappings of ``found``'s columns): on another connection
    (reconcile/inputs.py) or in Python (the payout tie-out)."""
    if rows:
        ctx.conn.execute(ctx.tmp["found"].insert(), list(rows))
    return len(rows)


def name_orders(ctx: Ctx) -> None:
    """The rows found about a payment without an order (its actions, its disputes, a declined
    attempt) get the order that names the payment (``order_facts.order_naming``), all in one
    statement after the detectors, for just these payments."""
    f = ctx.tmp["found"]
    sqlbits.analyze(ctx.conn, f)
    asked = sa.select(f.c.payment_id).where(f.c.payment_id.is_not(None), f.c.order_id.is_(None))
    n = order_facts.order_naming(ctx, asked)
    ctx.conn.execute(
        f.update()
        .values(order_id=n.c.order_id, order_number=n.c.order_number)
        .where(f.c.payment_id == n.c.payment_id, f.c.order_id.is_(None))
    )
