"""Daily settlement: payouts per currency account and the reports that describe them.

Schedule per day D (UTC), following the report pages quoted in docs/checkout-com.md#reports:

* D 02:00  one payout per currency account for the financial actions processed on D-1, and a
  ``FinancialActionsByPayoutId`` report per payout (tag ``payout_id:<id>``);
* D 03:00  a ``FinancialActions`` date-range report covering [D-2, D) -- consecutive reports
  overlap by one day, as the real daily regeneration does (architecture.md decision 4);
* D 15:00  a ``Payouts`` report listing the payouts dated D.

Each step schedules its successor, so settlement keeps running as the simulated clock moves.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from decimal import Decimal

from checkout_freshportal.money import to_minor

from .clock import day_start
from .fees import merchant_payout_fee
from .model import FinancialAction, Payout, Report, ReportFile
from .world import World

PAYOUT_HOUR = timedelta(hours=2)
FA_REPORT_HOUR = timedelta(hours=3)
PAYOUT_REPORT_HOUR = timedelta(hours=15)
DAY = timedelta(days=1)


def start_settlement(world: World, first_day: datetime) -> None:
    """Settle every day from ``first_day`` (a UTC midnight) on; call once per world."""
    world.schedule(first_day + PAYOUT_HOUR, run_payouts, world, first_day)
    world.schedule(first_day + FA_REPORT_HOUR, run_fa_report, world, first_day)
    world.schedule(first_day + PAYOUT_REPORT_HOUR, run_payouts_report, world, first_day)


def fas_between(world: World, start: datetime, end: datetime) -> list[FinancialAction]:
    lst = world.financial_actions
    lo = bisect.bisect_left(lst, start, key=lambda fa: fa.processed_on)
    hi = bisect.bisect_left(lst, end, key=lambda fa: fa.processed_on)
    return lst[lo:hi]


def run_payouts(world: World, day: datetime) -> None:
    world.schedule(day + DAY + PAYOUT_HOUR, run_payouts, world, day + DAY)
    period_start, period_end = day - DAY, day
    by_account: dict[str, list[FinancialAction]] = {}
    for fa in fas_between(world, period_start, period_end):
        if fa.payout_id is None:
            by_account.setdefault(fa.currency_account_id, []).append(fa)
    created = world.stamp(day + PAYOUT_HOUR)
    for n, (account_id, fas) in enumerate(
        sorted(by_account.items(), key=lambda kv: kv[1][0].holding_currency)
    ):
        payout = _make_payout(world, account_id, fas, day, period_start, period_end, created)
        world.payouts.append(payout)
        world.payouts_by_id[payout.id] = payout
        ent = world.account.client_entity_id
        report_time = world.stamp(created + timedelta(minutes=30, seconds=7 * n))
        world.add_report(
            Report(
                id=world.ids.new("rpt"),
                type="FinancialActionsByPayoutId",
                description="Financial Actions by Payout ID",
                created_on=report_time,
                from_=period_start,
                to=period_end,
                tags=[f"payout_id:{payout.id}"],
                files=[
                    ReportFile(
                        world.ids.new("file"), f"financial-actions_{ent}_{day:%Y%m%d}_{payout.id}_1.csv"
                    )
                ],
                payout_id=payout.id,
                payout_date=day,
            )
        )
    world.settled_through = day


def _make_payout(
    world: World,
    account_id: str,
    fas: list[FinancialAction],
    day: datetime,
    period_start: datetime,
    period_end: datetime,
    created: datetime,
) -> Payout:
    currency = fas[0].holding_currency
    sums = {
        "payments": Decimal(0),
        "refunds": Decimal(0),
        "chargebacks": Decimal(0),
        "interchange": Decimal(0),
        "scheme": Decimal(0),
        "processing": Decimal(0),
    }
    fee_abs = Decimal(0)
    payout_id = world.ids.new("po")
    for fa in fas:
        fa.payout_id = payout_id
        for line in fa.lines:
            if not line.is_fee:
                key = {"Capture": "payments", "Refund": "refunds"}.get(fa.action_type, "chargebacks")
                sums[key] += line.holding_amount
                continue
            fee_abs += abs(line.holding_amount)
            if line.breakdown_type == "Interchange Fee":
                sums["interchange"] += line.holding_amount
            elif line.breakdown_type.startswith("Scheme"):
                sums["scheme"] += line.holding_amount
            else:
                sums["processing"] += line.holding_amount
    merchant_fee = merchant_payout_fee(currency)
    net = sums["payments"] + sums["refunds"] + sums["chargebacks"] - fee_abs - merchant_fee
    return Payout(
        id=payout_id,
        currency_account_id=account_id,
        currency=currency,
        date=day,
        period_start=period_start,
        period_end=period_end,
        created_on=created,
        amount=to_minor(net, currency),
        merchant_fee=to_minor(merchant_fee, currency),
        payments=sums["payments"],
        refunds=sums["refunds"],
        chargebacks=sums["chargebacks"],
        interchange_fees=sums["interchange"],
        scheme_fees=sums["scheme"],
        processing_fees=sums["processing"],
        financial_action_ids=[fa.action_id for fa in fas],
    )


def run_fa_report(world: World, day: datetime) -> None:
    world.schedule(day + DAY + FA_REPORT_HOUR, run_fa_report, world, day + DAY)
    start = day - 2 * DAY
    if start < day_start(world.start):
        start = day_start(world.start)
    ent = world.account.client_entity_id
    world.add_report(
        Report(
            id=world.ids.new("rpt"),
            type="FinancialActions",
            description="Financial Actions by Date Range",
            created_on=world.stamp(day + FA_REPORT_HOUR),
            from_=start,
            to=day,
            tags=[],
            files=[
                ReportFile(world.ids.new("file"), f"financialactions_{ent}_{start:%Y%m%d}_{day:%Y%m%d}_1.csv")
            ],
        )
    )


def run_payouts_report(world: World, day: datetime) -> None:
    world.schedule(day + DAY + PAYOUT_REPORT_HOUR, run_payouts_report, world, day + DAY)
    ent = world.account.client_entity_id
    world.add_report(
        Report(
            id=world.ids.new("rpt"),
            type="Payouts",
            description="Payouts",
            created_on=world.stamp(day + PAYOUT_REPORT_HOUR),
            from_=day,
            to=day + DAY,
            tags=[],
            files=[ReportFile(world.ids.new("file"), f"payouts_{ent}_{day:%Y%m%d}_1.csv")],
            payout_date=day,
        )
    )
