"""The Celery app docker-compose.yaml's workers run and their healthcheck pings can be loaded.

`airflow celery worker` and `celery --app <module>.app inspect ping` both import the Celery
provider's executor module; if it cannot be imported, no worker starts and the scheduler cannot
queue a task. Checked against the lock's packages (the image installs the same pins).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _healthcheck_app() -> str:
    worker = yaml.safe_load((REPO / "docker-compose.yaml").read_text())["services"]["airflow-worker"]
    test = " ".join(worker["healthcheck"]["test"])
    found = re.search(r"celery --app (\S+)\.app inspect ping", test)
    assert found, test
    return found.group(1)


def test_the_workers_celery_app_imports() -> None:
    # celery 5.7 dropped celery.backends.database.retry, which the provider's executor imports:
    # the lock keeps celery at 5.6 until a provider release stops importing it.
    module = importlib.import_module(_healthcheck_app())
    from celery import Celery

    assert isinstance(module.app, Celery)
