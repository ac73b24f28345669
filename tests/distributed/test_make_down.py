"""`make down` signals only a process that is still the `cfp demo` its pid file names.

A stack killed with -9 (or a reboot) leaves ``up.pid`` behind; the system may since have given
that pid to anything else, which a blind ``kill`` would stop. Each case runs the real Makefile
target on a scratch ``DEMO_HOME`` so a stack someone left running in ``.demo/`` is not touched.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _make_down(home: Path) -> str:
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), "down", f"DEMO_HOME={home}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def _sleeper(*argv: str) -> int:
    """The pid of a process that sleeps until signalled, ``argv`` after the script on its command
    line. Started through a shell that exits at once, so it is not this test's child: a child
    would linger as a zombie after SIGTERM, and ``make down`` would wait for it in vain."""
    script = [sys.executable, "-c", "import time; time.sleep(120)", *argv]
    shell = subprocess.run(
        ["sh", "-c", '"$@" >/dev/null 2>&1 & echo $!', "sh", *script],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(shell.stdout)


def _running(pid: int) -> bool:
    state = subprocess.run(["ps", "-p", str(pid), "-o", "stat="], capture_output=True, text=True)
    return state.returncode == 0 and not state.stdout.strip().startswith("Z")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "distributed").mkdir()
    return tmp_path


def test_a_stale_pid_file_naming_another_process_leaves_it_running(home: Path) -> None:
    other = _sleeper("not-the-demo")
    try:
        (home / "up.pid").write_text(f"{other}\n")
        out = _make_down(home)
        assert _running(other), "make down signalled a process that is not cfp demo"
        assert "stale" in out
        assert not (home / "up.pid").exists()
    finally:
        _kill(other)


def test_the_demo_named_in_the_pid_file_is_stopped(home: Path) -> None:
    demo = _sleeper(str(ROOT / ".venv" / "bin" / "cfp"), "demo", "--distributed")
    try:
        (home / "distributed" / "up.pid").write_text(f"{demo}\n")
        out = _make_down(home)
        assert "stopped" in out
        assert not _running(demo)
    finally:
        _kill(demo)


def test_nothing_to_stop_is_said_so(home: Path) -> None:
    assert "no stack left running" in _make_down(home)
