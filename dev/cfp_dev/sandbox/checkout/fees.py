"""Fees, FX and the breakdown lines of financial actions.

Each balance-affecting gateway action (capture, refund, chargeback, chargeback reversal) gets a
financial action with a gross line plus fee lines, in *major* units with up to 8 decimals,
exactly like the Financial Actions API and its report CSVs. Currencies without their own
currency account (SEK, JPY, KWD, ...) settle into the EUR account at a daily FX rate, so the
holding amount differs from the transaction amount and FX shows up in reconciliation.

The breakdown labels beyond ``Scheme Fixed Fee``/``Scheme Variable Fee`` are assumptions (the
reference marks the gross/interchange/gateway labels [U]); the sign of fee lines follows
``fee_sign`` (docs/architecture.md decision 5) in the API, while report files write every line
as its balance effect (``balance_amount``). A capture's scheme fees come as several lines of one
breakdown type, as Checkout.com reports them (docs/checkout-com.md#duplicate-lines).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from checkout_freshportal.money import to_major

from .model import BreakdownLine, Card, FeeOverrides, FinancialAction, Payment

E8 = Decimal("0.00000001")

#: Currencies with their own currency account; everything in FX_TO_EUR settles in EUR.
OWN_ACCOUNT_CURRENCIES = ("EUR", "GBP", "USD")

#: Mid rates to EUR around which the daily rate moves by up to +-1 %.
FX_TO_EUR: dict[str, Decimal] = {
    "SEK": Decimal("0.0873"),
    "JPY": Decimal("0.00615"),
    "KWD": Decimal("2.9712"),
    "NOK": Decimal("0.0851"),
    "DKK": Decimal("0.1341"),
    "CHF": Decimal("1.0412"),
    "PLN": Decimal("0.2315"),
}

EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split()  # noqa: SIM905
)

_SCHEME_FIXED = {"EUR": Decimal("0.01952694"), "GBP": Decimal("0.01581682"), "USD": Decimal("0.02103175")}
_GATEWAY_FEE = {"EUR": Decimal("0.10"), "GBP": Decimal("0.09"), "USD": Decimal("0.11")}
_CHARGEBACK_FEE = {"EUR": Decimal("15.00"), "GBP": Decimal("13.00"), "USD": Decimal("17.00")}
_MERCHANT_PAYOUT_FEE = {"EUR": Decimal("1.00"), "GBP": Decimal("1.00"), "USD": Decimal("1.00")}


def holding_currency_for(currency: str) -> str:
    cur = currency.upper()
    if cur in OWN_ACCOUNT_CURRENCIES:
        return cur
    if cur in FX_TO_EUR:
        return "EUR"
    return cur  # an exotic currency gets an account of its own


def region_for(issuer_country: str, merchant_country: str = "NL") -> str:
    if issuer_country == merchant_country:
        return "Domestic"
    if issuer_country in EEA and merchant_country in EEA:
        return "IntraEEA"
    return "International"


def daily_fx_rate(transaction_currency: str, holding_currency: str, when: datetime) -> Decimal:
    """Deterministic rate for a day (no RNG, so it does not depend on processing order)."""
    if transaction_currency == holding_currency:
        return Decimal(1)
    base = FX_TO_EUR.get(transaction_currency)
    if base is None or holding_currency != "EUR":
        return Decimal(1)
    digest = hashlib.sha256(f"{transaction_currency}{when:%Y-%m-%d}".encode()).digest()
    jitter = Decimal(int.from_bytes(digest[:4], "big") % 2001 - 1000) / Decimal(100000)  # +-1 %
    return (base * (1 + jitter)).quantize(E8, rounding=ROUND_HALF_EVEN)


def interchange_rate(card: Card, region: str) -> Decimal:
    if card.scheme == "American Express":
        return Decimal("0.0250")
    if region == "International":
        return Decimal("0.0200") if card.card_category == "COMMERCIAL" else Decimal("0.0150")
    if card.card_category == "COMMERCIAL":
        return Decimal("0.0120")
    return Decimal("0.0020") if card.card_type == "DEBIT" else Decimal("0.0030")


def scheme_variable_rate(region: str) -> Decimal:
    return Decimal("0.0060") if region == "International" else Decimal("0.0010")


def _fixed(table: dict[str, Decimal], holding: str, default: str) -> Decimal:
    value = table.get(holding)
    return value if value is not None else Decimal(default)


def merchant_payout_fee(holding_currency: str) -> Decimal:
    return _fixed(_MERCHANT_PAYOUT_FEE, holding_currency, "0")


def _q(value: Decimal) -> Decimal:
    return value.quantize(E8, rounding=ROUND_HALF_EVEN)


class LineBuilder:
    """Builds breakdown lines for one action, converting holding amounts back for the txn side."""

    def __init__(self, transaction_currency: str, rate: Decimal, fee_sign: int) -> None:
        self.ccy = transaction_currency
        self.rate = rate
        self.fee_sign = fee_sign
        self.lines: list[BreakdownLine] = []

    def gross(self, signed_minor: int) -> Decimal:
        txn = to_major(signed_minor, self.ccy)
        holding = _q(txn * self.rate) if self.rate != 1 else txn
        self.lines.append(BreakdownLine("Gross", None, holding, txn, txn, False))
        return holding

    def fee(self, breakdown_type: str, detail: str, holding_magnitude: Decimal) -> None:
        holding = _q(holding_magnitude) * self.fee_sign
        txn = holding if self.rate == 1 else _q(holding / self.rate)
        self.lines.append(BreakdownLine(breakdown_type, detail, holding, txn, txn, True))


def build_financial_action(
    payment: Payment,
    *,
    action_id: str,
    action_type: str,
    processed_on: datetime,
    signed_amount: int,
    fee_sign: int,
    reference: str | None = None,
) -> FinancialAction:
    """A financial action for ``signed_amount`` minor units (negative for refunds/chargebacks)."""
    over = payment.fees or FeeOverrides()
    holding = payment.holding_currency
    rate = (
        over.fx_rate if over.fx_rate is not None else daily_fx_rate(payment.currency, holding, processed_on)
    )
    lb = LineBuilder(payment.currency, rate, fee_sign)
    gross = lb.gross(signed_amount)
    magnitude = abs(gross)
    scheme = payment.card.scheme
    if action_type == "Capture":
        ic_rate = (
            over.interchange_rate
            if over.interchange_rate is not None
            else interchange_rate(payment.card, payment.region)
        )
        sv_rate = (
            over.scheme_variable_rate
            if over.scheme_variable_rate is not None
            else scheme_variable_rate(payment.region)
        )
        lb.fee("Interchange Fee", f"{scheme} Interchange Fee", magnitude * ic_rate)
        _scheme_fees(lb, scheme, action_id, _q(magnitude * sv_rate), _scheme_fixed(over, holding))
        lb.fee("Gateway Fee", "Card Gateway Fee", _gateway(over, holding))
    elif action_type == "Refund":
        lb.fee("Scheme Fixed Fee", f"{scheme} Fixed Acquirer Network Fee", _scheme_fixed(over, holding))
        lb.fee("Gateway Fee", "Card Refund Gateway Fee", _gateway(over, holding))
    elif action_type == "Chargeback":
        fee = (
            over.chargeback_fee if over.chargeback_fee is not None else _fixed(_CHARGEBACK_FEE, holding, "15")
        )
        lb.fee("Chargeback Fee", f"{scheme} Chargeback Fee", fee)
    return FinancialAction(
        payment_id=payment.id,
        action_id=action_id,
        action_type=action_type,
        processed_on=processed_on,
        requested_on=payment.requested_on,
        reference=reference if reference is not None else payment.reference,
        currency_account_id=payment.currency_account_id,
        holding_currency=holding,
        processing_currency=payment.currency,
        transaction_currency=payment.currency,
        fx_rate=rate,
        region=payment.region,
        payment_method=payment.card.payment_method,
        card_type=payment.card.card_type,
        card_category=payment.card.card_category,
        issuer_country=payment.card.issuer_country,
        lines=lb.lines,
    )


def _scheme_fees(lb: LineBuilder, scheme: str, action_id: str, variable: Decimal, fixed: Decimal) -> None:
    """Scheme fees as Checkout.com reports them: one action carries two ``Scheme Variable Fee``
    lines told apart only by ``Fee Detail``, and now and then two identical ``Scheme Fixed Fee``
    lines (docs/checkout-com.md#duplicate-lines). Splits keep the action's total unchanged."""
    service = _q(variable * Decimal("0.75"))
    lb.fee("Scheme Variable Fee", f"{scheme} Acquirer Service Fee", service)
    lb.fee("Scheme Variable Fee", f"{scheme} Network Access Fee", variable - service)
    half = _q(fixed / 2)
    if half * 2 == fixed and _one_in(action_id, 8):
        for _ in range(2):
            lb.fee("Scheme Fixed Fee", f"{scheme} Fixed Acquirer Network Fee", half)
    else:
        lb.fee("Scheme Fixed Fee", f"{scheme} Fixed Acquirer Network Fee", fixed)


def _one_in(key: str, n: int) -> bool:
    """Deterministic 1-in-n choice from an id, so the same seed gives the same files."""
    return hashlib.sha256(key.encode()).digest()[0] % n == 0


def balance_amount(amount: Decimal, is_fee: bool, fee_sign: int) -> Decimal:
    """A line's effect on the balance: what report files write, whatever sign the API gives fees.

    Fee lines hold ``magnitude * fee_sign`` (the API's convention, decision 5); a report shows
    the debit as negative and a credit as positive. Other lines are already signed that way."""
    return -amount * fee_sign if is_fee else amount


def _scheme_fixed(over: FeeOverrides, holding: str) -> Decimal:
    return (
        over.scheme_fixed_fee if over.scheme_fixed_fee is not None else _fixed(_SCHEME_FIXED, holding, "0.02")
    )


def _gateway(over: FeeOverrides, holding: str) -> Decimal:
    return over.gateway_fee if over.gateway_fee is not None else _fixed(_GATEWAY_FEE, holding, "0.10")


def format_decimal(value: Decimal, min_decimals: int = 0) -> str:
    """Plain (never scientific) text with trailing zeros dropped down to ``min_decimals``."""
    text = format(_q(value), "f")
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0")
        if len(frac) < min_decimals:
            frac = frac.ljust(min_decimals, "0")
        text = f"{whole}.{frac}" if frac else whole
    elif min_decimals:
        text = f"{text}.{'0' * min_decimals}"
    if text in ("-0", "-0.0") or (text.startswith("-") and Decimal(text) == 0):
        text = text[1:]
    return text
