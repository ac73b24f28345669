"""What a full run derives from staged data alone, computed beside its main transaction.

Six pieces of a run depend on the staged data and on nothing the run itself decides:

* ``shared_order_numbers``: the order numbers held by more than one order (usually none), which
  rule R1 matches no payment by (matching.shared_numbers);
* ``order_invoices``: ``recon_order_invoices``, the invoice numbers of orders (rule R3 reads it);
* ``paid_out``: ``recon_paid_out_actions``, the actions with a line in a payout (the settlement
  check, ``unsettled_capture``, reads it);
* ``payout_line_sums``: Σ e8 and the number of lines per payout and line currency (the payout
  tie-out, ``payout_mismatch``), a few hundred rows;
* ``status_drift``: the orders whose FreshPortal payment status differs from the derived one
  (the orders' status, the derived statuses and the outbox are all staged);
* ``unsettled_capture``: the captures past the settlement window with no line in a payout (the
  actions and the paid-out set; the order naming the payment is added by the run afterwards).

On PostgreSQL a full run hands them to a second connection, in a thread, while its own
transaction builds the payment facts and matches them to orders: two backends working on two
cores instead of one after the other. The steps that read a piece wait for it
(:meth:`Ctx.wait_for`); by then it is long done (docs/reconciliation.md "Performance notes").

The two tables are committed by the second connection's own transactions, before the run
commits. They are caches of staged facts, not results: a run that fails later leaves them
correct (the invoice numbers are the orders'; a payout id is never erased, so a paid-out action
stays paid out), and the next run, full or incremental, reads them as they are. The payout sums
and the exceptions found come back as rows (at most ``MAX_ROWS_BACK``; more are left to the run,
which finds them again in the warehouse) and the run writes them into its own scratch tables.

On SQLite (one writer at a time) and in incremental runs (whose refreshes read a few changed
rows, and one of them a scratch table of the run's own connection) the run does the same work on
its own connection, in order, as steps of its transaction. The two tables' refreshes
(:func:`refresh_order_invoices`, :func:`refresh_paid_out`) are here for both.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.logsafe import safe
from checkout_freshportal.reconcile import detect_money, detect_orders, matching, sqlbits
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.warehouse.schema import (
    stg_financial_action_payouts,
    stg_financial_actions,
    stg_orders,
)
from checkout_freshportal.warehouse.schema.recon import recon_order_invoices, recon_paid_out_actions

log = logging.getLogger(__name__)

#: At most this many exceptions found beside come back through Python. More (statuses never
#: synced, say) would cost more as Python rows than finding them again in the warehouse.
MAX_ROWS_BACK = 20_000
#: A side job waiting longer than this for a lock fails (and with it the run); runs take turns
#: (service._one_run_at_a_time), so only an outside writer or a migration can block one.
SIDE_LOCK_TIMEOUT_S = 120


def _side_jobs() -> list[tuple[str, Callable[[Ctx], Any]]]:
    def shared_order_numbers(side: Ctx) -> list[str] | None:
        rows = side.conn.execute(matching.shared_numbers().limit(MAX_ROWS_BACK + 1)).scalars().all()
        return list(rows) if len(rows) <= MAX_ROWS_BACK else None

    def order_invoices(side: Ctx) -> None:
        refresh_order_invoices(side, None)

    def paid_out(side: Ctx) -> None:
        refresh_paid_out(side, None)

    def sums(side: Ctx) -> list[tuple[Any, ...]]:
        with sqlbits.hash_aggregates(side.conn):
            return [tuple(r) for r in side.conn.execute(detect_money.line_sums())]

    def drift(side: Ctx) -> list[dict[str, Any]] | None:
        return _found_rows(side, detect_orders.drift_select(side, stg_orders))

    def unsettled(side: Ctx) -> list[dict[str, Any]] | None:
        return _found_rows(side, detect_money.unsettled_select(side))

    return [
        ("shared_order_numbers", shared_order_numbers),  # first: R1's fix-up waits for it
        ("order_invoices", order_invoices),
        ("paid_out", paid_out),
        ("payout_line_sums", sums),
        ("status_drift", drift),
        ("unsettled_capture", unsettled),  # after paid_out, which it reads
    ]


def _found_rows(side: Ctx, sel: sa.Select[Any]) -> list[dict[str, Any]] | None:
    """A detector's rows, or None when there are more than ``MAX_ROWS_BACK``."""
    rows = [dict(r) for r in side.conn.execute(sel.limit(MAX_ROWS_BACK + 1)).mappings()]
    return rows if len(rows) <= MAX_ROWS_BACK else None


@contextmanager
def beside(ctx: Ctx) -> Iterator[None]:
    """Starts a full run's input work on a second connection (PostgreSQL) or does it inline
    (SQLite); within the block, steps reach it through ``ctx.wait_for``. Leaving the block waits
    for whatever is still running: the run commits only after the side work ended, and an error
    of the side work surfaces in the run (as the error of the step that waits for it, or here)."""
    if ctx.conn.dialect.name != "postgresql":
        refresh_order_invoices(ctx, None)
        refresh_paid_out(ctx, None)
        yield
        return
    engine = ctx.conn.engine
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recon-inputs")
    futures: dict[str, Future[Any]] = {}
    context = contextvars.copy_context()  # the run id bound for logging (observability.bind)

    def run_job(name: str, job: Callable[[Ctx], Any]) -> Any:
        with engine.begin() as conn:
            sqlbits.prepare_connection(conn)
            # The run waits for this work in Python, where PostgreSQL's deadlock detector cannot
            # see it: a job blocked on a lock fails the run after a while instead of hanging it.
            conn.execute(sa.text(f"SET LOCAL lock_timeout = '{SIDE_LOCK_TIMEOUT_S}s'"))
            # One core for this work, the other for the run's own connection: with parallel
            # workers here (the payout sums, the drift) three processes shared the two cores and
            # slowed the run's serial chain, which is what the run waits for. Four alternating
            # pairs of first full runs at a million orders: 1.0-1.3 s faster without them.
            conn.execute(sa.text("SET LOCAL max_parallel_workers_per_gather = 0"))
            side = replace(ctx, conn=conn, tmp={}, scope=None, side={})
            out = job(side)
        log.debug("reconciliation input %s ready", safe(name))
        return out

    for name, job in _side_jobs():
        futures[name] = pool.submit(context.copy().run, run_job, name, job)
    ctx.side = {name: fut.result for name, fut in futures.items()}
    ok = False
    try:
        yield
        ok = True
    finally:
        ctx.side = {}
        pool.shutdown(wait=True, cancel_futures=not ok)
        if ok:
            for fut in futures.values():
                fut.result()  # an error nothing waited for still fails the run
        else:
            for name, fut in futures.items():
                if fut.done() and not fut.cancelled() and fut.exception() is not None:
                    log.warning(
                        "reconciliation input %s failed too: %s", safe(name), safe(str(fut.exception()))
                    )


def refresh_order_invoices(ctx: Ctx, changed_orders: sa.Table | None) -> None:
    """``recon_order_invoices`` for every order (full run) or the changed ones, writing only
    what differs."""
    o, oi = stg_orders, recon_order_invoices
    if changed_orders is None:
        where: Any = sa.true()
        scope: Any = sa.true()
    else:
        changed = sa.select(changed_orders.c.order_id)
        where = o.c.order_id.in_(changed)
        scope = oi.c.order_id.in_(changed)
    elems = sqlbits.json_text_elements(ctx.conn, o.c.invoice_numbers)
    sel = (
        sa.select(elems.c.value.label("invoice_number"), o.c.order_id)
        .distinct()
        .select_from(o.join(elems, sa.true()))
        .where(where, o.c.invoice_numbers.is_not(None), elems.c.value.is_not(None), elems.c.value != "")
    )
    written = sqlbits.sync_rows(ctx.conn, oi, sel, keys=("invoice_number", "order_id"), scope=scope)
    sqlbits.analyze_if_churned(ctx.conn, oi, sum(written))


def refresh_paid_out(ctx: Ctx, since: datetime | None) -> None:
    """Keeps ``recon_paid_out_actions`` (action ids with a line in a payout) current.

    A full run rebuilds it from every line joined to its payout id; an incremental run adds the
    actions of the lines and payout ids stamped after ``since``, both found through the BRIN
    indexes on ``updated_at`` and joined by the lines' key. Adding is enough: a payout id is
    never erased (stg_financial_action_payouts), so a paid-out action stays paid out."""
    fa, fap, t = stg_financial_actions, stg_financial_action_payouts, recon_paid_out_actions
    on = sa.and_(fap.c.processed_on == fa.c.processed_on, fap.c.line_key == fa.c.line_key)
    lines = sa.select(fa.c.action_id.label("action_id")).select_from(fa.join(fap, on))
    if since is None:
        # Left to PostgreSQL's sort-based DISTINCT (it estimates the join at a few rows). With
        # the primary key maintained row by row, hashed ids took 5.5 s to insert against
        # 2.2-2.9 s sorted; into the bare table of a first load the hashed DISTINCT saved 0.8 s
        # and the primary key's sort of unsorted ids then cost 0.8 s more (measured).
        sqlbits.sync_rows(
            ctx.conn, t, lines.distinct(), keys=("action_id",), scope=sa.true(), extra={"run_id": ctx.run_id}
        )
    else:
        for stamped in (fa.c.updated_at > since, fap.c.updated_at > since):
            new = lines.add_columns(sa.literal(ctx.run_id).label("run_id")).where(stamped).distinct()
            sqlbits.fill_new(ctx.conn, t, new)
    sqlbits.analyze(ctx.conn, t, kept=True)


__all__ = ["beside", "refresh_order_invoices", "refresh_paid_out"]
