"""Reading Checkout.com where a batch's facts do not suffice, before its transaction opens.

The reads run with no transaction open so a slow API never holds the warehouse lock; a payment
whose read fails has its events deferred to the next run (up to ``max_deferrals``), while a
4xx that says our credentials or request are wrong is raised at once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from checkout_freshportal.checkout.errors import (
    CheckoutError,
    CheckoutTransportError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from checkout_freshportal.observability import bind
from checkout_freshportal.sync.chargebacks import staging as chargeback_staging
from checkout_freshportal.sync.events.parsing import Event, fold, payment_of
from checkout_freshportal.sync.events.run_state import RunState
from checkout_freshportal.sync.events.status_rows import load_stored

# Logged under the use case's name, as before this module was split out of it: log filters
# and dashboards keep finding these lines.
log = logging.getLogger("checkout_freshportal.sync.events.service")


def fetch_truth(
    run: RunState, by_payment: Mapping[str, Sequence[Event]]
) -> tuple[dict[str, Mapping[str, Any]], dict[str, str]]:
    """``GET /payments/{id}`` for the payments whose facts need it, once per payment per run.

    Runs with no transaction open. Returns the snapshots, and the payments whose events wait for
    the next run (the API failed and they have not been deferred too often) with the reason.
    """
    with run.engine.connect() as conn:
        stored = load_stored(conn, sorted(by_payment))
    want = [
        pid
        for pid, evs in by_payment.items()
        if pid not in run.fetched
        and (
            fold(stored.get(pid), pid, evs, run.redo).derive().needs_truth
            # known only through a retrieval request: no fact would ever give it a status row
            or (pid not in stored and all(e.fact is None and e.decline is None for e in evs))
        )
    ]
    snapshots: dict[str, Mapping[str, Any]] = {}
    deferred: dict[str, str] = {}
    if run.checkout is None or not run.settings.fetch_truth:
        return snapshots, deferred
    result = run.result
    for pid in want:
        with bind(payment_id=pid):
            run.fetched.add(pid)
            try:
                snapshots[pid] = run.checkout.get_payment(pid)
                result.truth_fetched += 1
            except NotFoundError:
                result.truth_not_found += 1
                log.warning("GET /payments/%s -> 404: applying its events without a snapshot", pid)
            except (RateLimitedError, ServerError, CheckoutTransportError) as exc:
                result.truth_failed += 1
                oldest = max(e.attempts for e in by_payment[pid])
                if oldest + 1 < run.settings.max_deferrals:
                    deferred[pid] = (
                        f"deferred: GET /payments/{pid} failed: {type(exc).__name__} {exc.status or ''}"
                    )
                log.warning(
                    "GET /payments/%s failed (%s); events kept for the next run", pid, type(exc).__name__
                )
            except CheckoutError:
                raise  # 401/403/422/...: our credentials or request are wrong; be loud
    return snapshots, deferred


def kept(events: Sequence[Event], deferred: Mapping[str, str]) -> list[Event]:
    return [e for e in events if payment_of(e) not in deferred]


def fetch_dispute_details(run: RunState, events: Sequence[Event], deferred: Mapping[str, str]) -> None:
    """``GET /disputes/{id}`` where the webhooks leave the order's signal short (docs/chargebacks.md)."""
    if not run.settings.fetch_truth:
        return
    rows = [e.dispute for e in kept(events, deferred) if e.dispute is not None]
    found = chargeback_staging.fetch_for(run.checkout, run.engine, rows, run.disputes_fetched)
    run.dispute_details.update(found)
    run.result.dispute_details_fetched += len(found)
