"""``GET /_sandbox/summary``: what the account holds, for the demo to compare with the warehouse.

Only what a client can currently see counts (``list_lag_seconds`` hides the newest objects):
payments by ``requested_on``, disputes by ``last_update``, financial actions by
``processed_on`` (API) or by the coverage of visible report files, payouts by their ``Payouts``
report. Money is in minor units per currency, except financial-action holding amounts, which
are exact decimal strings in major units (they carry up to 8 decimals).

Financial-action lines are counted one by one, identical lines included, because the warehouse
stages every line of a file once (a line is its content plus its occurrence, not its action
and breakdown type); the ``..._in_reports`` amounts are the balance effects the files write.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from .clock import cko_ts
from .fees import balance_amount, format_decimal
from .model import FinancialAction
from .world import World


def _fa_block(fas: list[FinancialAction], fee_sign: int | None = None) -> dict[str, Any]:
    """Counts and holding sums of ``fas``; with ``fee_sign``, amounts are the balance effects
    report files write (fees negative), else the API's amounts."""
    holding: dict[str, Decimal] = defaultdict(Decimal)
    lines = 0
    keys: set[tuple[str, str]] = set()
    by_type: Counter[str] = Counter()
    for fa in fas:
        by_type[fa.action_type] += 1
        for line in fa.lines:
            lines += 1
            keys.add((fa.action_id, line.breakdown_type))
            amount = line.holding_amount
            if fee_sign is not None:
                amount = balance_amount(amount, line.is_fee, fee_sign)
            holding[fa.holding_currency] += amount
    return {
        "financial_actions": len(fas),
        # every line counts, identical ones too: a report line is staged once per occurrence
        "financial_action_lines": lines,
        "financial_action_line_keys": len(keys),
        "financial_actions_by_type": dict(sorted(by_type.items())),
        "holding_amounts": {c: format_decimal(v) for c, v in sorted(holding.items())},
    }


def build_summary(world: World) -> dict[str, Any]:
    """Call with the world lock held and the world run up to now."""
    cutoff = world.cutoff()
    hi = bisect.bisect_right(world.payment_list, cutoff, key=lambda p: p.requested_on)
    payments = world.payment_list[:hi]
    by_status: Counter[str] = Counter()
    money: dict[str, dict[str, int]] = {
        k: defaultdict(int)
        for k in (
            "amount",
            "approved_amount",
            "total_authorized",
            "total_captured",
            "total_refunded",
            "total_voided",
        )
    }
    actions = 0
    actions_by_type: Counter[str] = Counter()
    for p in payments:
        by_status[p.status] += 1
        c = p.currency
        money["amount"][c] += p.amount
        if p.approved:
            money["approved_amount"][c] += p.amount
        money["total_authorized"][c] += p.total_authorized
        money["total_captured"][c] += p.total_captured
        money["total_refunded"][c] += p.total_refunded
        money["total_voided"][c] += p.total_voided
        actions += len(p.actions)
        for a in p.actions:
            actions_by_type[a.type] += 1
    disputes = [d for d in world.disputes.values() if d.last_update <= cutoff]
    dispute_amounts: dict[str, int] = defaultdict(int)
    for d in disputes:
        dispute_amounts[d.currency] += d.amount
    fa_hi = bisect.bisect_right(world.financial_actions, cutoff, key=lambda fa: fa.processed_on)
    api_fas = world.financial_actions[:fa_hi]
    reports = [r for r in world.reports if r.created_on <= cutoff]
    coverage_end: datetime | None = None
    payout_dates = set()
    for r in reports:
        if r.type in ("FinancialActions", "FinancialActionsByPayoutId") and (
            coverage_end is None or r.to > coverage_end
        ):
            coverage_end = r.to
        if r.type == "Payouts":
            payout_dates.add(r.payout_date)
    report_fas: list[FinancialAction] = []
    if coverage_end is not None:
        report_fas = world.financial_actions[
            : bisect.bisect_left(world.financial_actions, coverage_end, key=lambda fa: fa.processed_on)
        ]
    payouts = [p for p in world.payouts if p.date in payout_dates]
    payout_amounts: dict[str, int] = defaultdict(int)
    for po in payouts:
        payout_amounts[po.currency] += po.amount
    fa_api = _fa_block(api_fas)
    fa_reports = _fa_block(report_fas, world.config.fee_sign)
    return {
        "now": cko_ts(world.now),
        "visible_until": cko_ts(cutoff),
        "list_lag_seconds": world.config.list_lag_seconds,
        "counts": {
            "payments": len(payments),
            "actions": actions,
            "disputes": len(disputes),
            "financial_actions": fa_api["financial_actions"],
            "financial_action_lines": fa_api["financial_action_lines"],
            "financial_actions_in_reports": fa_reports["financial_actions"],
            "financial_action_lines_in_reports": fa_reports["financial_action_lines"],
            "payouts": len(payouts),
            "payouts_created": sum(1 for p in world.payouts if p.created_on <= cutoff),
            "reports": len(reports),
            "report_files": sum(len(r.files) for r in reports),
            "payment_links": len(world.links),
        },
        "payments_by_status": dict(sorted(by_status.items())),
        "actions_by_type": dict(sorted(actions_by_type.items())),
        "disputes_by_status": dict(sorted(Counter(d.status for d in disputes).items())),
        "financial_actions_by_type": fa_api["financial_actions_by_type"],
        "reports_by_type": dict(sorted(Counter(r.type for r in reports).items())),
        "money": {
            **{k: dict(sorted(v.items())) for k, v in money.items()},
            "disputed_amount": dict(sorted(dispute_amounts.items())),
            "financial_action_holding_amounts": fa_api["holding_amounts"],
            "financial_action_holding_amounts_in_reports": fa_reports["holding_amounts"],
            "payouts": dict(sorted(payout_amounts.items())),
        },
        "report_coverage_end": cko_ts(coverage_end),
    }
