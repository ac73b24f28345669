"""Leak scanner: configured secrets, full card numbers and full e-mail addresses in what a run left.

A run of the pipeline writes logs, reports (HTML, CSV, XLSX, SVG, JSON) and warehouse rows. None
of them may hold a secret the deployment was configured with, a full card number (PCI DSS allows
at most the first six and last four digits to be shown) or a customer's full e-mail address.
This module finds them so a test can require zero, and reports each hit by its place
(``file:line``, ``file!Sheet!B7`` or ``table.column:pk``) with a masked form: the scanner's own
output must not become the leak. Development code: the product never imports it
(docs/security.md, "The leak scan").

Rules (docs/security.md gives the reasons):

* **secret**: any configured secret value of at least :data:`MIN_SECRET_CHARS` characters, as
  it is, URL-encoded, or inside base64 at any alignment (an HTTP Basic ``Authorization`` header
  or a token that embeds it);
* **card number**: 13-19 digits, in groups separated by single spaces or dashes, not part of a
  longer word, id or decimal, in a card network's prefix range with that network's length, and
  passing the Luhn check; the value of a field that holds a network's transaction id
  (``scheme_id``, ``acquirer_transaction_id``, ``retrieval_reference_number``) is not a card;
* **e-mail**: ``local@domain.tld`` whose local part is not masked; masked means at most one
  visible character followed only by ``*`` (``j***``, ``***``), the form of
  ``checkout_freshportal.freshportal.privacy.mask_email``.

In ``.svg`` and ``.html`` files the SVG geometry attributes (``d``, ``points``, ``x``, ...) are
emptied first: chart coordinates come in groups of four digits like a spaced card number.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa

#: Shorter configured values ("admin", "true") would match ordinary words; no real key is this short.
MIN_SECRET_CHARS = 8
#: base64 text shorter than this is too short to say a secret is inside it.
MIN_B64_CORE = 12
TEXT_SUFFIXES = frozenset({".log", ".txt", ".json", ".html", ".htm", ".csv", ".svg", ".md", ".cfg", ".yaml"})
#: Bytes of one file read as text at most: a longer log is read to this point and reported so.
MAX_FILE_BYTES = 256 * 1024 * 1024

_EMAIL = re.compile(r"[A-Za-z0-9._%+*\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_MASKED_LOCAL = re.compile(r"[^*]?\*+")
_DIGIT_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_WORD = re.compile(r"[A-Za-z0-9_]")
#: Checkout.com fields that hold a card network's own transaction ids (15-21 digits), never a
#: card number: the value right after such a key is not looked at.
_NOT_A_CARD_FIELD = re.compile(
    r"""["']?(scheme_id|acquirer_transaction_id|retrieval_reference_number)["']?\s*[:=]\s*["']?$"""
)

_SVG_GEOMETRY = re.compile(r'\b(d|points|viewBox|transform|x|y|x1|x2|y1|y2|width|height)="[^"<>]*"')

# Environment variables the product and the demo read secrets from (docs/security.md).
_SECRET_VARS = re.compile(r"(PASSWORD|SECRET|_KEY|_KEYS|TOKEN|AUTHORIZATION)$|^AIRFLOW_CONN_")


@dataclass(frozen=True)
class Secret:
    """One configured secret: ``name`` says where it came from, ``value`` never leaves the scanner."""

    name: str
    value: str

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, {mask_secret(self.value)})"


@dataclass(frozen=True)
class Hit:
    kind: str  # "secret" | "card" | "email"
    where: str
    shown: str  # masked form only

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.shown}"


def mask_secret(value: str) -> str:
    return f"{value[:1]}***({len(value)} chars)"


def mask_card(digits: str) -> str:
    return f"{'*' * (len(digits) - 4)}{digits[-4:]} ({len(digits)} digits)"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


#: (lowest prefix, highest prefix, lengths) of the card networks' number ranges: Visa, Mastercard,
#: American Express, Diners Club, JCB, Discover, UnionPay, Mir, Maestro. A digit run outside them
#: is not a card number, whatever Luhn says (one random number in ten passes Luhn).
_NETWORKS: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),
    (51, 55, frozenset({16})),
    (2221, 2720, frozenset({16})),
    (34, 34, frozenset({15})),
    (37, 37, frozenset({15})),
    (36, 36, frozenset({14})),
    (300, 305, frozenset({14, 16, 17, 18, 19})),
    (38, 39, frozenset({16, 17, 18, 19})),
    (3528, 3589, frozenset({16, 17, 18, 19})),
    (6011, 6011, frozenset({16, 17, 18, 19})),
    (644, 649, frozenset({16, 17, 18, 19})),
    (65, 65, frozenset({16, 17, 18, 19})),
    (62, 62, frozenset({16, 17, 18, 19})),
    (2200, 2204, frozenset({16, 17, 18, 19})),
    (50, 50, frozenset(range(13, 20))),
    (56, 69, frozenset(range(13, 20))),
)


def in_card_range(digits: str) -> bool:
    for low, high, lengths in _NETWORKS:
        width = len(str(low))
        if len(digits) in lengths and low <= int(digits[:width]) <= high:
            return True
    return False


def is_card_number(digits: str) -> bool:
    """13-19 digits in a card network's range and length, passing Luhn."""
    return 13 <= len(digits) <= 19 and in_card_range(digits) and luhn_ok(digits)


def _glued(text: str, i: int, step: int) -> bool:
    """Whether position ``i`` continues a word, an id (``x-123``) or a decimal (``1.5``)."""
    if not 0 <= i < len(text):
        return False
    if _WORD.match(text[i]):
        return True
    j = i + step
    return text[i] in "-." and 0 <= j < len(text) and bool(_WORD.match(text[j]))


def find_cards(text: str) -> Iterator[str]:
    """Digits of every card number in ``text``, grouped or not (see the module docstring)."""
    for m in _DIGIT_RUN.finditer(text):
        if _glued(text, m.start() - 1, -1) or _glued(text, m.end(), 1):
            continue
        if _NOT_A_CARD_FIELD.search(text, max(0, m.start() - 40), m.start()):
            continue
        # Space-separated groups may be a card next to another number ("order 52 4242 ..."):
        # every window of whole groups is a candidate; dashes bind a group together.
        groups = [g.replace("-", "") for g in m.group().split(" ")]
        for a in range(len(groups)):
            digits = ""
            for b in range(a, len(groups)):
                digits += groups[b]
                if len(digits) > 19:
                    break
                if is_card_number(digits):
                    yield digits
                    break


def without_svg_geometry(text: str) -> str:
    """SVG geometry attributes emptied: a path's coordinates (``Q 2531 2678 2651 2914``) look
    like a card number in groups of four, and no text is ever put there."""
    return _SVG_GEOMETRY.sub(lambda m: f'{m.group(1)}=""', text)


def find_emails(text: str) -> Iterator[str]:
    """Unmasked addresses in ``text``, as their masked form (``j***@domain``)."""
    for m in _EMAIL.finditer(text):
        local, _, domain = m.group().rpartition("@")
        local = local.lstrip(".")
        if local and not _MASKED_LOCAL.fullmatch(local):
            yield f"{local[0]}***@{domain}"


def _b64_cores(value: bytes) -> set[str]:
    """Base64 text that appears whenever ``value`` is encoded, whatever bytes precede it."""
    cores = set()
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + value).decode().rstrip("=")
        start = 4 if pad else 0  # the first group mixes the unknown preceding bytes in
        end = len(enc) - ((pad + len(value)) % 3 != 0)  # the last char mixes the next bytes in
        core = enc[start:end]
        if len(core) >= MIN_B64_CORE:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))  # base64url
    return cores


class Scanner:
    """Finds hits in text, files, directory trees and databases; keeps every hit in ``hits``."""

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        self.needles: dict[str, str] = {}
        for s in secrets:
            if len(s.value) < MIN_SECRET_CHARS:
                continue
            forms = {s.value, quote(s.value, safe="")} | _b64_cores(s.value.encode())
            for form in forms:
                self.needles.setdefault(form, s.name)
        self._needle_re = (
            re.compile("|".join(re.escape(n) for n in sorted(self.needles, key=len, reverse=True)))
            if self.needles
            else None
        )
        self.hits: list[Hit] = []
        self.skipped: list[str] = []
        self.scanned_files = 0
        self.scanned_values = 0

    # -- text -----------------------------------------------------------------------------------
    def scan_text(self, text: str, where: str) -> list[Hit]:
        found: list[Hit] = []
        if self._needle_re is not None:
            for m in self._needle_re.finditer(text):
                found.append(Hit("secret", where, f"{self.needles[m.group()]} {mask_secret(m.group())}"))
        found.extend(Hit("card", where, mask_card(d)) for d in find_cards(text))
        found.extend(Hit("email", where, e) for e in find_emails(text))
        self.hits.extend(found)
        return found

    def scan_lines(self, text: str, where: str) -> None:
        for n, line in enumerate(text.splitlines(), start=1):
            self.scan_text(line, f"{where}:{n}")

    # -- files ----------------------------------------------------------------------------------
    def scan_file(self, path: Path, label: str | None = None) -> None:
        where = label or str(path)
        suffix = path.suffix.lower()
        self.scanned_files += 1
        if suffix == ".xlsx":
            self._scan_xlsx(path, where)
            return
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES)
        if len(data) == MAX_FILE_BYTES:
            self.skipped.append(f"{where}: read only the first {MAX_FILE_BYTES} bytes")
        if b"\0" in data[:8192] and suffix not in TEXT_SUFFIXES:
            # A binary file (a database, an archive): its text is reached another way or not at all.
            self.skipped.append(f"{where}: binary")
            return
        text = data.decode("utf-8", errors="replace")
        if suffix in {".svg", ".html", ".htm"}:
            text = without_svg_geometry(text)
        self.scan_lines(text, where)

    def _scan_xlsx(self, path: Path, where: str) -> None:
        import openpyxl

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=False)
        except (zipfile.BadZipFile, OSError, KeyError) as exc:
            self.skipped.append(f"{where}: not a readable workbook ({type(exc).__name__})")
            return
        try:
            for sheet in book.worksheets:
                for row in sheet.iter_rows():
                    for cell in row:
                        if cell.value is not None:
                            self.scanned_values += 1
                            self.scan_text(str(cell.value), f"{where}!{sheet.title}!{cell.coordinate}")
        finally:
            book.close()

    def scan_tree(self, root: Path, exclude: Iterable[Path] = (), label: str | None = None) -> None:
        """Every file under ``root`` but ``exclude`` (files or directories) and SQLite databases,
        which :meth:`scan_database` reads row by row."""
        skip = [p.resolve() for p in exclude]
        for path in sorted(root.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            real = path.resolve()
            if any(real == s or s in real.parents for s in skip):
                continue
            if _is_sqlite(path):
                continue
            self.scan_file(path, f"{label}/{path.relative_to(root)}" if label else str(path))

    # -- databases ------------------------------------------------------------------------------
    def scan_database(self, url: str, label: str | None = None) -> None:
        """Every text, JSON and binary column of every table, located by its primary key."""
        engine = sa.create_engine(url)
        try:
            meta = sa.MetaData()
            meta.reflect(engine)
            with engine.connect() as conn:
                for table in meta.sorted_tables:
                    self._scan_table(conn, table, label)
        finally:
            engine.dispose()

    def _scan_table(self, conn: sa.Connection, table: sa.Table, label: str | None) -> None:
        cols = [c for c in table.columns if _is_texty(c.type)]
        if not cols:
            return
        keys = list(table.primary_key.columns)
        prefix = f"{label}:" if label else ""
        result = conn.execute(sa.select(*keys, *cols)).yield_per(2000)
        for row in result:
            pk = ",".join(str(v) for v in row[: len(keys)]) or "?"
            for col, value in zip(cols, row[len(keys) :], strict=True):
                if value is None:
                    continue
                self.scanned_values += 1
                self.scan_text(_as_text(value), f"{prefix}{table.name}.{col.name}:{pk}")


def _is_texty(t: sa.types.TypeEngine) -> bool:
    return isinstance(t, sa.String | sa.Text | sa.JSON | sa.LargeBinary | sa.types.NullType) or (
        type(t).__name__ in {"JSONB", "BYTEA", "JSON"}
    )


def _as_text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(16) == b"SQLite format 3\0"


def sqlite_databases(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and _is_sqlite(p))


def secrets_from_environ(env: Mapping[str, str], source: str) -> list[Secret]:
    """The secret values an environment configures: passwords, keys, tokens, and the password of
    each ``AIRFLOW_CONN_*`` (JSON or URI form). Comma-separated lists (several accepted webhook
    keys during a rotation) give one secret each."""
    found: list[Secret] = []
    for name, value in env.items():
        if not _SECRET_VARS.search(name) or not value:
            continue
        if name.startswith("AIRFLOW_CONN_"):
            password = _connection_password(value)
            if password:
                found.append(Secret(f"{source} {name} password", password))
            continue
        parts = value.split(",") if name.endswith(("_KEYS", "AUTHORIZATION")) else [value]
        found.extend(Secret(f"{source} {name}", p.strip()) for p in parts if p.strip())
    return found


def _connection_password(value: str) -> str | None:
    if value.lstrip().startswith("{"):
        try:
            return str(json.loads(value).get("password") or "") or None
        except ValueError:
            return None
    try:
        password = sa.engine.make_url(value).password
    except sa.exc.ArgumentError:
        return None
    return str(password) if password else None


def main(argv: list[str] | None = None) -> int:
    """``python -m cfp_dev.secret_scan DIR... [--database URL]... [--secrets-env FILE]``."""
    p = argparse.ArgumentParser(prog="python -m cfp_dev.secret_scan", description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="*", type=Path, help="files or directories to scan")
    p.add_argument("--database", action="append", default=[], help="SQLAlchemy URL to scan (repeatable)")
    p.add_argument(
        "--secrets-env",
        type=Path,
        help="a KEY=VALUE file (an env file) whose secret-named variables are looked for",
    )
    args = p.parse_args(argv)
    secrets: list[Secret] = []
    if args.secrets_env:
        pairs = (ln.split("=", 1) for ln in args.secrets_env.read_text().splitlines() if "=" in ln)
        secrets = secrets_from_environ({k.strip(): v.strip() for k, v in pairs}, str(args.secrets_env))
    scanner = Scanner(secrets)
    for path in args.paths:
        if path.is_dir():
            scanner.scan_tree(path)
            for db in sqlite_databases(path):
                scanner.scan_database(f"sqlite:///{db}", str(db))
        else:
            scanner.scan_file(path)
    for url in args.database:
        scanner.scan_database(url, sa.engine.make_url(url).render_as_string(hide_password=True))
    out = sys.stdout
    for hit in scanner.hits:
        out.write(f"{hit}\n")
    for note in scanner.skipped:
        out.write(f"skipped {note}\n")
    out.write(
        f"{len(scanner.hits)} hit(s) in {scanner.scanned_files} file(s) and "
        f"{scanner.scanned_values} database/cell value(s)\n"
    )
    return 1 if scanner.hits else 0


if __name__ == "__main__":
    raise SystemExit(main())
