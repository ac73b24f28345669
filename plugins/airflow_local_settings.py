"""Cluster policy of the deployment: every task of every DAG gets the project's callbacks.

Airflow imports ``airflow_local_settings`` from its plugins folder (and ``$AIRFLOW_HOME/config``)
when it starts, in the dag-processor and in every worker, and applies ``task_policy`` to each
task of each DAG it parses. A policy rather than ``default_args`` in each DAG file: a DAG added
later cannot forget it, and a task that sets its own ``default_args`` keeps the callbacks
(docs/observability.md, "Task failures").
"""

from __future__ import annotations

from typing import Any

from failure_callbacks import attach


def task_policy(task: Any) -> None:
    attach(task)
