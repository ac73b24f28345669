"""``run_quality``: the data-quality suite of one reconciliation run, stored and judged.

Results go to ``recon_dq_results`` (one row per check and run; a rerun of the run replaces its
rows) so the report shows them, and the run's verdict to ``recon_runs.dq_status``. The caller
decides what a failure does: :meth:`QualityResult.raise_for_critical` raises
:class:`DataQualityFailed` naming each failed critical check, which fails the Airflow task
loudly; warnings only show in the report.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.errors import PermanentError
from checkout_freshportal.logsafe import safe
from checkout_freshportal.reconcile.quality.checks import CRITICAL, WARNING, Check, build_checks
from checkout_freshportal.reconcile.quality.settings import QualitySettings
from checkout_freshportal.warehouse.engine import claim_sqlite_write_lock
from checkout_freshportal.warehouse.schema.recon import recon_dq_results, recon_runs

log = logging.getLogger(__name__)

PASSED, FAILED = "passed", "failed"


@dataclass(frozen=True)
class CheckResult:
    name: str
    table: str
    severity: str
    success: bool
    unexpected_count: int
    #: Up to ``sample_size`` keys of unexpected rows (ids, escaped; never personal data).
    samples: tuple[str, ...] = ()
    #: What the check saw, one short line (escaped).
    observed: str = ""
    description: str = ""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "check_name": self.name,
            "table": self.table,
            "severity": self.severity,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "samples": list(self.samples),
            "observed": self.observed,
            "error": self.error,
        }


class DataQualityFailed(PermanentError, RuntimeError):
    """A critical data-quality check failed: reconciliation results from this data are not to
    be trusted. Permanent: the same data fails again; fix the data (or the feed) and rerun."""

    def __init__(self, run_id: str, failed: Sequence[CheckResult]) -> None:
        self.run_id = run_id
        self.failed = tuple(failed)
        parts = []
        for r in self.failed:
            what = f"could not run ({r.error})" if r.error else f"{r.unexpected_count} unexpected"
            sample = f", e.g. {', '.join(r.samples[:5])}" if r.samples else ""
            parts.append(f"{r.name} ({r.table}): {what}{sample}")
        super().__init__(
            f"data quality failed for run {safe(run_id)}: {len(parts)} critical check(s) failed: "
            + "; ".join(parts)
        )


@dataclass(frozen=True)
class QualityResult:
    run_id: str
    as_of: datetime
    checks: tuple[CheckResult, ...]
    elapsed_seconds: float = field(default=0.0, compare=False)

    @property
    def failed_critical(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.success and c.severity == CRITICAL)

    @property
    def failed_warnings(self) -> tuple[CheckResult, ...]:
        return tuple(c for c in self.checks if not c.success and c.severity == WARNING)

    @property
    def status(self) -> str:
        """``failed`` if a critical check failed, ``warning`` if only warnings did, else ``passed``."""
        if self.failed_critical:
            return FAILED
        return WARNING if self.failed_warnings else PASSED

    def by_name(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def raise_for_critical(self) -> None:
        if self.failed_critical:
            raise DataQualityFailed(self.run_id, self.failed_critical)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "status": self.status,
            "checks": len(self.checks),
            "failed_critical": [c.name for c in self.failed_critical],
            "failed_warnings": [c.name for c in self.failed_warnings],
            # what an operator reads first in the task's return value / `cfp reconcile` output
            "failures": [c.as_dict() for c in self.checks if not c.success],
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }


def _observed(check: Check, count: int, infos: Sequence[str | None], error: str | None) -> str:
    if error:
        return f"could not run: {error}"
    if count == 0:
        return f"0 {check.unit}"
    if check.name.startswith("freshness_"):
        if infos and infos[0] is None:
            return "source is empty (no rows)"
        return f"stale: newest row at {infos[0] if infos else '?'}"
    first = f" (first: {infos[0]})" if infos and infos[0] else ""
    return f"{count} {check.unit}{first}"


def evaluate(checks: Sequence[Check], outcomes: dict[str, Any]) -> tuple[CheckResult, ...]:
    results = []
    for check in checks:
        out = outcomes.get(check.name)
        error = out.error if out is not None else "no result from Great Expectations"
        count = out.unexpected_count if out is not None else 0
        samples = out.samples if out is not None else ()
        infos = out.infos if out is not None else ()
        results.append(
            CheckResult(
                name=check.name,
                table=check.table,
                severity=check.severity,
                success=error is None and count == 0,
                unexpected_count=count,
                samples=samples,
                observed=safe(_observed(check, count, infos, error), 300),
                description=check.description,
                error=error,
            )
        )
    return tuple(results)


def store(engine: sa.Engine, result: QualityResult, checked_at: datetime) -> None:
    """Replace the run's rows in ``recon_dq_results``; set ``recon_runs.dq_status`` if the run exists."""
    rows = [
        {
            "run_id": result.run_id,
            "check_name": c.name,
            "table_name": c.table,
            "severity": c.severity,
            "success": c.success,
            "unexpected_count": c.unexpected_count,
            "observed": c.observed,
            "details": {"samples": list(c.samples), "description": c.description, "error": c.error},
            "checked_at": checked_at,
        }
        for c in result.checks
    ]
    with engine.begin() as conn:
        claim_sqlite_write_lock(conn)
        conn.execute(sa.delete(recon_dq_results).where(recon_dq_results.c.run_id == result.run_id))
        if rows:
            conn.execute(sa.insert(recon_dq_results), rows)
        conn.execute(
            sa.update(recon_runs).where(recon_runs.c.run_id == result.run_id).values(dq_status=result.status)
        )


def run_quality(
    engine: sa.Engine,
    *,
    run_id: str,
    as_of: datetime,
    settings: QualitySettings | None = None,
    docs_dir: Path | None = None,
) -> QualityResult:
    """Run every check in the warehouse, store the results for ``run_id`` and return them.

    Never raises for bad data (call :meth:`QualityResult.raise_for_critical`); a check whose
    query cannot run counts as failed with the reason. ``docs_dir``: also build Great
    Expectations Data Docs (HTML) there.
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    from checkout_freshportal.reconcile.quality.gx_runner import run_checks

    settings = settings or QualitySettings.load()
    started = time.monotonic()
    checks = build_checks(engine.dialect.name, as_of, settings)
    outcomes = run_checks(
        engine, checks, sample_size=settings.sample_size, docs_dir=docs_dir, run_name=safe(run_id)
    )
    result = QualityResult(run_id, as_of, evaluate(checks, outcomes), time.monotonic() - started)
    store(engine, result, datetime.now(UTC))
    log.info(
        "data quality run %s: %s (%d checks, critical failed: %s, warnings: %s) in %.1f s",
        safe(run_id),
        result.status,
        len(result.checks),
        ", ".join(c.name for c in result.failed_critical) or "none",
        ", ".join(c.name for c in result.failed_warnings) or "none",
        result.elapsed_seconds,
    )
    return result
