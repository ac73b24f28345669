"""Webhook events as the ``checkout_events`` use case reads them: parsed, grouped by payment, folded.

Pure functions, no database and no API: a stored row becomes an :class:`Event` (its fact, decline,
dispute row and retrieval signal), events are grouped by the payment they concern, and folded into
a payment's stored state. ``service.py`` decides what to write with them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checkout_freshportal.checkout.webhooks import MalformedEnvelope, parse_envelope
from checkout_freshportal.sync.chargebacks import disputes as chargeback_disputes
from checkout_freshportal.sync.chargebacks.signal import retrieval_signal
from checkout_freshportal.sync.events.status_rows import Stored
from checkout_freshportal.sync.status.declines import DeclineRecord, decline_from_event
from checkout_freshportal.sync.status.derivation import PaymentState
from checkout_freshportal.sync.status.facts import Fact, UnsafeText, fact_from_event


@dataclass
class Event:
    """One stored webhook as the run uses it: everything the body says, read once per batch."""

    event_id: str
    event_type: str
    received_at: datetime
    attempts: int
    fact: Fact | None
    decline: DeclineRecord | None
    dispute: dict[str, Any] | None = None  # the stg_disputes row a dispute webhook states
    retrieval: dict[str, Any] | None = None  # the order's signal of a retrieval request


def parse_row(row: Mapping[str, Any]) -> Event:
    """Raises MalformedEnvelope for a body the sidecar should have marked poison."""
    env = parse_envelope(bytes(row["body"]))
    if env.id != row["event_id"]:
        raise MalformedEnvelope("envelope id differs from the stored event id")
    at = env.occurred_at or row["occurred_at"] or row["received_at"]
    data = env.data
    return Event(
        event_id=env.id,
        event_type=env.type,
        received_at=row["received_at"],
        attempts=int(row["process_attempts"] or 0),
        fact=fact_from_event(env.id, env.type, at, data),
        decline=decline_from_event(env.id, env.type, at, data),
        dispute=chargeback_disputes.row_of_event(env.type, at, data),
        retrieval=retrieval_signal(env.type, at, data),
    )


def parse_batch(batch: Sequence[Mapping[str, Any]]) -> tuple[list[Event], list[tuple[str, str]]]:
    """The parsed events of a batch, and ``(event_id, reason)`` of those that do not parse."""
    events: list[Event] = []
    poison: list[tuple[str, str]] = []
    for row in batch:
        try:
            events.append(parse_row(row))
        except (MalformedEnvelope, UnsafeText) as exc:
            poison.append((row["event_id"], f"apply: {exc}"))
    return events, poison


def group_by_payment(events: Iterable[Event]) -> dict[str, list[Event]]:
    """Events about no payment (none of fact, decline or retrieval) are left out: nothing to fold."""
    out: dict[str, list[Event]] = defaultdict(list)
    for ev in events:
        pid = payment_of(ev)
        if pid is not None:
            out[pid].append(ev)
    return out


def fold(
    prev: Stored | None, pid: str, evs: Sequence[Event], redo: frozenset[str] = frozenset()
) -> PaymentState:
    """The stored state with ``evs`` folded in. Facts of the replayed events among ``evs`` (and
    only those: a replay's later batches hold the rest) are taken out first and derived again, so
    no batch sees a payment without facts another batch re-derives, nor drops one it put back."""
    base = prev.state if prev is not None else PaymentState(pid)
    again = redo.intersection(e.event_id for e in evs)
    if again:
        base = PaymentState(pid, frozenset(f for f in base.facts if f.fact_id not in again))
    return base.add(*[e.fact for e in evs if e.fact is not None])


def payment_of(e: Event) -> str | None:
    """The payment whose state the event concerns, if any."""
    if e.fact is not None:
        return e.fact.payment_id
    if e.decline is not None:
        return e.decline.payment_id
    # A retrieval request changes no status, but its payment must be known for the order to
    # show it: one the warehouse has never seen is read once (``truth.fetch_truth``).
    return str(e.retrieval["payment_id"]) if e.retrieval is not None else None
