"""The FreshPortal hook, re-exported for modules that import it by file name from plugins/.

It lives in the provider package (``airflow_provider/cfp_airflow/hooks/freshportal.py``) so
Airflow can import it by dotted path in every process and list the ``freshportal`` connection
type.
"""

from __future__ import annotations

from cfp_airflow.hooks.freshportal import FreshPortalHook, settings_kwargs_from_connection

__all__ = ["FreshPortalHook", "settings_kwargs_from_connection"]
