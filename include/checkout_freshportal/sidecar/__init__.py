"""The webhook sidecar: receives Checkout.com webhooks, stores them, and wakes Airflow.

Its own process (``cfp sidecar serve``), no Airflow import. Pieces, each in its module:

* ``app``: the ASGI app (``POST /webhooks/checkout``, ``GET /healthz``, ``GET /metrics``);
* ``store``: rows from deliveries and the group-commit writer (2xx only after COMMIT);
* ``trigger``, ``airflow_api``, ``leader``: the loop that starts the ``checkout_events`` DAG;
* ``metrics``, ``settings``, ``poison``, ``cli``.

Signature verification and envelope parsing are pure functions in
:mod:`checkout_freshportal.checkout.webhooks`. See docs/sidecar.md.
"""

from __future__ import annotations

from .settings import SidecarSettings, SidecarSettingsError

__all__ = ["SidecarSettings", "SidecarSettingsError"]
