"""Financial actions that belong to no card payment, as real financial-actions reports carry them.

Checkout.com's reports list more than captures and refunds (docs/checkout-com.md#non-payment-lines):
3-D Secure authentication fees, optimisation (``opg_``), real-time account updater (``rtau_`` on a
``vau_`` id), network tokens (``nta_`` on an ``nt_`` id), and lines of the entity itself with no
payment at all (minimum billing fee, security deposit and operational funding movements, top up,
cover negative position, invoice settlement, tiered pricing adjustment). The simulator adds them
for each settled day, just before the day's payout is made, so payouts, report files and the
summary all see the same lines.

Ids are derived from the day and a counter (``derived_id``), not drawn from the id stream, so
switching these lines off (``report_non_payment_lines=False``) leaves every other id unchanged.
Action-type names the sources do not give are this project's assumptions (see the docs).
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta
from decimal import Decimal

from checkout_freshportal.money import exponent

from .fees import LineBuilder, _one_in
from .ids import derived_id
from .model import BreakdownLine, FinancialAction
from .world import World

#: Lines listed in a by-payout file with an empty ``Payout ID`` and left out of its amount
#: (which lines those are is not documented; the simulator's choice, see the docs).
HELD_BACK_TYPES = frozenset(
    {"Network Token Update", "Security Deposit Reservation", "Security Deposit Release"}
)

#: Per-event fees in the holding currency (made up; the shape, not the price, is what matters).
_AUTH_FEE = Decimal("0.03")
_OPTIMISATION_FEE = Decimal("0.011")
_UPDATER_FEE = Decimal("0.08")
_NETWORK_TOKEN_FEE = Decimal("0.035")

#: One entity-level line per settled day, in turn: (action type, breakdown type, signed amount
#: in the main currency, is a fee). Fees are magnitudes (the builder applies the fee sign).
_ENTITY_LINES: tuple[tuple[str, str, Decimal, bool], ...] = (
    ("Top Up", "Top Up", Decimal("250"), False),
    ("Adjustment", "Minimum Billing Fee", Decimal("5"), True),
    ("Security Deposit Reservation", "Security Deposit Reservation", Decimal("-25"), False),
    ("Tiered Pricing Adjustment", "Gateway Fixed Fee", Decimal("0.4"), True),
    ("Operational Funding Reservation", "Operational Funding Reservation", Decimal("-10"), False),
    ("Operational Funding Release", "Operational Funding Release", Decimal("10"), False),
    ("Security Deposit Release", "Security Deposit Release", Decimal("25"), False),
    ("Invoice Settlement", "Invoice Settlement", Decimal("-12.5"), False),
    ("Cover Negative Position", "Cover Negative Position", Decimal("3.2"), False),
)


def is_held_back(fa: FinancialAction) -> bool:
    return fa.action_type in HELD_BACK_TYPES


#: (action type, action-id prefix, breakdown type, fee) of the per-capture lines, one in n.
_PER_CAPTURE: tuple[tuple[str, str, str, Decimal, int], ...] = (
    ("Authentication", "sid", "Authentication Fixed Fee", _AUTH_FEE, 3),
    ("Optimization", "opg", "Optimization Fixed Fee", _OPTIMISATION_FEE, 5),
)
#: (action type, action-id prefix, payment-id prefix, breakdown type, fee) of the daily lines
#: per currency account with captures.
_PER_DAY: tuple[tuple[str, str, str, str, Decimal], ...] = (
    ("Account Updater", "rtau", "vau", "Account Updater Fixed Fee", _UPDATER_FEE),
    ("Network Token Update", "nta", "nt", "Network Token Update Fixed Fee", _NETWORK_TOKEN_FEE),
)


def add_other_actions(world: World, start: datetime, end: datetime) -> None:
    """Add the non-payment lines of the settlement day ``[start, end)``; call before its payout."""
    if not world.config.report_non_payment_lines:
        return
    lst = world.financial_actions
    lo = bisect.bisect_left(lst, start, key=lambda fa: fa.processed_on)
    hi = bisect.bisect_left(lst, end, key=lambda fa: fa.processed_on)
    captures = [fa for fa in lst[lo:hi] if fa.action_type == "Capture"]
    new: list[FinancialAction] = []
    for cap in captures:
        at = max(start, cap.processed_on - timedelta(seconds=3))
        for action_type, prefix, breakdown, fee, n in _PER_CAPTURE:
            if _one_in(f"{cap.action_id}:{prefix}", n):
                aid = derived_id(prefix, f"{prefix}:{cap.action_id}")
                new.append(_fee_action(world, cap, at, (action_type, aid, ""), breakdown, fee))
    for holding in sorted({c.holding_currency for c in captures}):
        first = next(c for c in captures if c.holding_currency == holding)
        at = max(start, first.processed_on - timedelta(seconds=3))
        for action_type, prefix, pay_prefix, breakdown, fee in _PER_DAY:
            tag = f"{start:%Y%m%d%H}:{holding}"
            ids = (
                action_type,
                derived_id(prefix, f"{prefix}:{tag}"),
                derived_id(pay_prefix, f"{pay_prefix}:{tag}"),
            )
            new.append(_fee_action(world, first, at, ids, breakdown, fee))
    if captures:  # a quiet day stays quiet: its files hold the header alone
        new.append(_entity_action(world, start, end))
    # every new line falls inside [start, end): one merge of the day's slice keeps the list sorted
    lst[lo:hi] = sorted([*lst[lo:hi], *new], key=lambda fa: fa.processed_on)
    for fa in new:
        if fa.payment_id:  # lines without one are not listed under "" (an unknown id finds nothing)
            world.fa_by_payment.setdefault(fa.payment_id, []).append(fa)
        world.fa_by_action[fa.action_id] = fa


def _fee_action(
    world: World,
    near: FinancialAction,
    at: datetime,
    ids: tuple[str, str, str],
    breakdown: str,
    fee: Decimal,
) -> FinancialAction:
    """A fee-only action next to ``near`` (a capture of the same currency account);
    ``ids`` = (action type, action id, payment id or "")."""
    lb = LineBuilder(near.holding_currency, Decimal(1), world.config.fee_sign)
    lb.fee(breakdown, "", fee)
    action_type, action_id, payment_id = ids
    return _action(world, action_id, action_type, payment_id, at, near, lb.lines)


def _entity_action(world: World, day: datetime, end: datetime) -> FinancialAction:
    """One entity-level line of the day, in the main currency account (no payment, no card)."""
    action_type, breakdown, amount, is_fee = _ENTITY_LINES[day.toordinal() % len(_ENTITY_LINES)]
    holding = "EUR"
    lb = LineBuilder(holding, Decimal(1), world.config.fee_sign)
    if is_fee:
        lb.fee(breakdown, "", amount)
    else:
        major = amount.quantize(Decimal(1).scaleb(-exponent(holding)))
        lb.lines.append(BreakdownLine(breakdown, None, major, major, major, False))
    at = end - timedelta(seconds=1)
    return _action(world, derived_id("act", f"entity:{day:%Y%m%d}"), action_type, "", at, None, lb.lines)


def _action(
    world: World,
    action_id: str,
    action_type: str,
    payment_id: str,
    at: datetime,
    near: FinancialAction | None,
    lines: list[BreakdownLine],
) -> FinancialAction:
    holding = near.holding_currency if near is not None else "EUR"
    return FinancialAction(
        payment_id=payment_id,
        action_id=action_id,
        action_type=action_type,
        processed_on=at,
        requested_on=at,
        reference=None,
        currency_account_id=world.currency_account(holding),
        holding_currency=holding,
        processing_currency=holding,
        transaction_currency=holding,
        fx_rate=Decimal(1),
        region="",
        payment_method=near.payment_method if near is not None and payment_id else "",
        card_type="",
        card_category="",
        issuer_country="",
        lines=lines,
    )
