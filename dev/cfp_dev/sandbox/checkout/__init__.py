"""A local Checkout.com ("NAS" platform) simulator: real HTTP, seeded scenario data.

Used by the demo, the tests and the benchmarks; product code never imports it. See
docs/sandbox.md for options and fidelity notes, docs/scenario-format.md for scenario files.
"""

from .app import create_app
from .build import advance, build_world
from .config import (
    ALL_SCOPES,
    DEFAULT_OAUTH_CLIENT_ID,
    DEFAULT_OAUTH_CLIENT_SECRET,
    DEFAULT_PUBLIC_KEY,
    DEFAULT_SECRET_KEY,
    SandboxConfig,
)
from .scenario_file import ScenarioError
from .server import SandboxServer
from .world import World

__all__ = [
    "ALL_SCOPES",
    "DEFAULT_OAUTH_CLIENT_ID",
    "DEFAULT_OAUTH_CLIENT_SECRET",
    "DEFAULT_PUBLIC_KEY",
    "DEFAULT_SECRET_KEY",
    "SandboxConfig",
    "SandboxServer",
    "ScenarioError",
    "World",
    "advance",
    "build_world",
    "create_app",
]
