"""Airflow adapter for the warehouse: an engine from Connection ``cfp_warehouse``.

Without that Connection the library's own default applies (``CFP_WAREHOUSE_URL`` or the
embedded SQLite file), so the standalone demo needs no setup and a deployment only adds one
Connection (``postgres`` type, or ``generic`` with a full SQLAlchemy URL in ``host``).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


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
        from airflow.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.warehouse_conn_id)
        except AirflowNotFoundException:
            from checkout_freshportal.config import warehouse_url

            return warehouse_url()
        return connection_to_url(conn)

    def get_engine(self):  # -> sqlalchemy.Engine; migrations applied, so tasks never race a bare schema
        from checkout_freshportal.warehouse.engine import make_engine
        from checkout_freshportal.warehouse.migrate import upgrade

        engine = make_engine(self.get_url())
        upgrade(engine)
        return engine

    def get_conn(self):
        return self.get_engine()
