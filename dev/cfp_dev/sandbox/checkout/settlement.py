"""Daily settlement: payouts per currency account and the reports that describe them.

Days are the entity's settlement days: local midnight to midnight in ``report_time_zone``
(default UTC), as Checkout.com settles (docs/checkout-com.md#report-timestamps-and-amounts). For each
day D, from the report pages quoted in docs/checkout-com.md#reports:

* D 02:00 (05:00 outside UTC)  the non-payment lines of D-1 are added (other_actions.py), then
  one payout per currency account for the financial actions processed on D-1, and a
  ``FinancialActionsByPayoutId`` report per payout (tag ``payout_id:<id>``);
* one hour later  a ``FinancialActions`` date-range report covering [D-2, D) -- consecutive
  reports overlap by one day, as the real daily regeneration does (architecture.md decision 4);
* D 15:00  a ``Payouts`` report listing the payouts dated D.

A payout's amount is the sum of the balance effects of the lines it pays out (fees negative,
whatever sign the API gives them) less the merchant payout fee; lines of ``HELD_BACK_TYPES``
stay out of it and appear in its by-payout file with an empty payout id. Each step schedules
its successor, so settlement keeps running as the simulated clock moves.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from checkout_freshportal.money import to_minor

from .fees import balance_amount, merchant_payout_fee
from .model import FinancialAction, Payout, Report, ReportFile
from .other_actions import add_other_actions, is_held_back
from .world import World

PAYOUT_HOUR_UTC = timedelta(hours=2)
PAYOUT_HOUR_LOCAL = timedelta(hours=5)
PAYOUT_REPORT_HOUR = timedelta(hours=15)
_CATEGORIES = ("payments", "refunds", "chargebacks", "interchange", "scheme", "processing")


def zone(world: World) -> ZoneInfo:
    return ZoneInfo(world.config.report_time_zone)


def local_midnight(world: World, instant: datetime) -> datetime:
    """The UTC instant of midnight, in the settlement time zone, of the local day of ``instant``."""
    tz = zone(world)
    local = instant.astimezone(tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz).astimezone(UTC)


def next_day(world: World, day: datetime) -> datetime:
    """The local midnight after ``day`` (23, 24 or 25 hours later around DST changes)."""
    return local_midnight(world, day + timedelta(hours=26))


def _payout_hour(world: World) -> timedelta:
    return PAYOUT_HOUR_UTC if world.config.report_time_zone == "UTC" else PAYOUT_HOUR_LOCAL


def local_date(world: World, instant: datetime) -> str:
    """``YYYYMMDD`` of ``instant`` in the settlement time zone (file names)."""
    return f"{instant.astimezone(zone(world)):%Y%m%d}"


def start_settlement(world: World, first_day: datetime) -> None:
    """Settle every day from the local day of ``first_day`` on; call once per world."""
    day = local_midnight(world, first_day)
    world.schedule(day + _payout_hour(world), run_payouts, world, day)
    world.schedule(day + _payout_hour(world) + timedelta(hours=1), run_fa_report, world, day)
    world.schedule(day + PAYOUT_REPORT_HOUR, run_payouts_report, world, day)


def fas_between(world: World, start: datetime, end: datetime) -> list[FinancialAction]:
    lst = world.financial_actions
    lo = bisect.bisect_left(lst, start, key=lambda fa: fa.processed_on)
    hi = bisect.bisect_left(lst, end, key=lambda fa: fa.processed_on)
    return lst[lo:hi]


def held_back(world: World, payout: Payout) -> list[FinancialAction]:
    """Lines of the payout's account and period that its by-payout file lists without its id."""
    return [
        fa
        for fa in fas_between(world, payout.period_start, payout.period_end)
        if fa.currency_account_id == payout.currency_account_id and fa.payout_id is None and is_held_back(fa)
    ]


def run_payouts(world: World, day: datetime) -> None:
    nxt = next_day(world, day)
    world.schedule(nxt + _payout_hour(world), run_payouts, world, nxt)
    period_start = local_midnight(world, day - timedelta(hours=12))
    period_end = day
    add_other_actions(world, period_start, period_end)
    by_account: dict[str, list[FinancialAction]] = {}
    for fa in fas_between(world, period_start, period_end):
        if fa.payout_id is None and not is_held_back(fa):
            by_account.setdefault(fa.currency_account_id, []).append(fa)
    created = world.stamp(day + _payout_hour(world))
    for n, (account_id, fas) in enumerate(
        sorted(by_account.items(), key=lambda kv: kv[1][0].holding_currency)
    ):
        payout = _make_payout(world, account_id, fas, day, period_start, period_end, created)
        world.payouts.append(payout)
        world.payouts_by_id[payout.id] = payout
        ent = world.account.client_entity_id
        report_time = world.stamp(created + timedelta(minutes=30, seconds=7 * n))
        name = f"financial-actions_{ent}_{local_date(world, day)}_{payout.id}_1.csv"
        world.add_report(
            Report(
                id=world.ids.new("rpt"),
                type="FinancialActionsByPayoutId",
                description="Financial Actions by Payout ID",
                created_on=report_time,
                from_=period_start,
                to=period_end,
                tags=[f"payout_id:{payout.id}"],
                files=[ReportFile(world.ids.new("file"), name)],
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
    """Sums as the Payouts report columns show them: signed balance effects per category."""
    currency = fas[0].holding_currency
    sign = world.config.fee_sign
    sums = dict.fromkeys(_CATEGORIES, Decimal(0))
    payout_id = world.ids.new("po")
    for fa in fas:
        fa.payout_id = payout_id
        for line in fa.lines:
            amount = balance_amount(line.holding_amount, line.is_fee, sign)
            sums[_category(fa.action_type, line.breakdown_type, line.is_fee)] += amount
    merchant_fee = merchant_payout_fee(currency)
    net = sum(sums.values(), Decimal(0)) - merchant_fee
    # A scenario's ``payout_adjustment``: the payout reports more (or less) than its lines add
    # up to, once per payment it pays out (docs/scenario-format.md, reconciliation anomalies).
    paid_out = {fa.payment_id for fa in fas if fa.payment_id}
    adjustment = sum(
        p.payout_adjustment for pid in sorted(paid_out) if (p := world.payments.get(pid)) is not None
    )
    return Payout(
        id=payout_id,
        currency_account_id=account_id,
        currency=currency,
        date=day,
        period_start=period_start,
        period_end=period_end,
        created_on=created,
        amount=to_minor(net, currency) + adjustment,
        merchant_fee=to_minor(merchant_fee, currency),
        payments=sums["payments"],
        refunds=sums["refunds"],
        chargebacks=sums["chargebacks"],
        interchange_fees=sums["interchange"],
        scheme_fees=sums["scheme"],
        processing_fees=sums["processing"],
        financial_action_ids=[fa.action_id for fa in fas],
    )


def _category(action_type: str, breakdown_type: str, is_fee: bool) -> str:
    """The Payouts column a line adds to; ``processing`` takes every other line (an assumption)."""
    if is_fee:
        if breakdown_type == "Interchange Fee":
            return "interchange"
        return "scheme" if breakdown_type.startswith("Scheme") else "processing"
    if "Chargeback" in action_type:
        return "chargebacks"
    return {"Capture": "payments", "Refund": "refunds"}.get(action_type, "processing")


def run_fa_report(world: World, day: datetime) -> None:
    nxt = next_day(world, day)
    world.schedule(nxt + _payout_hour(world) + timedelta(hours=1), run_fa_report, world, nxt)
    start = local_midnight(world, day - timedelta(hours=36))
    first = local_midnight(world, world.start)
    if start < first:
        start = first
    ent = world.account.client_entity_id
    last = local_date(world, day - timedelta(hours=12))  # file names carry the last day covered
    world.add_report(
        Report(
            id=world.ids.new("rpt"),
            type="FinancialActions",
            description="Financial Actions by Date Range",
            created_on=world.stamp(day + _payout_hour(world) + timedelta(hours=1)),
            from_=start,
            to=day,
            tags=[],
            files=[
                ReportFile(
                    world.ids.new("file"), f"financial-actions_{ent}_{local_date(world, start)}_{last}_1.csv"
                )
            ],
        )
    )


def run_payouts_report(world: World, day: datetime) -> None:
    nxt = next_day(world, day)
    world.schedule(nxt + PAYOUT_REPORT_HOUR, run_payouts_report, world, nxt)
    ent = world.account.client_entity_id
    date = local_date(world, day)
    world.add_report(
        Report(
            id=world.ids.new("rpt"),
            type="Payouts",
            description="Payouts",
            created_on=world.stamp(day + PAYOUT_REPORT_HOUR),
            from_=day,
            to=nxt,
            tags=[],
            files=[ReportFile(world.ids.new("file"), f"payouts_{ent}_{date}_{date}_1.csv")],
            payout_date=day,
        )
    )


def correct_payout(world: World, payout_id: str, amount_minor: int | None = None) -> Payout:
    """Checkout.com corrects a payout's amount and issues that day's Payouts report again.

    ``amount_minor`` None: the amount its lines add up to (a scenario's ``payout_adjustment``
    taken out). The new report (file ``..._2.csv``) is created now, so an ingestion that already
    loaded the first one finds it after its watermark; the old file shows the corrected amount
    too (files are rendered from the payouts as they are now).
    """
    payout = world.payouts_by_id[payout_id]
    if amount_minor is None:
        paid_out = {
            fa.payment_id for fa in world.financial_actions if fa.payout_id == payout_id and fa.payment_id
        }
        amount_minor = payout.amount - sum(
            p.payout_adjustment for pid in sorted(paid_out) if (p := world.payments.get(pid)) is not None
        )
    payout.amount = amount_minor
    ent = world.account.client_entity_id
    date = local_date(world, payout.date)
    world.add_report(
        Report(
            id=world.ids.new("rpt"),
            type="Payouts",
            description="Payouts",
            created_on=world.stamp(world.now),
            from_=payout.date,
            to=next_day(world, payout.date),
            tags=[],
            files=[ReportFile(world.ids.new("file"), f"payouts_{ent}_{date}_{date}_2.csv")],
            payout_date=payout.date,
        )
    )
    return payout
