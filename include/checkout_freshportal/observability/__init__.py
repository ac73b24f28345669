"""Observability: structured, masked logs with correlation ids; task-failure records and
notifications; the pipeline health checks (docs/observability.md).

No Airflow import: ``plugins/failure_callbacks.py`` and ``plugins/health_tasks.py`` adapt
Airflow's context to what this package takes.
"""

from __future__ import annotations

from .context import FIELDS, bind, current
from .logs import configure_logging, install_filters
from .masking import Masker, MaskingFilter

__all__ = ["FIELDS", "Masker", "MaskingFilter", "bind", "configure_logging", "current", "install_filters"]
