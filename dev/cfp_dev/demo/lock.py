"""One run per demo folder: a second ``cfp demo`` on the same folder is refused, not run.

A run starts by clearing its folder's logs, Airflow home and reports and, distributed, by
dropping its PostgreSQL databases and emptying its Redis database. A second run started while
the first is still going (or left up by ``make up``/``--keep-running``) would do that under the
first one's processes. The lock is an ``flock`` on ``<folder>/run.lock``, held by the run's own
process for as long as it lives: the kernel releases it when that process ends, however it
ends, so no stale lock outlives a killed run (the processes it starts do not inherit it).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


class StackBusyError(RuntimeError):
    """Another ``cfp demo`` is using this folder (and its databases)."""


@contextlib.contextmanager
def exclusive(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "run.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackBusyError(
                f"another cfp demo is running on {home} (stop it with Ctrl-C there, or `make down` "
                "if it was left up); this one would wipe its files and databases"
            ) from None
        yield
