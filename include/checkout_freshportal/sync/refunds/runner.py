"""What one run of the refund sync shares: the clients, the settings, the run's context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkout_freshportal.sync.intents.execute import Context
from checkout_freshportal.sync.refunds.payments import CheckoutMoney
from checkout_freshportal.sync.refunds.settings import RefundSettings


@dataclass
class RefundRun:
    fp: Any  # FreshPortalClient-like: get_refund_requests_page, write_refund_outcome, mapping
    cko: CheckoutMoney
    settings: RefundSettings
    ctx: Context
