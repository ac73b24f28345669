"""Where the demo keeps its files: ``.demo/`` at the repository root (git-ignored)."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO_ROOT / ".demo"
