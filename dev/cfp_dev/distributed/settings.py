"""Where the distributed stack keeps its state: two PostgreSQL databases and one Redis database.

The compose file's PostgreSQL service holds separate ``airflow`` and ``warehouse`` databases; here
they are ``cfp_dist_airflow`` and ``cfp_dist_warehouse`` on the local server, dropped and created
again by every run (``reset``), so a run never inherits DAG runs, Celery results or warehouse
rows of an earlier one. The Celery broker is one Redis database number, emptied first for the
same reason (with ``CFP_DIST_RESULT_BACKEND=redis`` Celery's results live there too); the tests use
another number and other database names, so a test never wipes a stack someone started by hand.

Dropping and flushing are destructive, and ``CFP_DIST_PG_URL``/``CFP_DIST_REDIS_URL`` are free
text: ``guard`` refuses a database name outside the ``cfp_dist_`` namespace, a server that is
not on this machine (unless its host is named in ``allowed_hosts``: a scratch server a test
was given) and Redis database 0, where other applications keep their keys.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    import redis

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
#: Every database this module may create or drop has a name starting with this.
NAMESPACE = "cfp_dist_"


class UnsafeResetError(RuntimeError):
    """A reset would drop a database or empty a Redis database that is not the demo's own."""


def is_loopback(host: str | None) -> bool:
    """No host or a socket directory (``/run/postgresql``) is local too."""
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DistributedSettings:
    """The server URLs (``CFP_DIST_PG_URL``, ``CFP_DIST_REDIS_URL``) and the names derived from them."""

    pg_url: str = DEFAULT_PG_URL
    redis_url: str = DEFAULT_REDIS_URL
    #: "database" (``db+postgresql`` on the metadata database) or "redis" (the broker's database).
    result_backend: str = "database"
    db_prefix: str = "cfp_dist"
    workers: tuple[str, ...] = ("cfp-worker-1", "cfp-worker-2")
    worker_concurrency: int = 4
    #: Non-loopback hosts a reset may still drop databases on (a test's scratch server).
    allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls) -> DistributedSettings:
        return cls(
            pg_url=os.environ.get("CFP_DIST_PG_URL", DEFAULT_PG_URL),
            redis_url=os.environ.get("CFP_DIST_REDIS_URL", DEFAULT_REDIS_URL),
            result_backend=os.environ.get("CFP_DIST_RESULT_BACKEND", "database"),
        )

    @property
    def airflow_db(self) -> str:
        return f"{self.db_prefix}_airflow"

    @property
    def warehouse_db(self) -> str:
        return f"{self.db_prefix}_warehouse"

    def database_url(self, name: str) -> str:
        url = sa.engine.make_url(self.pg_url).set(drivername="postgresql+psycopg", database=name)
        return url.render_as_string(hide_password=False)

    @property
    def metadata_url(self) -> str:
        return self.database_url(self.airflow_db)

    @property
    def warehouse_url(self) -> str:
        return self.database_url(self.warehouse_db)

    @property
    def result_backend_url(self) -> str:
        """Where Celery keeps task results: the metadata database, as ``docker-compose.yaml`` does.

        ``redis`` (the broker's database) is there for comparison: the provider reads it through
        another path (``mget`` + ``decode_result`` instead of one query on the result table).
        With Celery 5.7 the database path could not decode a failed Celery task's stored
        exception and the scheduler loop died; the lock pins Celery 5.6 (docs/deployment.md).
        """
        if self.result_backend == "database":
            return f"db+{self.metadata_url}"
        if self.result_backend == "redis":
            return self.redis_url
        raise ValueError(f"CFP_DIST_RESULT_BACKEND must be redis or database, not {self.result_backend!r}")

    def shown(self, url: str) -> str:
        """A URL fit for a terminal line: any password masked."""
        if url.startswith("redis://"):
            return "redis://" + url.removeprefix("redis://").split("@")[-1]
        prefix = "db+" if url.startswith("db+") else ""
        return prefix + sa.engine.make_url(url.removeprefix("db+")).render_as_string(hide_password=True)

    # -- state ----------------------------------------------------------------------------------
    def guard(self) -> None:
        """Raise UnsafeResetError unless both databases and the Redis database are the demo's own."""
        for name in (self.airflow_db, self.warehouse_db):
            if not name.startswith(NAMESPACE):
                raise UnsafeResetError(f"refusing to drop database {name!r}: not named {NAMESPACE}*")
        pg_host = sa.engine.make_url(self.pg_url).host
        if not is_loopback(pg_host) and pg_host not in self.allowed_hosts:
            raise UnsafeResetError(
                f"refusing to drop databases on {self.shown(self.pg_url)}: CFP_DIST_PG_URL must name "
                "a server on this machine (127.0.0.1, localhost, ::1 or a socket directory)"
            )
        from redis.connection import parse_url

        parts = parse_url(self.redis_url)
        if not is_loopback(parts.get("host")) and parts.get("host") not in self.allowed_hosts:
            raise UnsafeResetError(
                f"refusing to empty {self.shown(self.redis_url)}: CFP_DIST_REDIS_URL must name a "
                "Redis server on this machine"
            )
        if int(parts.get("db") or 0) == 0:
            raise UnsafeResetError(
                f"refusing to empty Redis database 0 ({self.shown(self.redis_url)}): name another "
                "database number in CFP_DIST_REDIS_URL (default 11)"
            )

    def lock_names(self) -> tuple[str, str]:
        """File names for the machine-wide locks of a run on these databases and this Redis
        database (the guard keeps both on this machine): two runs from different folders or
        checkouts would otherwise drop and flush each other's state."""
        from redis.connection import parse_url

        pg = sa.engine.make_url(self.pg_url)
        redis = parse_url(self.redis_url)
        where = redis.get("path") or f"{redis.get('host')}-{redis.get('port', 6379)}"
        return (
            f"pg-{pg.port or 5432}-{self.db_prefix}",
            "redis-" + f"{where}-{redis.get('db') or 0}".replace("/", "_"),
        )

    def reset(self) -> None:
        """Both databases dropped and created empty; the broker's Redis database emptied."""
        self.guard()
        self.drop()
        with self._server() as conn:
            for name in (self.airflow_db, self.warehouse_db):
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        self._redis().flushdb()

    def drop(self) -> None:
        """``WITH (FORCE)``: a process of an interrupted run may still hold a connection."""
        self.guard()
        with self._server() as conn:
            for name in (self.airflow_db, self.warehouse_db):
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def flush_broker(self) -> None:
        self.guard()
        self._redis().flushdb()

    def _server(self) -> sa.Connection:
        engine = sa.create_engine(self.pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        return engine.connect()

    def _redis(self) -> redis.Redis:
        import redis

        return redis.Redis.from_url(self.redis_url, socket_connect_timeout=3)

    def unreachable(self) -> str | None:
        """None when both PostgreSQL and Redis answer, else why not (for a clear message or skip)."""
        try:
            with self._server() as conn:
                conn.execute(sa.text("select 1"))
        except Exception as exc:  # the reason is what the user needs to see
            first = str(exc).splitlines()[0] if str(exc) else ""
            return f"PostgreSQL at {self.shown(self.pg_url)}: {type(exc).__name__}: {first}"
        try:
            self._redis().ping()
        except Exception as exc:
            return f"Redis at {self.shown(self.redis_url)}: {type(exc).__name__}: {exc}"
        return None
