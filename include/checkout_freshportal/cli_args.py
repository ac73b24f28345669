"""Argument types the ``cfp`` commands share: a bad value is refused by argparse with a usage
line (exit 2), never passed on to SQL as a negative or 21-digit ``LIMIT`` (SQLite raised
``OverflowError``; a negative one meant "no limit" there and an error on PostgreSQL) or to a
generator as a negative number of days (a traceback after the demo had started)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

#: The most rows a listing prints; more is a job for ``--json`` and a query of one's own.
MAX_LIMIT = 1_000_000


def int_within(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low:,} to {high:,}, got {text!r}")
        return value

    return parse


#: ``--limit`` of the listings.
row_limit = int_within(1, MAX_LIMIT)
