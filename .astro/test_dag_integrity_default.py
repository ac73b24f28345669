"""Every DAG file imports cleanly, offline, and carries what the project requires of a DAG.

The check ``astro dev parse`` (and ``astro dev pytest``) runs in the image before a deploy, in
the shape ``astro dev init`` writes, adapted to Airflow 3.3 and to this project:

* parsing happens with the network and every database driver refused, so a DAG file that opens
  a connection at import time (a Connection lookup, a warehouse query) fails here instead of
  slowing down or breaking the dag-processor, which re-parses every file every few seconds;
* nothing is monkeypatched to make a failing file pass (the generated test fakes Connections,
  Variables and ``os.getenv``): DAG files of this project read only schedules from the
  environment, with defaults, so an import error here is a real one;
* every DAG has an owner other than ``airflow``, tags and ``retries >= 1`` on every task
  (docs/architecture.md: a transient API or database error is retried, a permanent one is not).

Files listed in ``.astro/dag_integrity_exceptions.txt`` (one ``dags/<file>.py`` per line) are
exempt from the import check only. ``make test`` collects this file too (``testpaths`` in
pyproject.toml).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

PROJECT = Path(__file__).resolve().parents[1]
DAGS = PROJECT / "dags"
PLUGINS = PROJECT / "plugins"
EXCEPTIONS = Path(__file__).with_name("dag_integrity_exceptions.txt")

# In the image AIRFLOW_HOME is the project (/usr/local/airflow). Run from a checkout, Airflow
# must not read or create a developer's ~/airflow: a throwaway home is used instead.
if "AIRFLOW_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="cfp-astro-parse-")
    atexit.register(shutil.rmtree, _home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = _home
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# DAG files import the shared plugins/ modules by bare name, as the dag-processor allows.
if str(PLUGINS) not in sys.path:
    sys.path.insert(0, str(PLUGINS))


class ParseTimeAccess(RuntimeError):
    """A DAG file tried to reach the network or a database while being imported."""


def _refuse(what: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise ParseTimeAccess(f"{what} at DAG parse time")

    return refuse


@contextmanager
def _offline() -> Iterator[None]:
    """Sockets, SQLite and the PostgreSQL drivers refuse to connect (libpq opens its own
    sockets, so the drivers are closed off themselves, not only Python's socket module)."""
    import sqlalchemy.engine

    targets: list[tuple[Any, str]] = [
        (socket.socket, "connect"),
        (socket.socket, "connect_ex"),
        (socket, "create_connection"),
        (sqlite3, "connect"),
        (sqlalchemy.engine.Engine, "connect"),
        (sqlalchemy.engine.Engine, "raw_connection"),
    ]
    for driver in ("psycopg", "psycopg2"):
        try:
            module = __import__(driver)
        except ImportError:
            continue
        targets.append((module, "connect"))
    with ExitStack() as stack:
        for owner, name in targets:
            label = f"{getattr(owner, '__name__', owner)}.{name}"
            stack.enter_context(mock.patch.object(owner, name, _refuse(label)))
        yield


@pytest.fixture(scope="module")
def dag_bag() -> Any:
    from airflow.models import DagBag

    with _offline():
        # Airflow 3.3: no include_examples argument; AIRFLOW__CORE__LOAD_EXAMPLES (above) rules.
        return DagBag(dag_folder=str(DAGS))


def _exempt() -> set[str]:
    if not EXCEPTIONS.exists():
        return set()
    lines = (ln.strip() for ln in EXCEPTIONS.read_text().splitlines())
    return {ln for ln in lines if ln and not ln.startswith("#")}


DAG_FILES = sorted(p.relative_to(PROJECT).as_posix() for p in DAGS.glob("*.py"))


def test_there_are_dag_files() -> None:
    assert DAG_FILES, f"no DAG files in {DAGS}"


@pytest.mark.parametrize("rel_path", DAG_FILES)
def test_file_imports(dag_bag: Any, rel_path: str) -> None:
    errors = {Path(k).resolve(): v for k, v in dag_bag.import_errors.items()}
    error = errors.get((PROJECT / rel_path).resolve())
    if error is not None and rel_path not in _exempt():
        pytest.fail(f"{rel_path} failed to import:\n{error.strip()}")
    defined = {Path(d.fileloc).resolve() for d in dag_bag.dags.values()}
    if error is None:
        assert (PROJECT / rel_path).resolve() in defined, f"{rel_path} defines no DAG"


def test_dags_have_owner_tags_and_retries(dag_bag: Any) -> None:
    assert dag_bag.dags, "no DAG parsed"
    problems: list[str] = []
    for dag_id, dag in sorted(dag_bag.dags.items()):
        if not dag.tags:
            problems.append(f"{dag_id}: no tags")
        if not dag.owner or dag.owner == "airflow":
            problems.append(f"{dag_id}: owner {dag.owner!r} (set default_args['owner'])")
        problems.extend(
            f"{dag_id}.{task.task_id}: retries={task.retries}" for task in dag.tasks if task.retries < 1
        )
    assert not problems, "\n".join(problems)
