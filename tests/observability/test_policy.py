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


def _names(callbacks: object) -> list[str]:
    return [f"{cb.__module__}.{cb.__qualname__}" for cb in list(callbacks)]  # type: ignore[call-overload]


def test_every_task_of_every_project_dag_has_them(dagbag) -> None:
    """By name: ``dag.test`` in an earlier test may have imported the module again."""
    assert "pipeline_health" in dagbag.dags
    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            where = f"{dag_id}.{task.task_id}"
            assert _names(task.on_failure_callback).count("failure_callbacks.on_task_failure") == 1, where
            assert _names(task.on_execute_callback).count("failure_callbacks.on_task_start") == 1, where


def test_a_second_import_of_the_module_adds_no_second_copy() -> None:
    import importlib
    import sys

    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    import failure_callbacks

    with DAG("policy_probe_twice", schedule=None):
        task = EmptyOperator(task_id="t")
    failure_callbacks.attach(task)
    again = importlib.reload(sys.modules["failure_callbacks"])
    again.attach(task)
    assert _names(task.on_failure_callback) == ["failure_callbacks.on_task_failure"]
