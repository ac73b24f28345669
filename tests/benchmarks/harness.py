"""Shared benchmark plumbing: timing, peak memory, machine info, scratch PostgreSQL databases."""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pg_server_url() -> str:
    return os.environ.get("CFP_BENCH_PG_URL") or os.environ.get("CFP_TEST_PG_URL") or DEFAULT_PG_URL


@contextmanager
def scratch_database(server_url: str | None = None, prefix: str = "cfp_bench") -> Iterator[str]:
    """A fresh database on the server, dropped afterwards; yields its URL."""
    server_url = server_url or pg_server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _read_status(field_name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); False if not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def host_cpu_ticks() -> tuple[int, int] | None:
    """(busy, all) CPU time of the whole host since boot, summed over its cores, in clock ticks
    (Linux ``/proc/stat``; None elsewhere): the difference over a phase says how much of the
    machine's CPU it kept busy, the run's processes and everything else on the host together.
    Ticks, not seconds: integers subtract exactly (busy never exceeds all)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = sum(fields[3:5])  # idle, iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def ticks_to_seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds() -> float:
    """User and system CPU seconds of this process so far (its children not included)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_bytes() -> int:
    """RSS high-water mark of this process (since the last reset where supported)."""
    hwm = _read_status("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Phase:
    seconds: float = 0.0
    peak_rss: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def measure() -> Iterator[Phase]:
    """Wall time and RSS high-water mark of the block."""
    phase = Phase()
    reset_peak_rss()
    t0 = time.perf_counter()
    try:
        yield phase
    finally:
        phase.seconds = time.perf_counter() - t0
        phase.peak_rss = peak_rss_bytes()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True
        ).stdout
        return out.stdout.strip() + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def machine_info(pg_url: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import psutil

        info["memory_total_bytes"] = psutil.virtual_memory().total
        info["cpu_freq_mhz"] = getattr(psutil.cpu_freq(), "current", None)
    except Exception:  # psutil is a dev dependency; the bench runs without it
        pass
    try:
        model = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in ln
            ),
            None,
        )
        info["cpu_model"] = model
    except OSError:
        pass
    if pg_url:
        try:
            eng = sa.create_engine(pg_url)
            with eng.connect() as conn:
                info["postgres"] = conn.execute(sa.text("SHOW server_version")).scalar()
                for name in ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "wal_level"):
                    info[f"pg_{name}"] = conn.execute(sa.text(f"SHOW {name}")).scalar()
            eng.dispose()
        except Exception as exc:
            info["postgres"] = f"unavailable: {exc.__class__.__name__}"
    return info
