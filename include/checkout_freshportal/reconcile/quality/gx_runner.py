"""Runs the checks with Great Expectations 1.x against the warehouse, in the warehouse.

Why this shape:

* Great Expectations is imported here, inside :func:`run_checks`, never at module level: the
  import costs seconds (about 9 s on the Airflow machines), and the library is imported by DAG
  files at parse time. Its analytics are switched off (``GX_ANALYTICS_ENABLED=False``) before
  the import, and the context is *ephemeral*: nothing is written to the repository, the working
  directory or the home directory (Data Docs only into a directory the caller names).
* One SQL data source on the warehouse URL, one table asset per checked table with a
  whole-table batch, one suite and one validation definition per table: results group by
  table as Data Docs show them.
* Every check is an :class:`UnexpectedRowsExpectation` subclass that asks Great Expectations for
  one metric only, the query's rows, and gets the count from ``COUNT(*) OVER ()`` in the same
  query. The stock expectation runs the query twice (``SELECT COUNT(*)`` around it, then the
  rows, all fetched by the driver); on two million report lines that doubles the suite's time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.logsafe import safe
from checkout_freshportal.reconcile.quality.checks import Check

#: Name under which Great Expectations registers the expectation (snake case of the class).
EXPECTATION_TYPE = "expect_cfp_no_unexpected_rows"
#: The Data Docs site built when the caller names a directory.
DOCS_SITE = "cfp_data_quality"


class QualitySuiteError(RuntimeError):
    """The suite could not run at all (Great Expectations could not open the warehouse)."""


@dataclass(frozen=True)
class Outcome:
    """What Great Expectations found for one check."""

    unexpected_count: int
    samples: tuple[str, ...]
    infos: tuple[str | None, ...]
    #: Set when the query could not run (escaped, bounded; the check counts as failed).
    error: str | None = None


def sample_query(check: Check, limit: int) -> str:
    """The check's query wrapped to return its count and at most ``limit`` sample rows, in one pass."""
    return (
        "SELECT COUNT(*) OVER () AS unexpected_count, bad.sample_key AS sample_key, bad.info AS info"
        f" FROM ({check.query}) bad ORDER BY bad.sample_key LIMIT {int(limit)}"
    )


@lru_cache(maxsize=1)
def _gx() -> Any:
    """Great Expectations, imported once, analytics off (see the module docstring)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations as gx

    return gx


@lru_cache(maxsize=1)
def expectation_class() -> type:
    """The one-pass expectation, defined once per process (Great Expectations registers classes
    by name when they are created)."""
    from great_expectations.expectations import UnexpectedRowsExpectation

    class ExpectCfpNoUnexpectedRows(UnexpectedRowsExpectation):
        """No row comes back from ``unexpected_rows_query``; its rows carry ``unexpected_count``."""

        metric_dependencies = ("unexpected_rows_query.table",)

        def _validate(
            self,
            metrics: dict[str, Any],
            runtime_configuration: dict[str, Any] | None = None,
            execution_engine: Any = None,
        ) -> dict[str, Any]:
            rows = metrics["unexpected_rows_query.table"]
            count = int(rows[0]["unexpected_count"]) if rows else 0
            return {
                "success": count == 0,
                "result": {"observed_value": count, "details": {"unexpected_rows": rows}},
            }

    return ExpectCfpNoUnexpectedRows


@contextmanager
def _context(engine: sa.Engine, docs_dir: Path | None) -> Iterator[tuple[Any, Any]]:
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    if docs_dir is not None:
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    url = engine.url.render_as_string(hide_password=False)
    # The engine-specific sources (same SQL path; the generic one warns on every run).
    add = {
        "postgresql": context.data_sources.add_postgres,
        "sqlite": context.data_sources.add_sqlite,
    }.get(engine.dialect.name, context.data_sources.add_sql)
    try:
        source = add(name="warehouse", connection_string=url)
    except Exception as exc:  # the message may echo the URL: never its password
        text = str(exc).splitlines()[0] if str(exc) else ""
        if engine.url.password:
            text = text.replace(str(engine.url.password), "***")
        raise QualitySuiteError(f"Great Expectations cannot open the warehouse: {safe(text, 300)}") from None
    try:
        yield context, source
    finally:
        with suppress(Exception):  # nothing to release if the engine never came up
            source.get_engine().dispose()


def _outcome(result: Any) -> Outcome:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        message = str(info.get("exception_message") or "unknown error").splitlines()[0]
        return Outcome(0, (), (), error=safe(message, 300))
    rows = (result.result or {}).get("details", {}).get("unexpected_rows") or []
    count = int(result.result.get("observed_value") or 0)
    return Outcome(
        count,
        tuple(safe(r.get("sample_key")) for r in rows),
        tuple(None if r.get("info") is None else safe(r.get("info")) for r in rows),
    )


def run_checks(
    engine: sa.Engine,
    checks: Sequence[Check],
    *,
    sample_size: int,
    docs_dir: Path | None = None,
    run_name: str | None = None,
) -> dict[str, Outcome]:
    """Each check's outcome by name: validated table by table in one ephemeral context."""
    gx = _gx()
    expectation = expectation_class()
    by_table: dict[str, list[Check]] = {}
    for check in checks:
        by_table.setdefault(check.table, []).append(check)
    outcomes: dict[str, Outcome] = {}
    with _context(engine, docs_dir) as (context, source):
        validations = []
        for table, table_checks in by_table.items():
            suite = context.suites.add(gx.ExpectationSuite(name=f"cfp_dq_{table}"))
            for check in table_checks:
                suite.add_expectation(
                    expectation(
                        unexpected_rows_query=sample_query(check, sample_size),
                        description=check.description,
                        meta={"check_name": check.name, "severity": check.severity},
                    )
                )
            try:
                asset = source.add_table_asset(name=table, table_name=table)
                batch = asset.add_batch_definition_whole_table(f"{table}_whole")
            except Exception as exc:  # a table that cannot be read fails its checks, not the others
                error = safe(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", 300)
                outcomes.update({c.name: Outcome(0, (), (), error=error) for c in table_checks})
                continue
            validations.append(
                context.validation_definitions.add(
                    gx.ValidationDefinition(name=f"cfp_dq_{table}", data=batch, suite=suite)
                )
            )
        outcomes.update(
            _run_checkpoint(gx, context, validations, docs=docs_dir is not None, run_name=run_name)
        )
    return outcomes


def _run_checkpoint(
    gx: Any, context: Any, validations: list[Any], *, docs: bool, run_name: str | None
) -> dict[str, Outcome]:
    """One checkpoint over every table's validation; it stores the results (in memory) and,
    with ``docs``, renders them into the Data Docs site."""
    if not validations:
        return {}
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.run_identifier import RunIdentifier

    actions = [UpdateDataDocsAction(name="data_docs", site_names=[DOCS_SITE])] if docs else []
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="cfp_data_quality",
            validation_definitions=validations,
            actions=actions,
            result_format={"result_format": "COMPLETE"},
        )
    )
    result = checkpoint.run(run_id=RunIdentifier(run_name=run_name) if run_name else None)
    return {
        item.expectation_config.meta["check_name"]: _outcome(item)
        for run in result.run_results.values()
        for item in run.results
    }
