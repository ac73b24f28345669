"""The import contracts of pyproject.toml hold, and they would notice a breach.

`make test` runs lint-imports itself; running it here as well puts a broken contract in the pytest
report CI shows. The contracts name the bare module names of dags/ and plugins/ (Airflow imports
them from sys.path, not as packages), so a new file there that nobody adds to the contracts would
slip through: one test compares the lists with the folders. The last test breaks each contract in
a scratch copy of the tree, so a contract that checks nothing (a misspelt module, a root the
checker does not see) fails here instead of passing forever.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _bare_modules(folder: str) -> set[str]:
    return {p.stem for p in (REPO_ROOT / folder).glob("*.py")}


def _lint_imports(cwd: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_import_contracts_hold() -> None:
    result = _lint_imports(REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_contracts_name_every_dag_and_plugin_module() -> None:
    contracts = _contracts()
    dag_modules, plugin_modules = _bare_modules("dags"), _bare_modules("plugins")
    assert dag_modules
    assert plugin_modules
    adapters = set(contracts["library-without-adapters"]["forbidden_modules"])
    assert dag_modules | plugin_modules | {"dags", "plugins"} <= adapters
    assert "cfp_airflow" in adapters
    provider_rule = set(contracts["provider-without-dags-and-plugins"]["forbidden_modules"])
    assert dag_modules | plugin_modules | {"dags", "plugins"} <= provider_rule
    plugins_rule = set(contracts["plugins-without-dags"]["forbidden_modules"])
    assert dag_modules | {"dags"} <= plugins_rule


# (file to break, line appended to it, contract name expected among the broken ones)
BREACHES = [
    (
        "include/checkout_freshportal/money.py",
        "import airflow.sdk",
        "The library imports neither Airflow nor the development package",
    ),
    (
        "include/checkout_freshportal/timeutil.py",
        "from cfp_dev.sandbox.checkout import clock",
        "The library imports neither Airflow nor the development package",
    ),
    (
        "include/checkout_freshportal/config.py",
        "import warehouse_hook",
        "The library imports no Airflow adapter (provider, DAG or plugin module)",
    ),
    (
        "include/checkout_freshportal/money.py",
        "import cfp_airflow.hooks",
        "The library imports no Airflow adapter (provider, DAG or plugin module)",
    ),
    (
        "airflow_provider/cfp_airflow/connection.py",
        "import warehouse_hook",
        "The Airflow provider imports no DAG or plugin module",
    ),
    (
        "airflow_provider/cfp_airflow/connection_types.py",
        "from cfp_dev.sandbox import checkout",
        "DAGs, plugins and the provider import nothing from the development package",
    ),
    ("plugins/ingest_tasks.py", "import checkout_ingest", "Plugins import no DAG module"),
    (
        "include/checkout_freshportal/warehouse/upsert.py",
        "from checkout_freshportal.sync import orders",
        "Inside the library, each layer imports only the layers below it",
    ),
    (
        "include/checkout_freshportal/http/retry.py",
        "from checkout_freshportal.checkout import statuses",
        "Inside the library, each layer imports only the layers below it",
    ),
    (
        "dags/checkout_events.py",
        "import cfp_dev.sandbox",
        "DAGs, plugins and the provider import nothing from the development package",
    ),
]


@pytest.fixture(scope="module")
def scratch_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the checked packages for all the breaches (each one is undone after use)."""
    root = tmp_path_factory.mktemp("tree")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("include", "airflow_provider", "dev", "dags", "plugins"):
        shutil.copytree(REPO_ROOT / folder, root / folder, ignore=ignore)
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize(("target", "line", "contract"), BREACHES, ids=[b[1] for b in BREACHES])
def test_each_contract_catches_a_breach(scratch_tree: Path, target: str, line: str, contract: str) -> None:
    """The copy comes first on PYTHONPATH, so the checker reads it rather than the editable installs."""
    path = scratch_tree / target
    original = path.read_text(encoding="utf-8")
    path.write_text(f"{original}\n{line}\n", encoding="utf-8")
    try:
        copies = os.pathsep.join(str(scratch_tree / f) for f in ("include", "airflow_provider", "dev"))
        result = _lint_imports(scratch_tree, pythonpath=copies)
    finally:
        path.write_text(original, encoding="utf-8")

    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Contracts:")[0]
    assert f"{contract} BROKEN" in broken, result.stdout


def test_the_scratch_tree_alone_keeps_every_contract(scratch_tree: Path) -> None:
    """Without a breach the copy passes: the failures above come from the breach, not the copy."""
    copies = os.pathsep.join(str(scratch_tree / f) for f in ("include", "airflow_provider", "dev"))
    result = _lint_imports(scratch_tree, pythonpath=copies)
    assert result.returncode == 0, result.stdout + result.stderr
