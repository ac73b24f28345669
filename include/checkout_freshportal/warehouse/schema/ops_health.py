"""Operations layer, observability: task failures and the pipeline's health checks.

Written by the failure callback of every project task (plugins/failure_callbacks.py) and by the
``pipeline_health`` DAG; read by operators (docs/observability.md). Migration 0010.
"""

from __future__ import annotations

import sqlalchemy as sa

from checkout_freshportal.warehouse.schema.base import metadata
from checkout_freshportal.warehouse.types import UTCDateTime

ops_task_failures = sa.Table(
    "ops_task_failures",
    metadata,
    # The task instance's identity: a second callback for the same try (a rerun of the callback,
    # a duplicate delivery) updates the row instead of adding one.
    sa.Column("dag_id", sa.Text(), primary_key=True),
    sa.Column("run_id", sa.Text(), primary_key=True),
    sa.Column("task_id", sa.Text(), primary_key=True),
    sa.Column("map_index", sa.Integer(), primary_key=True),  # -1 for an unmapped task, as Airflow
    sa.Column("try_number", sa.Integer(), primary_key=True),
    sa.Column("hostname", sa.Text(), nullable=True),
    sa.Column("exception_class", sa.Text(), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),  # masked and escaped, at most 2,000 characters
    sa.Column("log_url", sa.Text(), nullable=True),
    sa.Column("failed_at", UTCDateTime(), nullable=False),
    sa.Column("notify_channel", sa.Text(), nullable=True),  # none | smtp | webhook
    sa.Column("notified_at", UTCDateTime(), nullable=True),
    sa.Column("notify_error", sa.Text(), nullable=True),  # why the notification failed (masked)
    sa.Index(None, "failed_at"),
    comment="Every failed task instance of the project's DAGs, one row per try, with whether "
    "and how it was notified.",
)

ops_health_checks = sa.Table(
    "ops_health_checks",
    metadata,
    sa.Column("run_id", sa.Text(), primary_key=True),  # the pipeline_health run (or a CLI id)
    sa.Column("check_name", sa.Text(), primary_key=True),
    sa.Column("status", sa.Text(), nullable=False),  # ok | warn | alert
    sa.Column("measure", sa.BigInteger(), nullable=True),  # the number compared (count, seconds)
    sa.Column("value", sa.Text(), nullable=True),  # the measure as shown ("42 min", "17 events")
    sa.Column("threshold", sa.Text(), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True),
    sa.Column("checked_at", UTCDateTime(), nullable=False),
    sa.Index(None, "check_name", "checked_at"),
    comment="Results of the pipeline_health checks, one row per run and check.",
)
