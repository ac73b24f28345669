"""The rebuild tests reuse the ingestion fixtures (tests/sync) and the events fixtures
(tests/events): the same simulator worlds, receivers and warehouse helpers, not copies."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parent.parent
for folder in ("sync", "events"):
    path = str(_TESTS / folder)
    if path not in sys.path:
        sys.path.append(path)
