"""Airflow adapter for the warehouse: an engine from Connection ``cfp_warehouse``.

Without that Connection, ``CFP_WAREHOUSE_URL`` applies (the demo sets it); without either, the
task fails naming both, rather than writing to a file nobody reads. A deployment adds one
Connection (``postgres`` type, or ``generic`` with a full SQLAlchemy URL in ``host``).

The engine is handed out only once the schema is at this release's head: migrating is the
deploy step ``cfp db upgrade``, never a task's side effect (see ``warehouse/migrate.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def connection_to_url(conn: Any) -> str:
    """SQLAlchemy URL for a Connection; PostgreSQL always through psycopg 3."""
    from sqlalchemy.engine import URL

    conn_type = (conn.conn_type or "").lower()
    if conn_type in {"postgres", "postgresql"}:
        return URL.create(
            "postgresql+psycopg",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
        ).render_as_string(hide_password=False)
    if conn_type == "sqlite":
        return f"sqlite:///{conn.host}"
    if conn.host and "://" in conn.host:
        return conn.host
    raise ValueError(f"Connection {conn.conn_id!r}: unsupported type {conn_type!r} for the warehouse")


class WarehouseHook(BaseHook):
    conn_name_attr = "warehouse_conn_id"
    default_conn_name = "cfp_warehouse"
    conn_type = "generic"
    hook_name = "CFP warehouse"

    def __init__(self, warehouse_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.warehouse_conn_id = warehouse_conn_id

    def get_url(self) -> str:
        return self._url_and_source()[0]

    def _url_and_source(self) -> tuple[str, str]:
        """The URL and where it came from (named in errors, so the operator knows what to fix)."""
        from airflow.exceptions import AirflowNotFoundException

        from checkout_freshportal.config import WAREHOUSE_ENV, warehouse_url

        try:
            conn = self.get_connection(self.warehouse_conn_id)
        except AirflowNotFoundException:
            return warehouse_url(), WAREHOUSE_ENV  # raises WarehouseNotConfiguredError if unset
        return connection_to_url(conn), f"Airflow Connection {self.warehouse_conn_id!r}"

    def get_engine(self) -> Engine:
        """An engine on a warehouse at head; SchemaNotCurrentError (not retried) otherwise."""
        from checkout_freshportal.warehouse.engine import make_engine
        from checkout_freshportal.warehouse.migrate import check_current

        url, source = self._url_and_source()
        engine = make_engine(url)
        try:
            check_current(engine, source=source)
        except BaseException:
            engine.dispose()
            raise
        return engine

    def get_conn(self) -> Engine:
        return self.get_engine()
