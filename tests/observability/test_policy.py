"""The cluster policy gives every task of every project DAG the callbacks, after the task's own."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.airflow


def test_attach_keeps_a_task_own_callback_and_adds_ours_once() -> None:
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    from failure_callbacks import attach, on_task_end, on_task_failure, on_task_start

    def mine(context: object) -> None:
        pass

    with DAG("policy_probe", schedule=None):
        task = EmptyOperator(task_id="t", on_failure_callback=mine)
    attach(task)
    attach(task)
    assert list(task.on_failure_callback) == [mine, on_task_failure]
    assert list(task.on_execute_callback) == [on_task_start]
    assert list(task.on_success_callback) == [on_task_end]


def test_every_task_of_every_project_dag_has_them(dagbag) -> None:
    from failure_callbacks import on_task_failure, on_task_start

    assert "pipeline_health" in dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            assert on_task_failure in list(task.on_failure_callback), f"{dag_id}.{task.task_id}"
            assert on_task_start in list(task.on_execute_callback), f"{dag_id}.{task.task_id}"
