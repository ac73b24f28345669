"""One reconciliation run: match, detect, persist exceptions, write the totals.

``run_reconciliation`` records the run in ``recon_runs`` (``running``, then ``succeeded`` or
``failed`` with the escaped error) and does all its work in one transaction: a failed run leaves
the previous results untouched. Everything happens in the warehouse (scratch tables filled by
``INSERT ... SELECT``); Python only sees counts and the few payout sums.

Full or incremental (docs/reconciliation.md "Incremental runs"): incremental when the settings
allow it, a succeeded run exists, the thresholds and confirmed statuses are those of the last
run, and the last full run is younger than ``full_every``; ``full=True`` forces a full run,
``full=False`` asks for an incremental one (still full when there is no earlier run or the
settings changed, since nothing earlier can be trusted then).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.logsafe import safe, safe_masked
from checkout_freshportal.observability import bind
from checkout_freshportal.reconcile import (
    detect_money,
    detect_orders,
    facts,
    inputs,
    matching,
    order_facts,
    persist,
    scope,
    sqlbits,
)
from checkout_freshportal.reconcile.context import Ctx
from checkout_freshportal.reconcile.found import found_table, name_orders
from checkout_freshportal.reconcile.settings import ReconcileSettings
from checkout_freshportal.reconcile.totals import exception_counts, match_counts, write_totals
from checkout_freshportal.warehouse import locks
from checkout_freshportal.warehouse.engine import claim_sqlite_write_lock
from checkout_freshportal.warehouse.schema import recon_runs

log = logging.getLogger(__name__)

#: Inputs whose ``updated_at`` moves the watermark (what an incremental run looks after).
_WATERMARK_TABLES = (
    "stg_orders",
    "stg_payments",
    "stg_payment_actions",
    "stg_disputes",
    "stg_financial_actions",
    "stg_financial_action_payouts",
    "stg_payouts",
    "stg_refund_requests",
    "stg_payment_status",
    "sync_money_intents",
)


@dataclass
class ReconcileResult:
    run_id: str
    as_of: datetime
    mode: str  # full | incremental
    matches_by_rule: dict[str, int] = field(default_factory=dict)
    #: kind -> status -> count, over all exceptions after the run
    exceptions: dict[str, dict[str, int]] = field(default_factory=dict)
    found: int = 0  # exceptions this run found (in its scope)
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    scope: dict[str, int] = field(default_factory=dict)  # incremental: subjects recomputed
    totals: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per step

    def open_count(self) -> int:
        return sum(by.get("open", 0) for by in self.exceptions.values())

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["totals"] = [{**t, "as_of": t["as_of"].isoformat()} for t in self.totals]
        return out


def default_confirmed_statuses() -> tuple[str, ...]:
    """The FreshPortal mapping's confirmed order statuses (tenant file via CFP_FRESHPORTAL_MAPPING)."""
    from checkout_freshportal.freshportal.mapping import load_mapping

    return tuple(sorted(load_mapping().confirmed_order_statuses))


def fingerprint(settings: ReconcileSettings, confirmed: Collection[str]) -> str:
    """What the results depend on besides the data: a change forces a full run."""
    s = settings
    parts = {
        "payment_due": s.payment_due.total_seconds(),
        "refund_due": s.refund_due.total_seconds(),
        "status_grace": s.status_grace.total_seconds(),
        "settlement_window": s.settlement_window.total_seconds(),
        "suggestion_window": s.suggestion_window.total_seconds(),
        "confirmed": sorted(confirmed),
        "credit_statuses": sorted(s.credit_statuses),
        # bump when the rules change (2: R2 after R1 per payment, shared R3 groups; 3: the kind
        # unconfirmed_order_paid; 4: it judges R3 groups too, whose money counts on a confirmed order;
        # 5: currency_mismatch for money kept for an unconfirmed order in another currency (362ebb2,
        # replaced the same day by 6: that money as unconfirmed_order_paid:order:<id>:currency:<ccy>,
        # and a group's lost chargebacks only those of its payments; 7: amount_mismatch over on the
        # money kept net of refunds, no missing_payment for an order of 0, what is left to capture
        # derived when unreported, an explained exception reopened when its money changes; 8: R1
        # places no payment by an order number several orders hold; 9: one set of separators of
        # an invoice list on both engines; 10: SQLite measures the suggestion window to the
        # microsecond; 11: R3 compares the whole trimmed reference with invoice numbers too; 12:
        # matched judged as the detectors judge, an expired authorisation leaves nothing to
        # capture, an explained exception reopened only in another currency or a wider gap; 13:
        # a reference no JSON array can hold is no invoice list on PostgreSQL either, an explained
        # exception reopened when its gap changes side)
        "engine": 13,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def run_reconciliation(
    engine: sa.Engine,
    settings: ReconcileSettings | None = None,
    *,
    run_id: str,
    as_of: datetime | None = None,
    full: bool | None = None,
    confirmed_statuses: Collection[str] | None = None,
) -> ReconcileResult:
    """Reconciles everything (or what changed) at ``as_of`` (default: now); see the module doc."""
    with bind(run_id=run_id):  # every line of the run carries it (docs/observability.md)
        settings = settings or ReconcileSettings.from_env()
        as_of = (as_of or datetime.now(UTC)).astimezone(UTC)
        confirmed = (
            tuple(sorted(confirmed_statuses))
            if confirmed_statuses is not None
            else default_confirmed_statuses()
        )
        with _one_run_at_a_time(engine):
            result = _decide_and_run(engine, settings, run_id, as_of, full, confirmed)
        log.info(
            "reconciliation %s (%s) done: %s found, %s opened, %s resolved",
            safe(run_id),
            result.mode,
            result.found,
            result.opened,
            result.resolved,
        )
        return result


@contextmanager
def _one_run_at_a_time(engine: sa.Engine) -> Iterator[None]:
    """Runs take turns, from the choice of mode to the commit (PostgreSQL: a session advisory
    lock on a connection of its own; a second run waits for it).

    Two runs at once (the DAG's and a ``cfp reconcile --full`` from a shell) would each decide
    from the same last run, and their writes to the kept tables would interleave: the helper
    tables a full run refreshes on its second connection (reconcile/inputs.py) could then wait
    on rows the other run holds while that run waits on this one, a wait PostgreSQL cannot see
    as a deadlock because half of it is in Python. SQLite's writer lock already serialises the
    runs' transactions."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": locks.RECONCILIATION})
        conn.commit()  # the lock is the session's: no transaction stays open while the run works
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": locks.RECONCILIATION})
            conn.commit()


def _decide_and_run(
    engine: sa.Engine,
    settings: ReconcileSettings,
    run_id: str,
    as_of: datetime,
    full: bool | None,
    confirmed: tuple[str, ...],
) -> ReconcileResult:
    fp = fingerprint(settings, confirmed)
    started = datetime.now(UTC)
    with engine.begin() as conn:
        claim_sqlite_write_lock(conn)
        prev = _last_runs(conn, run_id)
        last = prev["last"]
        if last is not None and as_of < last.as_of:
            # Resolving at an instant before the last run would close exceptions before they
            # were first seen: the history only moves forward.
            raise ValueError(
                f"reconciliation as of {as_of.isoformat()} is before the last succeeded run's "
                f"as of {last.as_of.isoformat()}; choose a later instant"
            )
        mode, since, prev_as_of = _choose_mode(settings, full, fp, prev, as_of)
        _start_run(conn, run_id, as_of, mode, started)
    try:
        with engine.begin() as conn:
            # Take SQLite's write lock first: the run reads, then writes, and a commit by the
            # sidecar or a loader in between would otherwise fail it at once (SQLITE_BUSY).
            claim_sqlite_write_lock(conn)
            ctx = Ctx(conn, run_id, as_of, settings, confirmed, mode)
            return _run(ctx, since, prev_as_of, fp)
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(
                recon_runs.update()
                .where(recon_runs.c.run_id == run_id)
                .values(
                    status="failed",
                    finished_at=datetime.now(UTC),
                    error=safe_masked(f"{type(exc).__name__}: {exc}", 500),
                )
            )
        raise


def _start_run(conn: sa.Connection, run_id: str, as_of: datetime, mode: str, started: datetime) -> None:
    """The run's row, as ``running``. A retried or cleared task reuses its run id (Airflow's):
    the row of the earlier attempt, failed, killed mid-run or succeeded, starts over."""
    values = {"as_of": as_of, "mode": mode, "status": "running", "started_at": started}
    again = conn.execute(
        recon_runs.update()
        .where(recon_runs.c.run_id == run_id)
        .values(
            **values,
            finished_at=None,
            inputs_watermark=None,
            dq_status=None,
            counts=None,
            report_path=None,
            error=None,
        )
    )
    if again.rowcount == 0:
        conn.execute(recon_runs.insert().values(run_id=run_id, **values))
    else:
        log.info("reconciliation run %s starts over (an earlier attempt left its row)", safe(run_id))


def _last_runs(conn: sa.Connection, run_id: str) -> dict[str, Any]:
    """The newest succeeded runs other than ``run_id`` (a retry does not compare with itself)."""
    r = recon_runs
    ok = sa.and_(r.c.status == "succeeded", r.c.run_id != run_id)
    last = conn.execute(
        sa.select(r.c.as_of, r.c.inputs_watermark, r.c.counts)
        .where(ok)
        .order_by(r.c.as_of.desc(), r.c.started_at.desc())
        .limit(1)
    ).first()
    last_full = conn.execute(sa.select(sa.func.max(r.c.as_of)).where(ok, r.c.mode == "full")).scalar()
    return {"last": last, "last_full": last_full}


def _choose_mode(
    settings: ReconcileSettings, full: bool | None, fp: str, prev: dict[str, Any], as_of: datetime
) -> tuple[str, datetime | None, datetime | None]:
    """(mode, changed-since instant, previous as_of); the instants are None for a full run."""
    last = prev["last"]
    if full or last is None or last.inputs_watermark is None:
        return "full", None, None
    counts = last.counts or {}
    if counts.get("fingerprint") != fp or as_of < last.as_of:
        return "full", None, None
    if full is None:
        if not settings.incremental:
            return "full", None, None
        last_full = prev["last_full"]
        if last_full is None or as_of - last_full >= settings.full_every:
            return "full", None, None
    return "incremental", last.inputs_watermark - scope.WATERMARK_OVERLAP, last.as_of


def _watermark(conn: sa.Connection, since: datetime | None = None) -> datetime | None:
    """The newest stamp of the inputs. An incremental run (``since``: the last run's watermark,
    less ``WATERMARK_OVERLAP``) asks each table only for stamps after ``since``, which its seeds
    read anyway; with none, nothing arrived since the last run and its watermark stays. Reading
    every stamp instead scans the two million report lines whose BRIN ranges all reach the
    last watermark (a bulk load stamps its rows alike): 0.55 s of a 4.3 s rerun at a million
    orders, for a value the run already had."""
    md = recon_runs.metadata
    ob = md.tables["sync_status_outbox"]
    columns = [md.tables[t].c.updated_at for t in _WATERMARK_TABLES] + [ob.c.created_at, ob.c.delivered_at]

    def newest(col: Any) -> datetime | None:
        sel = sa.select(sa.func.max(col))
        return conn.execute(sel if since is None else sel.where(col > since)).scalar()

    values = [s for s in map(newest, columns) if s is not None]
    if values:
        return max(values)
    return None if since is None else since + scope.WATERMARK_OVERLAP


class _Steps:
    """Wall time per step (``ReconcileResult.seconds``, logged at DEBUG): where a slow run spends."""

    def __init__(self, result: ReconcileResult) -> None:
        self.result = result
        self.t = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.result.seconds[name] = round(self.result.seconds.get(name, 0.0) + now - self.t, 3)
        log.debug("reconciliation step %s: %.3f s", name, now - self.t)
        self.t = now


def _run(ctx: Ctx, since: datetime | None, prev_as_of: datetime | None, fp: str) -> ReconcileResult:
    conn = ctx.conn
    sqlbits.prepare_connection(conn, incremental=since is not None)
    watermark = _watermark(conn, since)
    result = ReconcileResult(ctx.run_id, ctx.as_of, ctx.mode)
    step = _Steps(result)
    full = since is None or prev_as_of is None
    # a full run refreshes the inputs derived from staged data alone beside its matching
    with inputs.beside(ctx) if full else contextlib.nullcontext():
        if since is None or prev_as_of is None:
            matching.build_matches(ctx)
        else:
            inputs.refresh_order_invoices(ctx, scope.changed_orders(ctx, since))
            inputs.refresh_paid_out(ctx, since)
            scope.make_scope(ctx)
            scope.seed(ctx, since, prev_as_of)
            step.done("scope")
            if scope.close(ctx):
                result.scope = _scope_sizes(ctx)
            else:
                _widen_to_full(ctx, result)
        step.done("matching")
        _compare(ctx, result, step)
    changes = persist.merge(ctx)
    result.opened, result.reopened, result.resolved = changes.opened, changes.reopened, changes.resolved
    step.done("persist")
    result.totals = write_totals(ctx)
    result.exceptions = exception_counts(ctx)
    result.matches_by_rule = match_counts(ctx)
    step.done("totals")
    _finish(ctx, result, watermark, fp)
    return result


def _widen_to_full(ctx: Ctx, result: ReconcileResult) -> None:
    """An incremental run whose scope kept growing (scope.close) reconciles everything instead,
    in the same transaction: correct at a full run's cost, which such a chain rarely asks for.
    The run is recorded as full (the next incremental runs count from it)."""
    log.warning(
        "reconciliation %s: the incremental scope was still growing after %s rounds of matches; "
        "this run reconciles everything",
        safe(ctx.run_id),
        scope.MAX_CLOSURE_ROUNDS,
    )
    ctx.scope, ctx.mode, result.mode = None, "full", "full"
    if ctx.conn.dialect.name == "postgresql":  # the incremental runs' index-probe costing
        ctx.conn.execute(sa.text("SET LOCAL random_page_cost TO DEFAULT"))
    matching.build_matches(ctx)


def _compare(ctx: Ctx, result: ReconcileResult, step: _Steps) -> None:
    """From this run's matches: the kept matches and order facts, then the exceptions found."""
    matching.store_matches(ctx)
    step.done("store_matches")
    facts.build_groups(ctx)
    facts.build_orders(ctx)
    step.done("facts")
    order_facts.store_order_facts(ctx)
    step.done("order_facts")
    found_table(ctx)
    for detect in (*detect_orders.DETECTORS, *detect_money.DETECTORS):
        result.found += detect(ctx)
        step.done(detect.__name__)
    name_orders(ctx)
    step.done("name_orders")


def _finish(ctx: Ctx, result: ReconcileResult, watermark: datetime | None, fp: str) -> None:
    counts = {
        "fingerprint": fp,
        "matches_by_rule": result.matches_by_rule,
        "exceptions": result.exceptions,
        "found": result.found,
        "opened": result.opened,
        "reopened": result.reopened,
        "resolved": result.resolved,
        "scope": result.scope,
        "seconds": result.seconds,
    }
    ctx.conn.execute(
        recon_runs.update()
        .where(recon_runs.c.run_id == ctx.run_id)
        .values(
            status="succeeded",
            mode=result.mode,  # an incremental run may have widened to a full one
            finished_at=datetime.now(UTC),
            inputs_watermark=watermark,
            counts=counts,
        )
    )


def _scope_sizes(ctx: Ctx) -> dict[str, int]:
    assert ctx.scope is not None
    return {name: sqlbits.count(ctx.conn, t) for name, t in ctx.scope.items()}


__all__ = ["ReconcileResult", "default_confirmed_statuses", "fingerprint", "run_reconciliation"]
