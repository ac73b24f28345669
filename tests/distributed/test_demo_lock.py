"""A second ``cfp demo`` on a folder in use is refused before it wipes anything of the first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cfp_dev.demo.lock import StackBusyError, exclusive
from cfp_dev.demo.run import demo
from cfp_dev.distributed.settings import DistributedSettings


def test_a_second_run_on_a_busy_folder_touches_nothing(tmp_path: Path) -> None:
    kept = tmp_path / "logs" / "airflow-init.log"
    kept.parent.mkdir()
    kept.write_text("the first run's log")
    # Settings that would fail at once if a reset were attempted (no such server): the refusal
    # must come first.
    unreachable = DistributedSettings(pg_url="postgresql+psycopg://postgres@127.0.0.1:1/postgres")
    with exclusive(tmp_path):
        with pytest.raises(StackBusyError, match="another cfp demo is running"):
            demo(home=tmp_path, distributed=unreachable, tty=False)
        with pytest.raises(StackBusyError):
            demo(home=tmp_path, tty=False)
    assert kept.read_text() == "the first run's log"


def test_the_lock_ends_with_its_holder_even_a_killed_one(tmp_path: Path) -> None:
    with exclusive(tmp_path):
        pass
    with exclusive(tmp_path):  # released on exit: taken again
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from cfp_dev.demo.lock import exclusive\n"
            "with exclusive(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(120)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(StackBusyError), exclusive(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(tmp_path):  # SIGKILL leaves no stale lock
        pass


def test_two_folders_cannot_run_on_the_same_databases_or_redis_database(tmp_path: Path) -> None:
    """A second checkout (or CFP_DEMO_HOME) has its own folder lock but the same cfp_dist_*
    databases and Redis database: the machine-wide locks keep it from dropping them."""
    import tempfile
    import uuid

    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/postgres"
    # No server on port 1: the locks only, so a real run holding the default names is not met.
    redis_url = "redis://127.0.0.1:1/14"
    first = DistributedSettings(
        pg_url=unreachable, redis_url=redis_url, db_prefix=f"cfp_dist_tl{uuid.uuid4().hex[:8]}"
    )
    locks = Path(tempfile.gettempdir()) / "cfp-dist-locks"
    pg_lock, redis_lock = first.lock_names()
    assert pg_lock != redis_lock
    same_redis = DistributedSettings(
        pg_url=unreachable, redis_url=redis_url, db_prefix=f"cfp_dist_tl{uuid.uuid4().hex[:8]}"
    )
    assert same_redis.lock_names()[1] == redis_lock
    other_redis = DistributedSettings(redis_url="redis://127.0.0.1:1/13")
    assert other_redis.lock_names()[1] != redis_lock
    (tmp_path / "b").mkdir()
    with exclusive(locks / pg_lock), pytest.raises(StackBusyError):
        demo(home=tmp_path / "b", distributed=first, tty=False)
    with exclusive(locks / redis_lock), pytest.raises(StackBusyError):
        demo(home=tmp_path / "b", distributed=same_redis, tty=False)
    assert list((tmp_path / "b").iterdir()) == [tmp_path / "b" / "run.lock"]
