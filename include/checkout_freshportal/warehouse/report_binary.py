"""Staged report lines as typed Arrow columns, sent in PostgreSQL's binary COPY format.

Why binary: in text (CSV) format the server parses every timestamp, uuid and integer of every
line, and on a 1,000,000-line file that parsing cost the server as much as storing the rows
(measured in docs/warehouse.md "Performance"). In binary format the server copies each value as
it comes. The canonical text of :mod:`report_convert` is cast column by column with Arrow's C++
kernels (``""`` becomes NULL, as ``FORCE_NULL`` did on the CSV path) and encoded by ``pgpq`` (Rust),
so no Python code runs per value.

The encoded bytes are the same COPY wire format psycopg would write: they go through the same
``cursor.copy`` inside the caller's transaction, so the load stays all-or-nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from pgpq import ArrowToPostgresBinaryEncoder

from checkout_freshportal.warehouse.types import UTCDateTime

_UTC = pa.timestamp("us", tz="UTC")
_NULL_TEXT = pa.scalar(None, pa.string())


def arrow_type(column: sa.Column[Any]) -> pa.DataType:
    """The Arrow type whose binary encoding the server reads into ``column``'s type.

    A ``uuid`` is 16 raw bytes on the wire, which is what a 16-byte ``binary`` value encodes to.
    """
    t = column.type
    if isinstance(t, UTCDateTime):
        return _UTC
    if isinstance(t, sa.BigInteger):
        return pa.int64()
    if isinstance(t, sa.Integer):
        return pa.int32()
    if isinstance(t, sa.Date):
        return pa.date32()
    if isinstance(t, sa.Uuid):
        return pa.binary()
    if isinstance(t, sa.String):  # Text, String(n)
        return pa.string()
    raise TypeError(f"no binary COPY type for column {column.name} ({t!r})")


def typed(text: pa.Array, to: pa.DataType) -> pa.Array:
    """Canonical text (``""`` = NULL) -> ``to``; invalid text raises ``pyarrow.ArrowInvalid``.
    A column the converter already typed (minor units) is only cast if its type differs."""
    if text.type != pa.string():
        return text if text.type == to else pc.cast(text, to)
    if text.null_count < len(text):
        text = pc.if_else(pc.equal(text, ""), _NULL_TEXT, text)
    return text if to == pa.string() else pc.cast(text, to)


def uuid_bytes(hex_keys: Iterable[str]) -> pa.Array:
    """32-hex-digit keys -> their 16 bytes (a ``uuid`` on the wire)."""
    return pa.array(map(bytes.fromhex, hex_keys), pa.binary())


def constant(value: str, to: pa.DataType, n: int) -> pa.Array:
    """One canonical text value repeated ``n`` times, typed."""
    if to == _UTC:
        return pa.repeat(pa.scalar(datetime.fromisoformat(value), _UTC), n)
    return pa.repeat(pa.scalar(value, pa.string()), n).cast(to)


def encode(tables: Sequence[pa.Table]) -> Iterable[bytes]:
    """The binary COPY stream of ``tables`` (one schema): header, one chunk a record batch, trailer."""
    if not tables:
        return
    encoder = ArrowToPostgresBinaryEncoder(tables[0].schema)
    yield encoder.write_header()
    for table in tables:
        for batch in table.to_batches():
            yield encoder.write_batch(batch)
    yield encoder.finish()
