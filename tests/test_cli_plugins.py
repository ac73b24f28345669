"""`cfp sandbox` and `cfp demo` exist only where the development package is installed.

The product CLI finds them through the ``checkout_freshportal.cli`` entry-point group declared in
dev/pyproject.toml; a production install (the image) has no such entry point, so its ``cfp``
offers neither and never imports ``cfp_dev``.
"""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from checkout_freshportal import cli


def _commands(parser: object) -> set[str]:
    sub = next(a for a in parser._actions if a.dest == "command")  # type: ignore[attr-defined]
    return set(sub.choices)


def test_the_dev_package_registers_sandbox_and_demo() -> None:
    names = {e.name for e in entry_points(group=cli.PLUGIN_GROUP)}
    assert {"sandbox", "demo"} <= names
    assert {"sandbox", "demo", "db", "ingest", "sidecar"} <= _commands(cli.build_parser())


def test_without_the_dev_package_cfp_has_neither(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    commands = _commands(cli.build_parser())
    assert "sandbox" not in commands
    assert "demo" not in commands
    assert {"db", "ingest", "sidecar"} <= commands


def test_the_product_cli_imports_no_development_code() -> None:
    """In a fresh interpreter with the plugin group empty, nothing of cfp_dev gets loaded."""
    code = (
        "import sys\n"
        "from checkout_freshportal import cli\n"
        "cli.entry_points = lambda group: []\n"
        "cli.build_parser()\n"
        "print(sorted(m for m in sys.modules if m.startswith('cfp_dev')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
