"""The bulk export: a ZIP of one CSV per changed table, read row by row from a temp file.

``GET /v2/export?mutation_datetime=YYYY-MM-DD`` answers with a pre-signed URL valid for about
ten minutes (docs/freshportal.md#known-vs-assumed). The client downloads it *without* the Bearer token --
pre-signed storage refuses a second auth mechanism, and the token must never leave the API host
-- streaming to a temporary file so a large export does not sit in memory, then this class
yields ``(table_name, row)`` pairs with the CSV read by header name (``utf-8-sig`` so a BOM is
harmless). Values stay text: exports are the raw layer's input, typed later by the loaders.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import zipfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path, PurePosixPath
from types import TracebackType

from .errors import ExportError

log = logging.getLogger("checkout_freshportal.freshportal")


class ExportArchive:
    """Context manager over a downloaded export ZIP; the temp file is removed on exit.

    ::

        with client.export(date(2024, 5, 6)) as export:
            for table, row in export:        # every CSV of the ZIP, in name order
                ...
            export.rows("order_line")        # one table only
    """

    def __init__(self, mutation_date: date, download: Callable[[], Path]) -> None:
        self.mutation_date = mutation_date
        self._download = download
        self._path: Path | None = None
        self._zip: zipfile.ZipFile | None = None

    def __enter__(self) -> ExportArchive:
        self._path = self._download()
        try:
            self._zip = zipfile.ZipFile(self._path)
        except zipfile.BadZipFile:
            self.close()
            raise ExportError(f"export for {self.mutation_date.isoformat()} is not a ZIP file") from None
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()
            self._path = None

    @property
    def path(self) -> Path | None:
        """The downloaded ZIP while the context is open (e.g. to archive it verbatim)."""
        return self._path

    def _members(self) -> dict[str, str]:
        if self._zip is None:
            raise ExportError("the export is not open: use it as a context manager")
        members: dict[str, str] = {}
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            name = PurePosixPath(info.filename)
            if name.suffix.lower() != ".csv":
                log.debug("export: skipping non-CSV member %s", info.filename)
                continue
            if name.stem in members:
                raise ExportError(f"export holds two CSVs for table {name.stem!r}")
            members[name.stem] = info.filename
        return members

    @property
    def tables(self) -> list[str]:
        """Table names (CSV file names without ``.csv``), sorted."""
        return sorted(self._members())

    def rows(self, table: str | None = None) -> Iterator[tuple[str, dict[str, str]]]:
        """``(table, {column: text})`` for every data row, tables in name order."""
        members = self._members()
        if table is not None and table not in members:
            raise ExportError(f"export has no table {table!r}; it has {sorted(members)}")
        names = [table] if table is not None else sorted(members)
        for name in names:
            yield from self._table_rows(name, members[name])

    def __iter__(self) -> Iterator[tuple[str, dict[str, str]]]:
        return self.rows()

    def _table_rows(self, table: str, member: str) -> Iterator[tuple[str, dict[str, str]]]:
        assert self._zip is not None
        with self._zip.open(member) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            reader = csv.DictReader(text)
            header = reader.fieldnames or []
            if len(set(header)) != len(header):
                raise ExportError(f"export table {table!r} has duplicate column names")
            for row in reader:
                if None in row:
                    raise ExportError(
                        f"export table {table!r} line {reader.line_num}: more values than columns"
                    )
                yield table, {k: (v if v is not None else "") for k, v in row.items()}
