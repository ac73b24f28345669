"""Payment requests: each confirmed FreshPortal order gets exactly one live Checkout.com Payment Link.

Three steps, each safe to repeat and to interrupt anywhere (docs/payment-requests.md):

* :func:`sync_orders` -- the changed-orders feed into ``stg_orders`` (cursor moves with the data);
* :func:`create_payment_links` -- for each confirmed order without a live link at its current
  price: intent row first (unique on order + version), ``creating`` committed, POST with a
  deterministic ``Cko-Idempotency-Key``, link id committed the moment the 201 arrives;
  superseded links (price change) and expired ones (renewal) get a new intent;
* :func:`write_back_links` -- link id + URL onto the FreshPortal order (``PUT``, idempotent),
  ``written_back_at`` recorded.

``POST /payment-links`` has no documented idempotency and no list endpoint exists, so a POST
whose answer was lost leaves the intent *in doubt* (``creating`` without a link id); the
``in_doubt`` setting decides what happens to it. Nothing here retries a POST blindly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from checkout_freshportal.sync.orders import sync_orders as _sync_orders
from checkout_freshportal.sync.payment_links.decision import create_links
from checkout_freshportal.sync.payment_links.errors import (
    PaymentRequestError,
    PaymentRequestsDeferred,
    PaymentRequestsRefused,
)
from checkout_freshportal.sync.payment_links.operator import adopt_link, release_in_doubt
from checkout_freshportal.sync.payment_links.runner import (
    CHECKPOINTS,
    CheckoutLinks,
    Checkpoint,
    FreshPortalPort,
    Runner,
    RunResult,
)
from checkout_freshportal.sync.payment_links.send import post_payment_link
from checkout_freshportal.sync.payment_links.settings import PaymentRequestSettings
from checkout_freshportal.sync.payment_links.writeback import write_back
from checkout_freshportal.timeutil import utcnow

# The use case's facade: the DAG tasks, the CLI, the demo and the tests import from here, so
# the modules behind it can change shape without touching them.
__all__ = [
    "CHECKPOINTS",
    "CheckoutLinks",
    "FreshPortalPort",
    "PaymentRequestError",
    "PaymentRequestsDeferred",
    "PaymentRequestsRefused",
    "RunResult",
    "adopt_link",
    "create_payment_links",
    "post_payment_link",
    "release_in_doubt",
    "run_all",
    "sync_orders",
    "write_back_links",
]


def sync_orders(
    fp: FreshPortalPort,
    engine: Engine,
    settings: PaymentRequestSettings | None = None,
    *,
    run_id: str | None = None,
) -> dict[str, Any]:
    """FreshPortal's changed-orders feed into ``stg_orders`` (see :mod:`..orders`)."""
    settings = settings or PaymentRequestSettings()
    return _sync_orders(fp, engine, page_size=settings.orders_page_size, run_id=run_id)


def _run_step(
    work: Callable[[Runner], RunResult],
    step: str,
    fp: FreshPortalPort,
    cko: CheckoutLinks | None,
    engine: Engine,
    settings: PaymentRequestSettings | None,
    *,
    clock: Callable[[], datetime],
    run_id: str | None,
    checkpoint: Checkpoint | None,
    raise_on_failure: bool,
) -> RunResult:
    """Build the run's shared state, do the step's work, then fail loudly once for the batch."""
    runner = Runner(
        fp,
        cko,
        engine,
        settings or PaymentRequestSettings(),
        step=step,
        clock=clock,
        run_id=run_id,
        checkpoint=checkpoint,
    )
    result = work(runner)
    if raise_on_failure:
        result.raise_for_failures()
    return result


def create_payment_links(
    fp: FreshPortalPort,
    cko: CheckoutLinks,
    engine: Engine,
    settings: PaymentRequestSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    run_id: str | None = None,
    checkpoint: Checkpoint | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Step 2: create (or renew, or replace) links so each eligible order has one live link."""
    return _run_step(
        create_links,
        "create_payment_links",
        fp,
        cko,
        engine,
        settings,
        clock=clock,
        run_id=run_id,
        checkpoint=checkpoint,
        raise_on_failure=raise_on_failure,
    )


def write_back_links(
    fp: FreshPortalPort,
    engine: Engine,
    settings: PaymentRequestSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    run_id: str | None = None,
    checkpoint: Checkpoint | None = None,
    raise_on_failure: bool = True,
) -> RunResult:
    """Step 3: put each created link's id and URL (and status) on its FreshPortal order."""
    return _run_step(
        write_back,
        "write_back_links",
        fp,
        None,
        engine,
        settings,
        clock=clock,
        run_id=run_id,
        checkpoint=checkpoint,
        raise_on_failure=raise_on_failure,
    )


def run_all(
    fp: FreshPortalPort,
    cko: CheckoutLinks,
    engine: Engine,
    settings: PaymentRequestSettings | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    run_id: str | None = None,
    checkpoint: Checkpoint | None = None,
) -> dict[str, Any]:
    """The three steps in order, as the DAG runs them (demo, CLI and tests)."""
    settings = settings or PaymentRequestSettings()
    out: dict[str, Any] = {"sync_orders": sync_orders(fp, engine, settings, run_id=run_id)}
    out["create_payment_links"] = create_payment_links(
        fp, cko, engine, settings, clock=clock, run_id=run_id, checkpoint=checkpoint
    ).as_dict()
    out["write_back_links"] = write_back_links(
        fp, engine, settings, clock=clock, run_id=run_id, checkpoint=checkpoint
    ).as_dict()
    return out
