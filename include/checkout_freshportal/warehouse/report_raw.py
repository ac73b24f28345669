"""The raw layer of report files: each file's bytes, compressed, in ``raw_report_file_contents``.

A file is compressed while it streams by (:class:`Spool`, into an anonymous temporary file), then
written as parts of 1 MiB that concatenate to one zstd stream (``.zst``; files stored before
are gzip, ``raw_report_files.content_encoding`` says which, and both read back). Zstandard at
Arrow's default level 1 compresses report CSVs about 19x at twice gzip level 1's speed (0.66 s
against 1.33 s for 407 MB, 21 MB against 30 MB), and its CPU is spent during every load. Two
writers use it:

* ``report_loader.load_report_file`` stores every file it loads, inside its savepoint, next to
  the file's ``raw_report_files`` row;
* :func:`store_raw_report_file` stores a file on its own: ingestion keeps a file that cannot be
  loaded (quarantine), so an operator can read it and a later run can retry it from the source.

Storing a file id again replaces its parts (a quarantined file that later loads is stored once).
:func:`open_raw_report_file` / :func:`iter_raw_report_file` replay a stored file and check its
sha256 and size at the end.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.warehouse import report_csv as rc
from checkout_freshportal.warehouse.schema import raw_report_file_contents, raw_report_files, raw_report_rows

READ_BUFFER = 1 << 20
#: Compressed bytes per row of ``raw_report_file_contents``.
RAW_PART_BYTES = 1 << 20
#: How new files are stored (Arrow codec names); what can be read back.
CONTENT_ENCODING = "zstd"
READABLE_ENCODINGS = ("zstd", "gzip")
#: Chunks waiting for the compressing thread (bounds memory if it falls behind).
SPOOL_QUEUE = 16  # chunks of at most 1 MiB (report_csv.HashingReader)


@dataclass(frozen=True)
class RawFileInfo:
    """What :func:`store_raw_report_file` stored: enough to find and verify the bytes later."""

    sha256: str  # of the file as it came in
    size_bytes: int  # uncompressed
    content_encoding: str  # of raw_report_file_contents: "zstd" (or "gzip", stored before)
    content_bytes: int  # stored (compressed) size


class _Unclosable(io.RawIOBase):
    """The spool's file as the compressor's sink: closing the compressor must not close it."""

    def __init__(self, file: Any) -> None:
        super().__init__()
        self._file = file

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return int(self._file.write(data))

    def close(self) -> None:
        self._file.flush()


class Spool:
    """The file's bytes, compressed as they stream by, in an anonymous temporary file.

    Compression runs in a worker thread (Arrow's codecs run without the GIL), so it overlaps the
    parsing of the file instead of adding to it; ``finish`` waits for it."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="cfp_report_")  # noqa: SIM115 (closed in __exit__)
        self._z = pa.CompressedOutputStream(pa.PythonFile(_Unclosable(self.file), mode="w"), CONTENT_ENCODING)
        self.size = 0
        self.finished = False
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=SPOOL_QUEUE)
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._run, name="report-spool", daemon=True)
        self._worker.start()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()
        if not self._z.closed:  # a failed load: end the stream before its file goes
            with contextlib.suppress(OSError):  # the load's own error is the one that matters
                self._z.close()
        self.file.close()

    def _run(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the producer must never block on a full queue
            try:
                self._z.write(data)
            except BaseException as exc:  # re-raised by finish()
                self._error = exc

    def _stop(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join()

    def feed(self, data: bytes) -> None:
        self._queue.put(data)

    def finish(self) -> None:
        if not self.finished:
            self._stop()
            if self._error is not None:
                raise self._error
            self._z.close()  # ends the zstd frame; the file stays open
            self.file.flush()
            self.size = self.file.tell()
            self.finished = True

    def parts(self) -> Iterator[bytes]:
        offset = 0
        while part := os.pread(self.file.fileno(), RAW_PART_BYTES, offset):
            yield part
            offset += len(part)


def store_content(conn: Connection, file_id: str, spool: Spool) -> None:
    """Write the spool's parts for ``file_id``, replacing any stored before (see the module)."""
    t = raw_report_file_contents
    conn.execute(sa.delete(t).where(t.c.file_id == file_id))
    for i, part in enumerate(spool.parts()):
        conn.execute(sa.insert(t).values(file_id=file_id, part=i, content=part))


def store_raw_report_file(conn: Connection, *, file_id: str, stream: BinaryIO | TextIO | Any) -> RawFileInfo:
    """Store the whole of ``stream`` (bytes, or text as UTF-8) compressed under ``file_id``,
    without parsing it: the raw copy of a file that could not be loaded. Runs in the caller's
    transaction; streams (the file is never held in memory)."""
    hashing = rc.HashingReader(stream)
    with Spool() as spool:
        hashing.sink = spool.feed
        hashing.drain()
        spool.finish()
        store_content(conn, file_id, spool)
        return RawFileInfo(hashing.hexdigest(), hashing.size, CONTENT_ENCODING, spool.size)


@dataclass(frozen=True)
class RawReportLine:
    line_no: int  # the header is line 1
    row: dict[str, str]  # header -> text, unknown columns included
    parse_error: str | None  # why the line was rejected (tolerated by max_bad_share), else None


class _Parts(io.RawIOBase):
    """The compressed bytes of a stored file: its parts, fetched one at a time."""

    def __init__(self, conn: Connection, file_id: str, parts: int) -> None:
        super().__init__()
        self._conn, self._file_id, self._parts = conn, file_id, parts
        self._next = 0
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        t = raw_report_file_contents
        while not self._buf and self._next < self._parts:
            self._buf = self._conn.execute(
                sa.select(t.c.content).where(t.c.file_id == self._file_id, t.c.part == self._next)
            ).scalar_one()
            self._next += 1
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class _StoredFile(io.RawIOBase):
    """The uncompressed bytes of a stored report file, part by part; checks size and sha256 at
    the end."""

    def __init__(self, parts: _Parts, encoding: str, file_id: str, sha256: str, size: int) -> None:
        super().__init__()
        self._file_id = file_id
        self._z = pa.CompressedInputStream(pa.PythonFile(parts, mode="r"), encoding)
        self._buf = b""
        self._hash = hashlib.sha256()
        self._size = 0
        self._expect = (sha256, size)
        self._done = False

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._buf and not self._done:
            try:
                self._buf = self._z.read(READ_BUFFER)
            except OSError as exc:  # Arrow's codec on corrupt bytes
                raise rc.ReportLoadError(
                    f"stored content of report file {self._file_id} cannot be decompressed ({exc})"
                ) from None
            self._done = not self._buf
            self._hash.update(self._buf)
            self._size += len(self._buf)
        if self._done and not self._buf and (self._hash.hexdigest(), self._size) != self._expect:
            raise rc.ReportLoadError(
                f"stored content of report file {self._file_id} does not match its sha256 and size"
            )

    def readinto(self, buffer: Any) -> int:
        self._fill()
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def open_stored_content(conn: Connection, file_id: str, info: RawFileInfo) -> io.BufferedReader:
    """The stored bytes of ``file_id`` as :func:`store_raw_report_file` described them (e.g. a
    quarantined file, which has no ``raw_report_files`` row); a mismatch raises at the end."""
    if info.content_encoding not in READABLE_ENCODINGS:
        raise rc.ReportLoadError(f"report file {file_id}: unknown content encoding {info.content_encoding!r}")
    t = raw_report_file_contents
    count = conn.execute(sa.select(sa.func.count()).where(t.c.file_id == file_id)).scalar_one()
    parts = _Parts(conn, file_id, count)
    stored = _StoredFile(parts, info.content_encoding, file_id, info.sha256, info.size_bytes)
    return io.BufferedReader(stored, READ_BUFFER)


def open_raw_report_file(conn: Connection, file_id: str) -> io.BufferedReader:
    """The stored bytes of a loaded report file, exactly as they came in (read it within ``conn``'s
    lifetime; a mismatch with the recorded sha256 raises at the end). Feed it to
    ``load_report_file`` to stage a file again, e.g. into a rebuilt table."""
    f = raw_report_files
    meta = conn.execute(
        sa.select(f.c.sha256, f.c.size_bytes, f.c.content_encoding, f.c.content_bytes).where(
            f.c.file_id == file_id
        )
    ).first()
    if meta is None:
        raise KeyError(f"report file {file_id} is not in raw_report_files")
    info = RawFileInfo(meta.sha256, meta.size_bytes, meta.content_encoding, meta.content_bytes)
    return open_stored_content(conn, file_id, info)


def iter_raw_report_file(conn: Connection, file_id: str) -> Iterator[RawReportLine]:
    """Replay a stored file line by line: decompress, re-parse, and attach the ``parse_error`` of
    the lines that were rejected. Keys are the header as stored (``raw_report_files.header``)."""
    header = conn.execute(
        sa.select(raw_report_files.c.header).where(raw_report_files.c.file_id == file_id)
    ).scalar_one_or_none()
    if header is None:
        raise KeyError(f"report file {file_id} is not in raw_report_files")
    r = raw_report_rows
    errors = dict(conn.execute(sa.select(r.c.line_no, r.c.parse_error).where(r.c.file_id == file_id)).all())
    text = io.TextIOWrapper(open_raw_report_file(conn, file_id), encoding="utf-8-sig", newline="")
    records = csv.reader(text, strict=True)
    if not header:
        return  # a 0-byte file: nothing to replay
    next(records)  # the header
    for n, values in enumerate(records, 2):
        yield RawReportLine(n, dict(zip(header, values, strict=True)), errors.get(n))
