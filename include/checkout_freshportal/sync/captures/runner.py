"""What one run of the capture sync shares: the clients, the settings, the run's context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkout_freshportal.sync.captures.payments import CheckoutCaptures
from checkout_freshportal.sync.captures.settings import CaptureSettings
from checkout_freshportal.sync.intents.execute import Context


@dataclass
class CaptureRun:
    fp: Any  # FreshPortalClient-like: get_fulfilment_releases_page, create_note, mapping
    cko: CheckoutCaptures
    settings: CaptureSettings
    ctx: Context
