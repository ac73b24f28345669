"""Simulator of the FreshPortal contract (docs/freshportal-openapi.yaml) with the real quirks.

Product code never imports this package; the demo, the tests and the benchmarks do. Run it
with ``cfp sandbox freshportal`` or in-process with :class:`FreshPortalSandboxServer`.
"""

from __future__ import annotations

from .app import create_app
from .config import DEFAULT_API_KEY, DEFAULT_PORT, DEFAULT_TENANT, FreshPortalSandboxConfig
from .server import FreshPortalSandboxServer
from .state import ApiError, FreshPortalSandboxState

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_PORT",
    "DEFAULT_TENANT",
    "ApiError",
    "FreshPortalSandboxConfig",
    "FreshPortalSandboxServer",
    "FreshPortalSandboxState",
    "create_app",
]
