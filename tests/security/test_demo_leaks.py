"""The whole demo (``cfp demo``) agrees with its scenario and leaves no configured secret, full
card number or full e-mail.

One ``cfp demo`` run per module, as a newcomer starts it (``make demo``), on the small generated
scenario the distributed run uses too (``SMALL``: one day of history, 8 payments, 10 open orders;
every kind of case, the money cases included, so every DAG, task log, report format and table
still gets written). That one run is also the standalone stack's end-to-end test: the near-real-
time flow and the money cases, each outcome checked against the scenario, read from the demo's
own output, so the suite starts that stack (its most expensive step) once for both. While it
runs, the secrets it configures are read from its processes' environment every second
(``demo_secrets``), and once it is done, everything it wrote is scanned
(dev/cfp_dev/secret_scan.py): every file under ``.demo/`` (sandbox, sidecar and Airflow logs,
task logs, the finance report's HTML, CSV, XLSX, SVG and JSON), the demo's own terminal output,
and every text, JSON and binary column of every table of the warehouse and of Airflow's metadata
database. Zero hits is the only pass.

Not scanned, on purpose, wherever they are under ``.demo/``: ``shared-scenario.json`` (the
simulators' input: the made-up customers' addresses and the public test cards they pay with, not
something the pipeline wrote), ``passwords.json`` (the demo's credential store, where the
Airflow password has to be) and ``airflow.cfg`` (Airflow's generated configuration: its
template's comments carry an example address, and the demo's secrets are not in it). SQLite's
own ``-wal``/``-shm`` files are read through their database. The demo writes to ``.demo/`` at
a folder of its own (``CFP_DEMO_HOME``, ``cfp_dev.paths``), so a demo a person keeps in ``.demo/``
is left alone and this test never shares files with another one.
docs/security.md, "The leak scan".
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cfp_dev.paths import REPO_ROOT
from cfp_dev.secret_scan import Scanner, Secret, sqlite_databases

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_secrets import all_secrets, child_pids, harvest

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.slow,
    pytest.mark.timeout(2400),
    pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc (Linux)"),
]

DEMO_TIMEOUT = 1800.0
#: The smallest generated scenario that still has every kind of case (tests/distributed runs it too).
SMALL = ("--seed", "7", "--days", "1", "--payments-per-day", "8", "--open-orders", "10")
NOT_OUTPUTS = ("shared-scenario.json", "passwords.json", "airflow.cfg")
SECRET_NAMES = (
    "AIRFLOW_CONN_CHECKOUT_DEFAULT",
    "AIRFLOW_CONN_FRESHPORTAL_DEFAULT",
    "CFP_SIDECAR_SIGNATURE_KEYS",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__API__SECRET_KEY",
    "Airflow password",
)


@dataclass
class DemoRun:
    lines: list[str] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)
    returncode: int | None = None


def _read(stream, lines: list[str], done: threading.Event) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))
    done.set()


def _stop_group_leaders(demo_pid: int) -> None:
    """The demo's processes each lead their own group (Airflow's components are in Airflow's)."""
    for pid in child_pids(demo_pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    time.sleep(20)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-home")


@pytest.fixture(scope="module")
def demo(home: Path) -> DemoRun:
    run = DemoRun()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "cfp"), "demo", *SMALL],
        cwd=REPO_ROOT,
        env={**os.environ, "CFP_DEMO_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # Ctrl-C must reach it: a shell without job control starts background jobs with SIGINT
        # ignored, and the child would inherit that
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    done = threading.Event()
    reader = threading.Thread(target=_read, args=(proc.stdout, run.lines, done), daemon=True)
    reader.start()
    found: dict[str, Secret] = {}
    deadline = time.monotonic() + DEMO_TIMEOUT
    try:
        while not done.is_set() and time.monotonic() < deadline:
            harvest(proc.pid, found)  # the made-up secrets live as long as the processes
            done.wait(1.0)
        harvest(proc.pid, found)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # out of time: the demo stops its stack on Ctrl-C
            try:
                proc.wait(180)
            except subprocess.TimeoutExpired:
                _stop_group_leaders(proc.pid)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        reader.join(10)
    run.returncode = proc.returncode
    run.secrets = all_secrets(found.values(), home)
    return run


def _report(scanner: Scanner) -> str:
    return "\n".join(str(h) for h in scanner.hits[:50]) + f"\n({len(scanner.hits)} hits)"


def test_the_demo_produced_every_output(demo: DemoRun, home: Path) -> None:
    tail = "\n".join(demo.lines[-40:])
    assert any(line.startswith("[demo] report: ") for line in demo.lines), tail
    reports = list((home / "reports").rglob("*"))
    assert {p.suffix for p in reports} >= {".html", ".csv", ".xlsx"}, tail
    assert (home / "warehouse.sqlite").exists()


def test_every_configured_secret_was_found(demo: DemoRun) -> None:
    """A scan for secrets it does not know would pass for nothing."""
    names = " ".join(s.name for s in demo.secrets)
    assert all(n in names for n in SECRET_NAMES), names
    planted = Scanner(demo.secrets)
    for s in demo.secrets:
        planted.scan_text(f"x {s.value} y", s.name)
    assert len({h.where for h in planted.hits}) == len({s.name for s in demo.secrets})


def test_no_leak_in_any_file_or_the_terminal_output(demo: DemoRun, home: Path) -> None:
    scanner = Scanner(demo.secrets)
    scanner.scan_tree(home, exclude=[p for n in NOT_OUTPUTS for p in home.rglob(n)], label="demo home")
    scanner.scan_lines("\n".join(demo.lines), "cfp demo output")
    assert scanner.scanned_files > 20
    assert not scanner.hits, _report(scanner)
    assert all(s.endswith(("-wal: binary", "-shm: binary")) for s in scanner.skipped), scanner.skipped


def test_no_leak_in_any_database_column(demo: DemoRun, home: Path) -> None:
    dbs = sqlite_databases(home)
    assert {home / "warehouse.sqlite", home / "airflow" / "airflow.db"} <= set(dbs)
    scanner = Scanner(demo.secrets)
    read: dict[str, int] = {}
    for db in dbs:
        before = scanner.scanned_values
        scanner.scan_database(f"sqlite:///{db}", str(db.relative_to(home)))
        read[db.name] = scanner.scanned_values - before
    # each database read for real (the small scenario: about 7,500 warehouse and 2,600 metadata values)
    assert read["warehouse.sqlite"] > 4_000, read
    assert read["airflow.db"] > 1_500, read
    assert not scanner.hits, _report(scanner)


def _section(lines: list[str], title: str) -> list[str]:
    """The lines the demo printed in its section ``title`` (plain output: not a terminal)."""
    starts = [i for i, line in enumerate(lines) if line.startswith("[demo] step ")]
    for n, i in enumerate(starts):
        if lines[i].endswith(f": {title}"):
            end = starts[n + 1] if n + 1 < len(starts) else len(lines)
            return [line for line in lines[i + 1 : end] if line.strip()]
    raise AssertionError(f"no section {title!r} in the demo's output")


def _verdict(section: list[str]) -> str:
    """A part's last own line (a warning on stderr may land between the lines, never its own)."""
    return [line for line in section if line.startswith("[demo] ")][-1]


def test_the_live_stack_runs_the_shared_scenario_end_to_end(demo: DemoRun, home: Path) -> None:
    """The standalone stack end to end: links, customers, webhooks, sidecar, DAG, FreshPortal;
    then the money cases: disputes, refunds and captures, each checked against its expectation."""
    tail = "\n".join(demo.lines[-60:])
    assert demo.returncode == 0, tail  # every part agreed with the scenario
    statuses = _section(demo.lines, "statuses in FreshPortal")
    assert "every order shows the status the scenario expects" in _verdict(statuses), "\n".join(statuses)
    money_part = _section(demo.lines, "refunds and disputes")
    assert "every refund, dispute and release ends as the scenario expects" in _verdict(money_part), tail
    scenario = json.loads((home / "shared-scenario.json").read_text())
    money = scenario["freshportal"]
    cases = len(money["refund_requests"]) + len(scenario["demo"]["money"]["disputes"])
    money_lines = [line for line in money_part if line.startswith("FP-9")]
    assert len(money_lines) == cases + len(money["fulfilment_releases"])
    assert all(line.endswith("yes") for line in money_lines), "\n".join(money_part)
    signature_keys = [s.value for s in demo.secrets if "CFP_SIDECAR_SIGNATURE_KEYS" in s.name]
    assert signature_keys
    sidecar_log = (home / "logs" / "sidecar.log").read_text()
    assert all(key not in sidecar_log for key in signature_keys)
