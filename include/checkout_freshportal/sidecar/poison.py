"""Poison events: list them for an operator (masked) and acknowledge them once handled.

A poison event is a signed delivery that is not a usable envelope (bad JSON, no id or type). It
was answered 2xx so Checkout.com stops resending it, which makes this listing (and the
``cfp_sidecar_poison_events`` gauge) the only place it shows up. Bodies may hold card numbers
or e-mail addresses (``payment_approved`` carries ``source`` and ``customer``), so a preview is
masked and truncated; the verbatim bytes stay in the table for a replay.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from checkout_freshportal.logsafe import mask_text
from checkout_freshportal.warehouse.schema import raw_webhook_events as T

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ACK_NOTE = "poison acknowledged by operator"


def masked_preview(body: bytes, limit: int = 160) -> str:
    text = _CONTROL.sub(" ", body[: limit * 4].decode("utf-8", errors="replace"))
    masked = mask_text(text)
    return masked[:limit] + ("…" if len(masked) > limit or len(body) > limit * 4 else "")


@dataclass(frozen=True)
class PoisonEvent:
    event_id: str
    received_at: datetime
    reason: str | None
    size_bytes: int
    body_sha256: str
    key_index: int | None
    acknowledged_at: datetime | None
    preview: str | None = None

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["received_at"] = self.received_at.isoformat()
        d["acknowledged_at"] = self.acknowledged_at.isoformat() if self.acknowledged_at else None
        return d


def list_poison(
    conn: Connection, *, include_acknowledged: bool = False, limit: int = 100, preview: bool = False
) -> list[PoisonEvent]:
    q = (
        sa.select(
            T.c.event_id,
            T.c.received_at,
            T.c.poison_reason,
            sa.func.length(T.c.body),
            T.c.body_sha256,
            T.c.key_index,
            T.c.processed_at,
            T.c.body if preview else sa.null(),
        )
        .where(T.c.is_poison.is_(sa.true()))
        .order_by(T.c.received_at.desc())
        .limit(limit)
    )
    if not include_acknowledged:
        q = q.where(T.c.processed_at.is_(None))
    return [
        PoisonEvent(
            event_id=r[0],
            received_at=r[1],
            reason=r[2],
            size_bytes=int(r[3] or 0),
            body_sha256=r[4],
            key_index=r[5],
            acknowledged_at=r[6],
            preview=masked_preview(bytes(r[7])) if preview and r[7] is not None else None,
        )
        for r in conn.execute(q)
    ]


def acknowledge(conn: Connection, event_ids: list[str]) -> int:
    """Mark poison events handled (``processed_at`` set): they leave the gauge and the listing."""
    res = conn.execute(
        sa.update(T)
        .where(T.c.event_id.in_(event_ids), T.c.is_poison.is_(sa.true()), T.c.processed_at.is_(None))
        .values(processed_at=datetime.now(UTC), last_error=ACK_NOTE)
    )
    return int(res.rowcount or 0)
