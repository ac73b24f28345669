"""Shared pieces of the rebuild tests: running ``cfp``, snapshots of staged tables."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from checkout_freshportal.cli import main
from checkout_freshportal.warehouse import schema

#: Columns that say when a row was written, not what it says: a rebuild writes the rows again
#: (first_seen_at is the rebuild's time for a re-inserted row; updated_at moves with it).
#: Everything else, lineage (source, source_file_id, content_hash) included, must come back.
BOOKKEEPING = frozenset({"first_seen_at", "updated_at"})

STAGED = tuple(t.name for t in schema.metadata.sorted_tables if t.name.startswith("stg_"))


def table_rows(engine: sa.Engine, name: str, drop: frozenset[str] = BOOKKEEPING) -> list[tuple[Any, ...]]:
    """Rows sorted by primary key, without ``drop``; JSON as sorted text (comparable everywhere)."""
    table = schema.metadata.tables[name]
    cols = [c for c in table.c if c.name not in drop]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*cols).order_by(*table.primary_key.columns)).all()
    return [
        tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in r) for r in rows
    ]


def snapshot(engine: sa.Engine, names: tuple[str, ...] = STAGED) -> dict[str, list[tuple[Any, ...]]]:
    return {name: table_rows(engine, name) for name in names}


def cfp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """Run ``cfp`` in process; its exit status and its ``--json`` output (parsed)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    out = capsys.readouterr().out
    code = exc.value.code
    status = code if isinstance(code, int) else 1
    return status, json.loads(out) if "--json" in argv and out.strip() else out
