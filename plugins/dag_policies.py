"""What every DAG of the project shares: schedules from the environment, warehouse assets, and
the retry policy that refuses to retry errors a retry cannot fix.

Kept in plugins/ (on the dag-processor's path). The only library import is
``checkout_freshportal.errors``, which imports nothing itself, so a DAG file that imports this
still parses in milliseconds.
"""

from __future__ import annotations

import os

from airflow.sdk import Asset, ExceptionRetryPolicy, RetryAction, RetryRule

from checkout_freshportal.errors import is_permanent


class PermanentErrorRule(RetryRule):
    """Matches an exception whose nearest ``permanent`` marker in its cause chain is True.

    One rule instead of a list of dotted class names: the library marks what a retry cannot fix
    (a 4xx other than 409/429, bad settings, unreadable money or timestamps, an unmapped status),
    so a class renamed or added keeps its behaviour and no DAG has to list it. Airflow stores
    only a "has retry policy" flag when it serialises a DAG; this object is evaluated in the
    worker that parsed the DAG file.
    """

    def __init__(self, *, reason: str) -> None:
        super().__init__(exception=BaseException, action=RetryAction.FAIL, reason=reason)

    def matches(self, exc: BaseException) -> bool:
        return is_permanent(exc)


def schedule_from_env(variable: str, default: str) -> str | None:
    """A cron/preset from ``variable``; ``none`` (or empty) turns the schedule off."""
    value = os.environ.get(variable, default).strip()
    return None if value.lower() in {"", "none"} else value


def warehouse_asset(table: str) -> Asset:
    return Asset(name=table, uri=f"cfp-warehouse://warehouse/{table}", group="warehouse")


def no_retry_on_permanent_errors(*, reason: str) -> ExceptionRetryPolicy:
    """Fail at once (no retry) on a permanent error; the task's retry settings apply otherwise."""
    return ExceptionRetryPolicy(rules=[PermanentErrorRule(reason=reason)])


class StepFailed(RuntimeError):
    """Raised by a DAG's watcher leaf: an earlier step failed; its log says what and why.

    Permanent (no retry): the failed step itself is what to look at. A plain class here (not
    the library's ``PermanentError``) keeps the marker readable by :func:`is_permanent`.
    """

    permanent = True


def fail_run(dag_id: str) -> None:
    """The body of a watcher leaf (``trigger_rule="one_failed"``): fail the run.

    DAGs whose later steps run ``all_done`` (so money outcomes never wait on a feed) would
    otherwise be marked successful by Airflow, which judges a run by its leaves.
    """
    raise StepFailed(f"a {dag_id} step failed in this run; its log says which items and why")
