"""One line, not a traceback, when the configured warehouse URL is malformed or unreachable.

A typo in ``CFP_WAREHOUSE_URL`` (or ``--url``) is a configuration problem: the operator needs the
setting to fix, the URL as the process saw it and the reason, on one line. SQLAlchemy's own
traceback buries that under forty lines of frames, and its message may quote the URL with its
password. Only errors that describe the URL or the connection are caught (see
:data:`WAREHOUSE_URL_ERRORS`): an error inside a migration or a query stays a traceback, because
that one is a bug to report.
"""

from __future__ import annotations

import re
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


def shown_url(url: str | sa.URL) -> str:
    """``url`` with its password replaced by ``***``, even when SQLAlchemy cannot parse it.

    Text that does not even have the ``scheme://user:password@`` shape is not shown at all: where
    its password is cannot be known, and the operator has the variable to look at.
    """
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        masked, found = _USERINFO.subn(r"://\1:***@", str(url))
        if found:
            return _one_line(masked)[:REASON_LIMIT]
        return f"not shown: {len(str(url))} characters that do not parse as a URL"


def reason(exc: BaseException, url: str | sa.URL) -> str:
    """The driver's own first line (not SQLAlchemy's wrapper), without the password, on one line."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    password = _password(url)
    if password:
        text = text.replace(password, "***")
    return _one_line(text)[:REASON_LIMIT]


def describe(exc: BaseException, url: str | sa.URL, setting: str) -> str:
    """``the warehouse URL from <setting> (<url>) cannot be used: <reason>``."""
    return f"the warehouse URL from {setting} ({shown_url(url)}) cannot be used: {reason(exc, url)}"


@contextmanager
def reported_as_exit(prog: str, url: str | sa.URL, setting: str) -> Iterator[None]:
    """Turn :data:`WAREHOUSE_URL_ERRORS` raised inside into ``SystemExit("<prog>: <one line>")``."""
    try:
        yield
    except WAREHOUSE_URL_ERRORS as exc:
        raise SystemExit(f"{prog}: {describe(exc, url, setting)}") from None
    except ValueError as exc:
        if _parses(url):
            raise
        raise SystemExit(f"{prog}: {describe(exc, url, setting)}") from None


def _parses(url: str | sa.URL) -> bool:
    try:
        sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return False
    return True


def _password(url: str | sa.URL) -> str | None:
    try:
        return sa.make_url(url).password
    except (sa.exc.ArgumentError, ValueError):
        match = re.search(r"://[^:@/]*:(.*)@", str(url))
        return match.group(1) if match else None


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
