"""Correlation ids carried by every log line written while one item is being worked on.

A payment's story crosses the sidecar, the events DAG, the refund and capture outboxes and
reconciliation; an operator following one order must be able to ``grep`` (or query) a single
field across all of them. The ids live in one :class:`contextvars.ContextVar`, so they follow
the code through calls, threads started with ``contextvars.copy_context`` and asyncio tasks (the
sidecar's request handlers) without being passed around, and they are reset when the block that
bound them ends, so an id never leaks onto the next item's lines.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

#: The fields a log line may carry, in the order they are written.
FIELDS: tuple[str, ...] = (
    "event_id",
    "order_number",
    "payment_id",
    "refund_request_id",
    "run_id",
    "dag_id",
    "task_id",
)

_EMPTY: Mapping[str, str] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, str]] = ContextVar("cfp_correlation", default=_EMPTY)


def current() -> Mapping[str, str]:
    """The ids bound at this point (read-only)."""
    return _CONTEXT.get()


@contextmanager
def bind(**ids: object) -> Iterator[Mapping[str, str]]:
    """Add ids for the duration of a block; ``None`` values are skipped, unknown names refused.

    Nested blocks add to (or override) the outer ids and restore them on exit, exceptions
    included. Refusing an unknown name keeps the field list in docs/observability.md the whole
    truth: a typo (``order_id``) would otherwise silently create a field nobody searches for.
    """
    unknown = sorted(set(ids) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown correlation field(s): {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    merged = dict(_CONTEXT.get())
    merged.update({k: str(v) for k, v in ids.items() if v is not None and str(v) != ""})
    token = _CONTEXT.set(MappingProxyType(merged))
    try:
        yield _CONTEXT.get()
    finally:
        _CONTEXT.reset(token)


def set_ids(**ids: object) -> None:
    """Replace the bound ids for the rest of the current context, with no block to end it.

    For a task's start in Airflow (plugins/failure_callbacks.py): its callback returns before
    the task body runs, so a ``with`` block cannot span the task. Each task process (and each
    task of ``dag.test``) sets its own ids, so nothing of a previous task remains.
    """
    unknown = sorted(set(ids) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown correlation field(s): {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    _CONTEXT.set(MappingProxyType({k: str(v) for k, v in ids.items() if v is not None and str(v) != ""}))
