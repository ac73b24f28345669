"""Knobs of the refund sync (``freshportal_refunds``), with the reasons for their defaults.

Built from DAG params / JSON with :meth:`RefundSettings.from_mapping` or from ``CFP_REFUNDS_*``
variables (docs/settings.md); durations take ``"10m"``, ``"PT10M"`` or a number under a key
naming its unit (``outcome_timeout_minutes: 10``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar

from pydantic import BeforeValidator

from checkout_freshportal.settings_base import Duration, Flag, PositiveInt, TypedSettings, bounded_int


class RefundSettings(TypedSettings):
    settings_group: ClassVar[str] = "refunds"
    env_prefix: ClassVar[str] = "CFP_REFUNDS_"

    # A full refund of an authorised, never captured payment cancels the authorisation (a void)
    # instead: the customer's money was never taken. Off: such requests are rejected with
    # ``void_not_allowed`` and finance decides.
    allow_voids: Flag = True
    # No outcome webhook this long after Checkout.com accepted a refund: read the payment's
    # actions once (webhooks usually arrive within seconds; a lost one must not leave the
    # request "processing" forever).
    outcome_timeout: Duration = timedelta(minutes=10)
    # Accepted this long ago and still no outcome (no webhook, nothing in the payment's actions):
    # the run fails listing the refund, every run, until a person looks (docs/runbook-money.md).
    # Card outcomes come within minutes; raise it for payment methods that settle over days.
    outcome_overdue: Duration = timedelta(hours=24)
    # A request left "sending" (crash, 5xx, timeout, 429) this long ago is resolved: its action
    # is looked up by reference and, only if absent, sent again under the same idempotency key.
    # Longer than one POST with all its retries (6 attempts x 60 s read timeout + backoff, about
    # 7 min with the default client), so a run rarely resends what another is still sending --
    # and if it does, the shared key makes Checkout.com answer 409 or replay the first answer.
    in_doubt_after: Duration = timedelta(minutes=10)
    # FreshPortal's create is not idempotent: a double click or a resent form makes two
    # requests seconds apart. A second one for the same order, amount, currency and reason
    # within this window is rejected as ``duplicate_request`` (0 turns the check off). Short,
    # because two real partial refunds of the same amount and reason are possible too.
    duplicate_window: Duration = timedelta(minutes=2)
    # Checkout.com's idempotency window (24 h in sandbox and production). Past it the key no
    # longer protects a resend; the action lookup before every resend still does.
    idempotency_window: Duration = timedelta(hours=24)
    # Requests validated and sent at once. One request is two round trips and three commits;
    # a single thread uses about half of a 100 writes/s account limit (make bench, refunds).
    # The client paces every thread together, so more threads never exceed the account's limit.
    concurrency: Annotated[int, BeforeValidator(bounded_int(1, 32))] = 4
    # Work bounds per run; the rest waits for the next run (every few minutes).
    max_requests_per_run: PositiveInt = 500
    max_writebacks_per_run: PositiveInt = 1000
    page_size: Annotated[int, BeforeValidator(bounded_int(1, 500))] = 100
