"""Argument types the ``cfp`` commands share: a bad value is refused by argparse with a usage
line (exit 2), never passed on to SQL as a negative or 21-digit ``LIMIT`` (SQLite raised
``OverflowError``; a negative one meant "no limit" there and an error on PostgreSQL)."""

from __future__ import annotations

import argparse

#: The most rows a listing prints; more is a job for ``--json`` and a query of one's own.
MAX_LIMIT = 1_000_000


def row_limit(text: str) -> int:
    """``--limit``: a whole number from 1 to :data:`MAX_LIMIT`."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_LIMIT:,}, got {text!r}")
    return value
