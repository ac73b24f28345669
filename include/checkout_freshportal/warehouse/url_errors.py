"""One line, not a traceback, when the configured warehouse URL is malformed or unreachable.

A typo in ``CFP_WAREHOUSE_URL`` (or ``--url``) is a configuration problem: the operator needs the
setting to fix, the URL as the process saw it and the reason, on one line. SQLAlchemy's own
traceback buries that under forty lines of frames, and its message may quote the URL with its
password. Only errors that describe the URL or the connection are caught (see
:data:`WAREHOUSE_URL_ERRORS`): an error inside a migration or a query stays a traceback, because
that one is a bug to report.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

try:  # the PostgreSQL driver; a SQLite-only install may lack it
    from psycopg import OperationalError as _PsycopgOperationalError
except ImportError:  # pragma: no cover - psycopg is a dependency of the project
    _PsycopgOperationalError = sa.exc.OperationalError  # type: ignore[assignment,misc]

#: Malformed URL (``ArgumentError``, its ``NoSuchModuleError`` for an unknown dialect), or a
#: database that refuses the connection (``OperationalError``: unreachable host, wrong password,
#: a SQLite file that cannot be opened). A ``ValueError`` is caught too, but only when the URL
#: does not parse (a port that is not a number): elsewhere it is a bug, not the URL.
WAREHOUSE_URL_ERRORS: tuple[type[Exception], ...] = (
    sa.exc.ArgumentError,
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    _PsycopgOperationalError,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_USERINFO = re.compile(r"://([^:@/]*):.*@")
REASON_LIMIT = 300
#: Query parameters libpq (and so psycopg) reads as secrets: a password given as
#: ``?password=...`` is as real as one in the user info.
_SECRET_PARAMS = frozenset({"password", "sslpassword", "passfile"})


class DriverMissing(Exception):
    """The URL names a dialect whose driver is not installed (``mysql://`` in this project)."""


def shown_url(url: str | sa.URL) -> str:
    """``url`` with its password replaced by ``***``, even when SQLAlchemy cannot parse it.

    Text that does not even have the ``scheme://user:password@`` shape is not shown at all: where
    its password is cannot be known, and the operator has the variable to look at.
    """
    try:
        parsed = sa.make_url(url)
        if "@" in (parsed.host or ""):  # an unescaped "@" in the password: SQLAlchemy splits at
            raise ValueError("password with @")  # the first one, the rest would show as host
        hidden = {k: "***" for k in parsed.query if k.lower() in _SECRET_PARAMS}
        shown = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
        return shown.replace("%2A%2A%2A", "***")
    except (sa.exc.ArgumentError, ValueError):
        masked, found = _USERINFO.subn(r"://\1:***@", str(url))
        if found:
            return _one_line(_QUERY_SECRET.sub(r"\1***", masked))[:REASON_LIMIT]
        return f"not shown: {len(str(url))} characters that do not parse as a URL"


def reason(exc: BaseException, url: str | sa.URL) -> str:
    """The driver's own first line (not SQLAlchemy's wrapper), without the password, on one line."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***@" if secret.endswith("@") else "***")
    return _one_line(text)[:REASON_LIMIT]


def describe(exc: BaseException, url: str | sa.URL, setting: str) -> str:
    """``the warehouse URL from <setting> (<url>) cannot be used: <reason>``."""
    return f"the warehouse URL from {setting} ({shown_url(url)}) cannot be used: {reason(exc, url)}"


@contextmanager
def reported_as_exit(prog: str, url: str | sa.URL, setting: str) -> Iterator[None]:
    """Turn :data:`WAREHOUSE_URL_ERRORS` raised inside into ``SystemExit("<prog>: <one line>")``."""
    try:
        _refuse_unusable_dialect(url)
        yield
    except _REPORTED as exc:
        raise SystemExit(f"{prog}: {describe(exc, url, setting)}") from None
    except ImportError as exc:  # the dialect's driver, when create_engine imports it
        if not _is_driver_of(exc, url):
            raise
        missing = DriverMissing(f"its database driver ({exc.name}) is not installed")
        raise SystemExit(f"{prog}: {describe(missing, url, setting)}") from None
    except ValueError as exc:
        if _parses(url):
            raise
        raise SystemExit(f"{prog}: {describe(exc, url, setting)}") from None


_REPORTED: tuple[type[Exception], ...] = (*WAREHOUSE_URL_ERRORS, DriverMissing)


def _parses(url: str | sa.URL) -> bool:
    try:
        sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return False
    return True


_QUERY_SECRET = re.compile(rf"([?&](?:{'|'.join(sorted(_SECRET_PARAMS))})=)[^&]*", re.IGNORECASE)


def _secrets(url: str | sa.URL) -> set[str]:
    """Every text of ``url`` a message must not repeat: the password as written up to the last
    "@", the part of it a driver quotes as the start of the host (``<piece>@``, so a short piece
    is hidden there without being replaced inside every word of the message), longer pieces
    anywhere, and the values of the secret query parameters."""
    text = url.render_as_string(hide_password=False) if isinstance(url, sa.URL) else str(url)
    found: set[str] = set()
    match = re.search(r"://[^:@/]*:(.*)@", text)
    if match and match.group(1):
        found.add(match.group(1))
        # the pieces a driver quotes as part of the host; a very short one would also match
        # inside ordinary words of the message and garble it (the whole password is still hidden)
        found.update(p for p in match.group(1).split("@") if len(p) >= 4)
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        parsed = None
    if parsed is not None:
        host = parsed.host or ""
        if "@" in host:  # SQLAlchemy split the password at its first "@": the rest is in the host
            found.add(host.rsplit("@", 1)[0] + "@")
        if parsed.password and ("@" not in host or len(str(parsed.password)) >= 4):
            found.add(str(parsed.password))
        for key, value in parsed.query.items():
            if key.lower() in _SECRET_PARAMS:
                found.update(v for v in ([value] if isinstance(value, str) else value) if v)
    return found


def _refuse_unusable_dialect(url: str | sa.URL) -> None:
    """The project's engines are synchronous: an asyncio driver (``postgresql+asyncpg``) would
    fail at the first query with a MissingGreenlet traceback."""
    try:
        dialect = sa.make_url(url).get_dialect()
    except Exception:  # left to create_engine, which reports it in its own words
        return
    if getattr(dialect, "is_async", False):
        raise DriverMissing(
            f"{dialect.driver} is an asyncio driver; use postgresql:// (psycopg) or sqlite://"
        )


def _is_driver_of(exc: ImportError, url: str | sa.URL) -> bool:
    """The import that failed is the one SQLAlchemy's dialect makes of its driver (a frame of
    ``sqlalchemy/dialects`` raised it); any other failed import is a broken install or a bug
    and stays a traceback."""
    if not exc.name or exc.name.startswith(("checkout_freshportal", "sqlalchemy", "alembic")):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f"sqlalchemy{os.sep}dialects{os.sep}" in frame.filename for frame in frames)


def _one_line(text: str) -> str:
    return _CONTROL.sub(" ", text)


def engine_at_head(prog: str, url: str | None) -> sa.Engine:
    """The warehouse engine of a ``cfp`` command (``--url`` or ``CFP_WAREHOUSE_URL``), checked
    to be at head; a missing, malformed or unreachable URL or an old schema exits naming what
    to do, never with a traceback."""
    from checkout_freshportal.config import WAREHOUSE_ENV, WarehouseNotConfiguredError, warehouse_url
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import check_current

    try:
        chosen, setting = (url, "--url") if url else (warehouse_url(), WAREHOUSE_ENV)
    except WarehouseNotConfiguredError as exc:
        raise SystemExit(f"{prog}: {exc}") from None
    with reported_as_exit(prog, chosen, setting):
        engine = make_engine(chosen)
        check_current(engine, source=setting)
    return engine
