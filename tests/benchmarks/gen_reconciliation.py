"""A deterministic generator of a reconciliation-sized warehouse, written straight into the staged tables.

Why not through the loaders: a million orders through the FreshPortal feed, the Checkout.com API
and report files would take an hour and measure the loaders (they have benchmarks of their own).
Reconciliation only reads the staged tables, so this fills them the way the loaders would leave
them, with set-based ``INSERT ... SELECT`` on the database itself (PostgreSQL ``generate_series``,
SQLite a recursive CTE, both into a numbers table): a million orders and two million report lines
in well under a minute on PostgreSQL, a few minutes on SQLite, with no Python per row.

Every value is a pure function of the order number ``o`` (integer hashing, the same on both
engines), so both engines hold the same data and the same anomalies. Layout by ``r = o % 1000``:

* ``r < 20`` cancelled orders, each with a declined payment (``payment_failed``, informational);
  ``r < 30`` drafts with a voided payment; the rest confirmed (confirmed/picking/delivered/invoiced);
* ``30 <= r < 50`` split payments (60 % + 40 %); ``50 <= r < 130`` a declined retry before the
  captured payment; ``130 <= r < 160`` refunded (full or half) with a FreshPortal request and, for
  half of them, a money intent; ``r = 160, 161`` two invoiced orders paid by one payment whose
  reference lists both invoice numbers (rule R3); ``170 <= r < 180`` no reference, matched by
  ``metadata.order_id`` (R2); half of all other payments carry the metadata too;
* the newest 1 % of orders (every other one) are only authorised: not yet due;
* every capture and refund has a Gross line and a fee line in the financial actions (keys shaped
  as the loader's: a 128-bit line key, occurrence 1, ``*_e8`` amounts with 8 decimals on fees);
  lines processed before ``as_of - 6 days`` are in weekly payouts per currency, each with one
  entity-level line (minimum billing fee, no payment) and an amount that ties out to the minor unit.

Planted anomalies (:data:`PLANTED`, ``K = max(2, orders // 100_000)`` of each, on ordinary orders):
see :func:`expected_exceptions` for the exception counts they must produce. :func:`touch_changes`
changes 1 % of orders, payments and lines (and plants ``orders // 100_000`` new
``amount_mismatch``) for the incremental rerun.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from . import gen_reconciliation_sql as sql
from .gen_reconciliation_sql import Sql, planted_count

#: Order-level planted anomalies (names used in bench_plan).
PLANTED = (
    "missing_orphan",  # payment reference mangled: missing_payment + orphan_payment (+ a suggestion)
    "missing_pure",  # payment only authorised, long past due: missing_payment
    "amount_mismatch",  # captured one minor unit less than ordered
    "currency_mismatch",  # payment in another currency
    "duplicate",  # a second payment captured in full
    "over_refund",  # a duplicate, both refunded in full (with requests)
    "refund_not_executed",  # a FreshPortal refund request 10 days old, nothing at Checkout.com
    "refund_pending",  # a request one hour old, intent accepted: not yet due (no exception)
    "refund_not_requested",  # a refund at Checkout.com that no request or intent knows
    "status_drift",  # FreshPortal shows awaiting_payment, derived paid
    "unsettled_capture",  # capture lines never paid out
    "unsettled_noline",  # capture with no financial-action line at all
    "chargeback_open",
    "chargeback_lost",
    "dispute_won",  # no exception
    "outbox_ok",  # a delivered status-outbox row that agrees (no exception)
)


def planted_orders(orders: int) -> dict[str, list[int]]:
    """Order numbers of each planted kind: ordinary orders (``r >= 200``), old enough to be due."""
    k = planted_count(orders)
    stride = max(1000, (int(0.9 * orders / k) // 1000) * 1000)
    plan = {kind: [j * stride + 200 + i * 13 for j in range(k)] for i, kind in enumerate(PLANTED)}
    last = max(o for os_ in plan.values() for o in os_)
    if orders < 2000 or last > 0.95 * orders:
        raise ValueError(f"too few orders ({orders}) for the planted layout (need >= 2000)")
    return plan


def _count(orders: int, pred: Callable[[int], bool]) -> int:
    return sum(1 for o in range(1, orders + 1) if pred(o))


def expected_exceptions(orders: int, *, touched: bool = False) -> dict[str, int]:
    """Exceptions the generated data must produce, by kind (independent of the SQL below)."""
    k = planted_count(orders)
    out = {
        "missing_payment": 2 * k,  # missing_orphan + missing_pure
        "orphan_payment": 2 * k,  # missing_orphan + the orphan payments with unknown references
        "amount_mismatch": k,
        "currency_mismatch": k,
        "duplicate_payment": k,
        "over_refund": k,
        "refund_not_executed": k,
        "refund_not_requested": k,
        "status_drift": k,
        "unsettled_capture": 2 * k,
        "payout_mismatch": k,
        "chargeback_open": k,
        "chargeback_lost": k,
        "payment_failed": _count(orders, lambda o: o % 1000 < 20),
    }
    if touched:
        out["amount_mismatch"] += _count(orders, lambda o: o % 100_000 == 37)
    return out


@dataclass
class Generated:
    orders: int
    as_of: datetime
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    planted: dict[str, list[int]] = field(default_factory=dict)
    payout_mismatch_ids: list[str] = field(default_factory=list)


def generate(engine: sa.Engine, orders: int, as_of: datetime) -> Generated:
    """Fill an empty, migrated warehouse (see the module docstring); returns row counts and timings."""
    as_of = as_of.astimezone(UTC).replace(microsecond=0)
    q = Sql(engine.dialect.name, as_of)
    out = Generated(orders=orders, as_of=as_of, planted=planted_orders(orders))
    steps: list[tuple[str, Callable[[], list[str]]]] = [
        ("helpers", lambda: sql.helpers(q, orders)),
        ("stg_orders", lambda: [sql.orders(q, orders)]),
        ("stg_payments", lambda: sql.payments(q, orders)),
        ("stg_payment_actions", lambda: sql.actions(q)),
        ("stg_financial_actions", lambda: [sql.lines(q)]),
        ("stg_financial_action_payouts", lambda: sql.payout_links(q)),
        ("stg_payouts", lambda: [sql.payouts(q)]),
        ("others", lambda: sql.others(q)),
    ]
    with engine.begin() as conn:
        if not q.pg:
            conn.exec_driver_sql("PRAGMA cache_size = -262144")
        _plan(conn, out.planted)
        for name, make in steps:
            t0 = time.perf_counter()
            for stmt in make():
                conn.exec_driver_sql(stmt.replace("%", "%%") if q.pg else stmt)  # psycopg's placeholders
            if name == "stg_payouts":
                out.payout_mismatch_ids = sql.plant_payout_mismatch(conn, planted_count(orders))
            out.seconds[name] = time.perf_counter() - t0
        conn.exec_driver_sql("DROP TABLE bench_numbers")
        conn.exec_driver_sql("DROP TABLE bench_plan")
    t0 = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # Only the tables filled here: the recon_* tables stay as on a fresh warehouse (never
        # analyzed), which is what a first reconciliation run meets.
        for t in TABLES:
            conn.exec_driver_sql(f"VACUUM ANALYZE {t}" if q.pg else f"ANALYZE {t}")
    out.seconds["analyze"] = time.perf_counter() - t0
    with engine.connect() as conn:
        for t in TABLES:
            out.rows[t] = conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()
    return out


TABLES = (
    "stg_orders",
    "stg_payments",
    "stg_payment_actions",
    "stg_financial_actions",
    "stg_financial_action_payouts",
    "stg_payouts",
    "stg_disputes",
    "stg_refund_requests",
    "sync_money_intents",
    "stg_payment_status",
    "sync_status_outbox",
    "ops_payment_declines",
)


def _plan(conn: sa.Connection, plan: dict[str, list[int]]) -> None:
    conn.exec_driver_sql("CREATE TABLE bench_plan (o BIGINT PRIMARY KEY, kind TEXT NOT NULL)")
    rows = [{"o": o, "kind": kind} for kind, os_ in plan.items() for o in os_]
    conn.execute(sa.text("INSERT INTO bench_plan (o, kind) VALUES (:o, :kind)"), rows)


# --------------------------------------------------------------------------- the 1 % change


def touch_changes(engine: sa.Engine, now: datetime) -> dict[str, int]:
    """Change 1 % of orders (``o % 100 == 37``), their payments and those payments' lines, with
    ``updated_at = now``; ``o % 100_000 == 37`` also gets its amount raised by one minor unit
    (a new ``amount_mismatch``). Returns the rows changed per table."""
    now = now.astimezone(UTC)
    pg = engine.dialect.name == "postgresql"
    order_ids = "CAST(order_id AS BIGINT) % 100 = 37"
    stmts = {
        "stg_orders": (
            "UPDATE stg_orders SET fp_version = fp_version + 1, line_count = line_count + 1, fp_updated_at "
            "= :now, "
            "amount_minor = amount_minor + CASE WHEN CAST(order_id AS BIGINT) % 100000 = 37 THEN 1 ELSE 0 "
            "END, "
            f"updated_at = :now WHERE {order_ids}"
        ),
        "stg_payments": (
            "UPDATE stg_payments SET response_summary = 'Approved (re-read)', updated_at = :now "
            "WHERE substr(payment_id, 5, 1) IN ('a', 'b', 'c', 'd') AND CAST(substr(payment_id, 6) AS "
            "BIGINT) % 100 = 37"
        ),
        "stg_financial_actions": (
            "UPDATE stg_financial_actions SET fee_detail = 'Fee (restated)', updated_at = :now "
            "WHERE payment_id IN (SELECT payment_id FROM stg_payments WHERE updated_at = :now)"
        ),
    }
    counts: dict[str, int] = {}
    bind = now if pg else now.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    with engine.begin() as conn:
        for table, stmt in stmts.items():
            counts[table] = conn.execute(sa.text(stmt), {"now": bind}).rowcount
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in stmts:
            conn.exec_driver_sql(f"ANALYZE {table}")
    return counts


def default_as_of() -> datetime:
    """Now, whole seconds: the data is laid out backwards from it (see the module docstring)."""
    return datetime.now(UTC).replace(microsecond=0)
