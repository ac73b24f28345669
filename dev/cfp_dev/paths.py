"""Where the demo keeps its files: ``.demo/`` at the repository root (git-ignored), or the folder
``CFP_DEMO_HOME`` names, so that a test (or a second checkout's demo) can run the whole demo
without replacing the files of one a person is looking at."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
_HOME = os.environ.get("CFP_DEMO_HOME", "").strip()
DEMO_DIR = Path(_HOME).resolve() if _HOME else REPO_ROOT / ".demo"
