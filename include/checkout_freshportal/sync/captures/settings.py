"""Knobs of the capture sync (``freshportal_captures``), with the reasons for their defaults.

Built from DAG params / JSON with :meth:`CaptureSettings.from_mapping` or from ``CFP_CAPTURES_*``
variables (docs/settings.md); lists take JSON or comma-separated text
(``CFP_CAPTURES_MANUAL_CAPTURE_CHANNELS=pc_abc,pc_def``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, ClassVar

from pydantic import BeforeValidator, field_validator
from pydantic_core import PydanticCustomError

from checkout_freshportal.settings_base import (
    Duration,
    Flag,
    PositiveInt,
    TextList,
    TypedSettings,
    bounded_int,
)

#: The shortest claim on a note that still keeps a second run out while the first writes it.
MIN_CLAIM_LEASE = timedelta(minutes=1)


class CaptureSettings(TypedSettings):
    settings_group: ClassVar[str] = "captures"
    env_prefix: ClassVar[str] = "CFP_CAPTURES_"

    # Processing channels (``pc_...``) configured at Checkout.com without auto-capture: their
    # payments stay authorised until a release captures them. A release of an order paid on any
    # other channel needs nothing (the payment captured itself) and is closed silently with
    # ``auto_capture_channel``. Empty by default: nothing is captured until a channel is named.
    manual_capture_channels: TextList = ()
    # Capture any payment that still has an authorised, uncaptured amount when its order is
    # released, whatever its channel (one account where every channel is manual capture).
    capture_all_authorised: Flag = False
    # A FreshPortal note on the order for each capture made, besides the notes for what could
    # not be captured (those are always written): finance sees both on the order.
    note_on_success: Flag = True
    # No outcome webhook this long after Checkout.com accepted a capture: read the payment's
    # actions once (a lost webhook must not leave the capture "processing" forever).
    outcome_timeout: Duration = timedelta(minutes=10)
    # Accepted this long ago and still no outcome (no webhook, nothing in the payment's actions):
    # the run fails listing the capture, every run, until a person looks (docs/runbook-money.md).
    # Card outcomes come within minutes; raise it for payment methods that settle over days.
    outcome_overdue: Duration = timedelta(hours=24)
    # A capture left "sending" (crash, 5xx, timeout) this long ago is resolved: its action is
    # looked up by reference and, only if absent, sent again under the same idempotency key.
    # Longer than one POST with all its retries (6 attempts x 60 s read timeout + backoff, about
    # 7 min with the default client), so a run rarely resends what another is still sending --
    # and if it does, the shared key makes Checkout.com answer 409 or replay the first answer.
    in_doubt_after: Duration = timedelta(minutes=10)
    # A run writing a note holds its intent this long at most (a claim in the warehouse), so a
    # second run at the same moment never writes the same note too. Recording the note, or a
    # FreshPortal error on it, gives the claim back; a run killed outright (SIGKILL, a lost
    # worker) or stopped while its POST may be in flight (task timeout) leaves it to lapse.
    # Longer than the task's execution_timeout (20 min), which bounds one writer: a worst-case
    # note with the default client (a look, up to five POSTs with a look after each failure,
    # each call retried with 5 s connect + 30 s read timeouts) takes about 20-26 minutes.
    writeback_claim_lease: Duration = timedelta(minutes=30)
    # Work bounds per run; the rest waits for the next run (every few minutes).
    max_captures_per_run: PositiveInt = 500
    max_writebacks_per_run: PositiveInt = 1000
    page_size: Annotated[int, BeforeValidator(bounded_int(1, 500))] = 100

    @field_validator("writeback_claim_lease")
    @classmethod
    def _lease_long_enough(cls, lease: timedelta) -> timedelta:
        if lease < MIN_CLAIM_LEASE:  # 0 would turn the claim off: every run would win it
            raise PydanticCustomError("settings", "must be at least 1 minute (a note's claim)")
        return lease

    def is_manual(self, processing_channel_id: object) -> bool:
        """Does a payment on this channel wait for us to capture it?"""
        if self.capture_all_authorised:
            return True
        return (
            isinstance(processing_channel_id, str) and processing_channel_id in self.manual_capture_channels
        )
