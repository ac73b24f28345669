"""A payment's ``stg_payment_status`` row: what it stores, and what moves its version.

The version is FreshPortal's sequence downstream, so it must move exactly when something
FreshPortal could show changes (:func:`material`), and the same facts always build the same row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from checkout_freshportal.checkout.statuses import BALANCE_FIELDS
from checkout_freshportal.sync.events import store
from checkout_freshportal.sync.status.declines import DeclineRecord, declines_from_payment
from checkout_freshportal.sync.status.derivation import Derivation, PaymentState
from checkout_freshportal.sync.status.facts import fact_from_payment


@dataclass
class Stored:
    """A payment's row as the last run left it: the fold starts from its state, the version from
    its material."""

    version: int
    order_id: str | None
    state: PaymentState
    material: tuple[Any, ...]
    events_applied: int
    truth_fetched_at: datetime | None


def load_stored(conn: Connection, payment_ids: Sequence[str]) -> dict[str, Stored]:
    """The batch's payments in one query, so the fold costs no query per payment."""
    return {
        r["payment_id"]: Stored(
            version=int(r["version"]),
            order_id=r["order_id"],
            state=PaymentState.from_json(r["state"], r["payment_id"]),
            material=material_of_row(r),
            events_applied=int(r["events_applied"]),
            truth_fetched_at=r["truth_fetched_at"],
        )
        for r in store.status_rows(conn, payment_ids)
    }


def material(d: Derivation, fp_status: str | None) -> tuple[Any, ...]:
    """What, when it changes, bumps a payment's version."""
    b = d.balances.as_list() if d.balances is not None else None
    return (d.status, d.dispute_id, d.dispute_status, d.dispute_state, fp_status, d.currency, tuple(b or ()))


def material_of_row(r: Mapping[str, Any]) -> tuple[Any, ...]:
    """The same tuple as :func:`material`, read back from a stored row (to compare with it)."""
    bal = [r[f"{name}_minor"] for name in BALANCE_FIELDS]
    b = tuple(bal) if all(v is not None for v in bal) else ()
    return (
        r["status"],
        r["dispute_id"],
        r["dispute_status"],
        r["dispute_state"],
        r["freshportal_status"],
        r["currency"],
        b,
    )


def status_row(
    conn: Connection,
    pid: str,
    state: PaymentState,
    d: Derivation,
    fp_status: str | None,
    problems: list[str],
    prev: Stored | None,
    new_events: int,
    truth_at: datetime | None,
) -> tuple[dict[str, Any], bool, str | None]:
    """The payment's ``stg_payment_status`` row, whether its version moved, and its order (if known)."""
    changed = prev is None or material(d, fp_status) != prev.material
    version = 1 if prev is None else prev.version + (1 if changed else 0)
    order_id = prev.order_id if prev is not None else None
    if order_id is None:
        order_id = resolve_order(conn, d)
    b = d.balances
    row: dict[str, Any] = {
        "payment_id": pid,
        "order_id": order_id,
        "reference": d.reference,
        "status": d.status,
        "dispute_id": d.dispute_id,
        "dispute_status": d.dispute_status,
        "dispute_state": d.dispute_state,
        "freshportal_status": fp_status,
        "currency": d.currency,
        "amount_minor": d.amount,
        **{f"{name}_minor": (getattr(b, name) if b is not None else None) for name in BALANCE_FIELDS},
        "version": version,
        "status_since": d.status_since,
        "derived_from_event_at": d.last_fact_at,
        "truth_fetched_at": truth_at,
        "problems": "; ".join(problems) or None,
        "events_applied": (prev.events_applied if prev else 0) + new_events,
        "state": state.to_json(),
        "source": "webhook+api" if state.truth is not None else "webhook",
    }
    return row, changed, order_id


def resolve_order(conn: Connection, d: Derivation) -> str | None:
    """stg_orders by order number (= the payment's reference), else the link's metadata."""
    if d.reference:
        found = store.order_of_reference(conn, d.reference)
        if found is not None:
            return found
    return d.order_hint


def with_snapshot(
    state: PaymentState,
    prev: Stored | None,
    snap: Mapping[str, Any] | None,
    declines: dict[str, DeclineRecord],
    ts: datetime,
) -> tuple[PaymentState, datetime | None]:
    """Fold a snapshot read this run into the state (as of its newest fact) and log its declines."""
    truth_at = prev.truth_fetched_at if prev else None
    if snap is None:
        return state, truth_at
    # With no fact at all (a payment known only through a retrieval request), the snapshot is
    # the whole truth as of the moment it was read.
    as_of = state.as_of() or ts
    state = state.add(fact_from_payment(snap, as_of))
    for d in declines_from_payment(snap):
        declines.setdefault(d.decline_id, d)
    return state, ts
