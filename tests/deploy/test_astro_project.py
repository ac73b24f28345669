"""The Astro project files kept in step with the product (docs/deployment.md, "Astro").

`airflow_settings.yaml` is what `astro dev start` loads: a Connection for every hook's default
id, on the simulators' made-up keys only, and a warehouse that is not Airflow's own database
(both keep an Alembic `alembic_version` table, so sharing one would mix the two histories).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def _connections() -> dict[str, dict[str, Any]]:
    settings = yaml.safe_load((REPO / "airflow_settings.yaml").read_text())
    return {c["conn_id"]: c for c in settings["airflow"]["connections"]}


def test_a_connection_for_every_default_conn_id() -> None:
    from cfp_airflow.hooks.checkout import CheckoutHook
    from cfp_airflow.hooks.freshportal import FreshPortalHook

    from warehouse_hook import WarehouseHook

    conns = _connections()
    for hook in (CheckoutHook, FreshPortalHook, WarehouseHook):
        assert hook.default_conn_name in conns, hook.__name__
    assert conns[CheckoutHook.default_conn_name]["conn_type"] == CheckoutHook.conn_type
    assert conns[FreshPortalHook.default_conn_name]["conn_type"] == FreshPortalHook.conn_type


def test_only_the_simulators_well_known_keys() -> None:
    from cfp_dev.sandbox.checkout.config import DEFAULT_SECRET_KEY
    from cfp_dev.sandbox.freshportal.config import DEFAULT_API_KEY

    conns = _connections()
    assert conns["checkout_default"]["conn_password"] == DEFAULT_SECRET_KEY
    assert conns["freshportal_default"]["conn_password"] == DEFAULT_API_KEY


def test_warehouse_is_not_airflows_metadata_database() -> None:
    # The Astro CLI's local PostgreSQL holds Airflow's metadata in database "postgres".
    assert _connections()["cfp_warehouse"]["conn_schema"] not in {"", "postgres", "airflow"}


def test_astro_project_name() -> None:
    config = yaml.safe_load((REPO / ".astro" / "config.yaml").read_text())
    assert config["project"]["name"] == "checkout-freshportal"


def test_image_requirements_cover_what_the_compose_services_run() -> None:
    """requirements.txt is what the image installs; the lock holds the transitive pins."""
    runtime = (REPO / "requirements.txt").read_text()
    lock = (REPO / "requirements.lock").read_text()
    for direct in (
        "apache-airflow-providers-celery",  # CeleryExecutor, `airflow celery worker`
        "apache-airflow-providers-postgres",  # postgresql+psycopg2 metadata URL (psycopg2-binary)
        "psycopg[binary]",  # the warehouse URL, postgresql+psycopg
        "uvicorn[standard]",  # the sidecar
    ):
        assert f"\n{direct}==" in f"\n{runtime}", direct
    for transitive in ("celery", "redis", "psycopg2-binary", "fastapi"):  # broker client; simulators
        assert f"\n{transitive}==" in f"\n{lock}", transitive
