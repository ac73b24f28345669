"""Fulfilment releases of the simulated tenant: the change feed that triggers captures.

A release says "goods worth ``amount`` of this order went to fulfilment"; ``complete`` marks the
release that finishes the order (the capture after it is final). Releases are created by
FreshPortal users, so the simulator only offers an admin create (and scenario loading); the
API side is read-only: a cursor feed like ``/v1/refund-requests`` and a get by id.

Kept apart from ``state.py`` as a mixin: the feed shares the state's lock, sequence and
paging, but the release logic does not belong in that already long module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .generate import IdAllocator
from .records import RecordProblems, SbOrder, SbRelease, order_and_amount, scenario_datetime, unknown_keys
from .render import Renderer

_RELEASE_FIELDS = frozenset({"amount_minor", "complete", "released_at"})
_SCENARIO_FIELDS = _RELEASE_FIELDS | {"order_number", "order_id", "expected"}


def release_from_scenario(
    data: dict[str, Any], orders_by_ref: dict[str, SbOrder], ids: IdAllocator, now: datetime
) -> SbRelease:
    """A release from a scenario entry ``{order_number, amount_minor, complete[, released_at]}``
    (``expected`` is the demo's expectation of it); every bad field is reported."""
    if not isinstance(data, dict):
        raise ValueError(f"a fulfilment release must be an object, got {type(data).__name__}")
    p = RecordProblems()
    unknown_keys(p, data, _SCENARIO_FIELDS)
    ref, order, amount = order_and_amount(p, data, orders_by_ref)
    complete = data.get("complete", False)
    if not isinstance(complete, bool):
        p.add("complete", "must be true or false")
    released = p.take("released_at", lambda: scenario_datetime(data.get("released_at"), "released_at"), None)
    p.raise_for(f"fulfilment release for {ref}")
    assert order is not None
    assert amount is not None
    released = released or now
    return SbRelease(
        release_id=ids.next("release_id"),
        order_id=order.order_id,
        order_number=order.order_number,
        amount_minor=amount,
        currency=order.currency,
        complete=complete,
        released_at=released,
        updated_at=released,
    )


class ReleasesMixin:
    """Release operations of :class:`~.state.FreshPortalSandboxState` (same lock, same sequence)."""

    _lock: threading.RLock
    ids: IdAllocator
    render: Renderer
    releases: dict[int, SbRelease]
    now: Callable[[], datetime]
    _next_seq: Callable[[], int]
    _order: Callable[[str | int], SbOrder]
    _orders_by_ref: Callable[[], dict[str, SbOrder]]
    _page: Callable[..., dict[str, Any]]
    _not_found: Callable[[str], Exception]
    _unprocessable: Callable[[str], Exception]

    def list_fulfilment_releases(self, cursor: str | None, limit: int | None) -> dict[str, Any]:
        with self._lock:
            return self._page(
                "fulfilment-releases", list(self.releases.values()), cursor, limit, self.render.release
            )

    def _release(self, ref: str | int) -> SbRelease:
        text = str(ref)
        release = self.releases.get(int(text)) if text.isdigit() else None
        if release is None:
            raise self._not_found("fulfilment release not found")
        return release

    def get_fulfilment_release(self, ref: str | int) -> dict[str, Any]:
        with self._lock:
            return self.render.release(self._release(ref))

    def admin_create_release(self, ref: str, data: Any) -> dict[str, Any]:
        """``POST /_sandbox/orders/{ref}/releases``: as a warehouse user releasing goods."""
        with self._lock:
            order = self._order(ref)
            if not isinstance(data, dict):
                raise self._unprocessable("the request body must be a JSON object")
            unknown = sorted(set(data) - _RELEASE_FIELDS)
            if unknown:
                raise self._unprocessable(f"unknown field(s) {unknown}")
            try:
                release = release_from_scenario(
                    {**data, "order_number": order.order_number}, self._orders_by_ref(), self.ids, self.now()
                )
            except ValueError as exc:
                raise self._unprocessable(str(exc)) from None
            release.seq = self._next_seq()
            self.releases[release.release_id] = release
            return self.render.release(release)

    def _load_releases(self, entries: list[dict[str, Any]], anchor: datetime) -> list[SbRelease]:
        out = []
        for entry in entries:
            release = release_from_scenario(entry, self._orders_by_ref(), self.ids, anchor)
            self.releases[release.release_id] = release
            out.append(release)
        return out
