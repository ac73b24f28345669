"""One JSON object per log line, with correlation ids, masked: ``configure_logging``.

A stdlib :class:`logging.Formatter` and :class:`logging.Filter`, not structlog: every module of
the library logs through ``logging.getLogger(__name__)``, uvicorn configures its loggers with
``dictConfig`` and Airflow owns the handlers of its task processes (itself a structlog
pipeline). A filter and a formatter plug into each of those without changing a single call site
and without a second logging framework deciding the output (docs/observability.md, "Why stdlib").
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from checkout_freshportal.logsafe import safe

from .context import current
from .masking import STANDARD_ATTRS, Masker, MaskingFilter, merged_message, secrets_from_env

#: Longest message kept in one line; a traceback is kept whole (it is masked and escaped).
MESSAGE_LIMIT = 8000
_HANDLER_NAME = "cfp"
#: Ids an Airflow task log already states (it is the log of one task of one run): not repeated
#: on each of its lines.
_TASK_LOG_KNOWS = frozenset({"dag_id", "task_id", "run_id"})


class CorrelationFilter(logging.Filter):
    """Copies the ids bound at the time of the call onto the record (``record.cfp_ids``).

    Copied when the record is made, not when it is written, so a handler writing from another
    thread (a queue) still shows the ids of the code that logged. With ``inline=True`` they are
    also appended to the message as ``[order_number=... payment_id=...]``: Airflow's task log
    shows the message and drops unknown record attributes.
    """

    def __init__(self, *, inline: bool = False) -> None:
        super().__init__()
        self.inline = inline

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "cfp_ids"):
            return True
        ids = dict(current())
        record.cfp_ids = ids
        if self.inline and ids:
            shown = " ".join(f"{k}={safe(v)}" for k, v in ids.items() if k not in _TASK_LOG_KNOWS)
            if shown:
                record.msg = f"{merged_message(record)} [{shown}]"
                record.args = None
        return True


#: Extra attributes that are not data: uvicorn's copy of a message with ANSI colours.
_NOT_FIELDS = frozenset({"cfp_ids", "color_message"})


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """Fields passed as ``extra``: a correlation id among them is kept (``payment_id`` passed
    rather than bound); one bound around the call takes precedence (the formatter's setdefault)."""
    return {
        k: v
        for k, v in vars(record).items()
        if k not in STANDARD_ATTRS and k not in _NOT_FIELDS and not k.startswith("_")
    }


# Characters json.dumps(ensure_ascii=False) leaves raw that still split or disguise a line: C1
# controls (U+0085 ends a line for str.splitlines, U+009B is an 8-bit terminal CSI), the line and
# paragraph separators, bidi overrides, and lone surrogates (which no UTF-8 stream can write:
# the whole line would be lost). Escaped as \uXXXX, valid JSON for the same text.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape_json(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", <ids>, <extra>, "exc"}`` on one line.

    ``json.dumps`` escapes every control character (a newline becomes ``\\n``, ESC ``\\u001b``),
    so no text an attacker chose can end the line or drive a terminal.
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage()[:MESSAGE_LIMIT],
        }
        out.update(getattr(record, "cfp_ids", None) or {})
        for key, value in _extras(record).items():
            out.setdefault(key, _jsonable(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return _JSON_UNSAFE.sub(_escape_json, json.dumps(out, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """``<time> <LEVEL> <logger>: <message> [ids]``; the message escaped to one line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = safe(record.getMessage(), MESSAGE_LIMIT)
        ids = getattr(record, "cfp_ids", None) or {}
        tail = (" [" + " ".join(f"{k}={safe(v)}" for k, v in ids.items()) + "]") if ids else ""
        line = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.message}{tail}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            # The traceback keeps its lines (indented so a reader sees they belong to the record);
            # control characters other than the newline are escaped.
            line += "\n" + "\n".join(
                "    " + safe(part, MESSAGE_LIMIT) for part in record.exc_text.splitlines()
            )
        return line


def masker_from_env(env: Mapping[str, str] | None = None) -> Masker:
    """The rule set with the secret values configured in ``env`` (default: the process's)."""
    return Masker(secrets_from_env(os.environ if env is None else env))


def make_handler(fmt: str = "json", *, stream: Any = None, masker: Masker | None = None) -> logging.Handler:
    """A stream handler (stderr by default) with the filters and the formatter of ``fmt``."""
    if fmt not in ("json", "text"):
        raise ValueError(f"log format must be 'json' or 'text', got {fmt!r}")
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(CorrelationFilter())
    handler.addFilter(MaskingFilter(masker or masker_from_env()))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    return handler


def configure_logging(
    fmt: str | None = None,
    level: str | None = None,
    *,
    stream: Any = None,
    env: Mapping[str, str] | None = None,
    force: bool = False,
) -> logging.Handler | None:
    """Root logging for a process the project owns (the ``cfp`` CLI, the sidecar).

    ``fmt``/``level`` default to ``CFP_LOG_FORMAT``/``CFP_LOG_LEVEL`` (json, info); the settings
    are read (and a refused value raised) in every case. Like :func:`logging.basicConfig`, a
    root logger that already has handlers someone else installed (an embedding program, pytest)
    is left alone unless ``force``; a second call replaces the handler of the first, so lines are
    never doubled. Quiets alembic's chatter.
    """
    from .settings import LogSettings

    settings = LogSettings.from_env(env)
    root = logging.getLogger()
    foreign = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    if foreign and not force:
        return None
    handler = make_handler(fmt or settings.format, stream=stream, masker=masker_from_env(env))
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or settings.level).upper())
    logging.getLogger("alembic").setLevel(logging.WARNING)
    return handler


def install_filters(handlers: list[logging.Handler], *, inline: bool = True) -> int:
    """Add the correlation and masking filters to handlers someone else owns (Airflow's).

    Idempotent: a handler that has them already is left alone. Returns how many were changed.
    """
    masker = masker_from_env()
    changed = 0
    for handler in handlers:
        if any(isinstance(f, MaskingFilter) for f in handler.filters):
            continue
        handler.addFilter(CorrelationFilter(inline=inline))
        handler.addFilter(MaskingFilter(masker))
        changed += 1
    return changed
