"""Fee categories of financial-action lines, from action type and breakdown type.

Checkout.com reports every balance movement as a line with an ``action_type`` (``Capture``,
``Refund``, ``Chargeback``, ``Top Up``, ...) and a ``breakdown_type`` (``Gross``, ``Interchange
Fee``, ``Scheme Variable Fee``, ...; docs/checkout-com.md "Non-payment lines"). Finance reads
them in a handful of categories; the same rules exist twice, once in Python
(:func:`fee_category`, for one line) and once as a SQL ``CASE`` (:func:`fee_category_sql`, for
millions of lines in the warehouse), and a test checks they agree on every known pair.

Rules are checked in order, first match wins (the order is the table ``_RULES``):

1. entity-level action types (lines of no payment) get a category of their own, whatever their
   breakdown: security deposit, operational funding, top up, cover negative position, invoice
   settlement, tiered-pricing adjustments; a ``Minimum Billing Fee`` breakdown too;
2. tax lines (breakdown naming tax or VAT);
3. chargeback money (``Chargeback`` actions' gross lines, ``Chargeback (ADJM)``-style
   breakdowns) vs the chargeback fee;
4. gross lines of captures and refunds (``Gross``, ``Capture``, ``Refund``);
5. interchange, scheme, FX, reserve;
6. any other ``... Fee`` is Checkout.com's processing fee (gateway, authorisation,
   authentication, optimisation, account updater, network token, premium, refund fixed fee);
7. anything else is ``other`` (shown, never dropped, so a payout still ties out).

Matching is case-insensitive on trimmed labels: the sources write the same label in several
cases (decision 5 in docs/checkout-com.md), and an unknown label must still land somewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

#: Every category, in the order reports show them, with one line for finance.
CATEGORIES: Final[dict[str, str]] = {
    "gross": "Captured or refunded amount of a payment (gross).",
    "chargeback": "Money taken back (or returned) by a chargeback.",
    "interchange": "Interchange fee (card issuer).",
    "scheme": "Card scheme fees (Visa, Mastercard, ...).",
    "processing": "Checkout.com processing fees (gateway, authorisation, 3-D Secure, tokens, ...).",
    "chargeback_fee": "Fee Checkout.com charges for a chargeback.",
    "fx": "Foreign-exchange fees or markup.",
    "reserve": "Rolling reserve held back or released.",
    "tax": "Tax on fees.",
    "minimum_billing_fee": "Top-up to the contracted monthly minimum of fees (entity level).",
    "pricing_adjustment": "Tiered pricing adjustment of earlier fees (entity level).",
    "security_deposit": "Security deposit reserved or released (entity level).",
    "operational_funding": "Operational funding reserved or released (entity level).",
    "top_up": "Funds added to the balance by bank transfer (entity level).",
    "cover_negative_position": "Funds moved to cover a negative balance (entity level).",
    "invoice_settlement": "Checkout.com invoice settled from the balance (entity level).",
    "other": "Any line no rule knows (kept so payouts still tie out).",
}

#: Categories that are fees charged to the merchant (the "fees by category" of the report).
FEE_CATEGORIES: Final[frozenset[str]] = frozenset(
    {
        "interchange",
        "scheme",
        "processing",
        "chargeback_fee",
        "fx",
        "tax",
        "minimum_billing_fee",
        "pricing_adjustment",
    }
)
#: Categories of entity-level lines: they belong to no payment, but count in payouts.
ENTITY_CATEGORIES: Final[frozenset[str]] = frozenset(
    {
        "minimum_billing_fee",
        "pricing_adjustment",
        "security_deposit",
        "operational_funding",
        "top_up",
        "cover_negative_position",
        "invoice_settlement",
    }
)


@dataclass(frozen=True)
class _Rule:
    category: str
    #: lower-cased action types, exact (empty: any)
    actions: tuple[str, ...] = ()
    #: lower-cased breakdown types, exact
    breakdowns: tuple[str, ...] = ()
    #: lower-cased substrings of the breakdown type
    breakdown_contains: tuple[str, ...] = ()
    #: lower-cased suffix of the breakdown type
    breakdown_suffix: str | None = None
    #: if set, the rule needs the action type in ``actions`` AND a breakdown condition
    both: bool = False


_RULES: Final[tuple[_Rule, ...]] = (
    _Rule("security_deposit", actions=("security deposit reservation", "security deposit release")),
    _Rule("operational_funding", actions=("operational funding reservation", "operational funding release")),
    _Rule("top_up", actions=("top up",)),
    _Rule("cover_negative_position", actions=("cover negative position",)),
    _Rule("invoice_settlement", actions=("invoice settlement",)),
    _Rule("pricing_adjustment", actions=("tiered pricing adjustment",)),
    _Rule("minimum_billing_fee", breakdowns=("minimum billing fee",)),
    _Rule("tax", breakdowns=("vat",), breakdown_contains=("tax", "vat ", " vat")),
    _Rule("chargeback_fee", breakdown_contains=("chargeback fee",)),
    _Rule("chargeback", actions=("chargeback", "chargeback reversal"), breakdowns=("gross",), both=True),
    _Rule("chargeback", breakdown_contains=("chargeback",)),
    _Rule("gross", breakdowns=("gross", "capture", "refund", "payout to card", "card payout")),
    _Rule("interchange", breakdown_contains=("interchange",)),
    _Rule("scheme", breakdown_contains=("scheme",)),
    _Rule("fx", breakdown_contains=("fx", "foreign exchange")),
    _Rule("reserve", breakdown_contains=("reserve",)),
    _Rule("processing", breakdown_suffix=" fee"),
)


def _norm(value: str | None) -> str:
    return (value or "").strip().lower()


def _breakdown_hit(rule: _Rule, breakdown: str) -> bool:
    if breakdown in rule.breakdowns:
        return True
    if any(part in breakdown for part in rule.breakdown_contains):
        return True
    return rule.breakdown_suffix is not None and breakdown.endswith(rule.breakdown_suffix)


def fee_category(action_type: str | None, breakdown_type: str | None) -> str:
    """The category of one financial-action line (see the module docstring for the rules)."""
    action, breakdown = _norm(action_type), _norm(breakdown_type)
    for rule in _RULES:
        action_hit = action in rule.actions
        has_breakdown_test = bool(rule.breakdowns or rule.breakdown_contains or rule.breakdown_suffix)
        if rule.both:
            if action_hit and _breakdown_hit(rule, breakdown):
                return rule.category
        elif action_hit or (has_breakdown_test and _breakdown_hit(rule, breakdown)):
            return rule.category
    return "other"


def _sql_breakdown(rule: _Rule, breakdown: ColumnElement[str]) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = []
    if rule.breakdowns:
        parts.append(breakdown.in_(rule.breakdowns))
    # LIKE with literal patterns (no user text), '%' around a label without wildcards.
    parts.extend(breakdown.like(f"%{part}%") for part in rule.breakdown_contains)
    if rule.breakdown_suffix is not None:
        parts.append(breakdown.like(f"%{rule.breakdown_suffix}"))
    return sa.or_(*parts) if parts else sa.false()


def fee_category_sql(
    action_type_col: ColumnElement[str] | sa.Column[str],
    breakdown_type_col: ColumnElement[str] | sa.Column[str],
) -> ColumnElement[str]:
    """The same rules as :func:`fee_category` as one SQL ``CASE`` (SQLite and PostgreSQL).

    ``LOWER(TRIM(...))`` on both sides; patterns are constants of this module, so nothing from
    the data is ever put into the SQL text.
    """
    action = sa.func.lower(sa.func.trim(sa.func.coalesce(action_type_col, "")))
    breakdown = sa.func.lower(sa.func.trim(sa.func.coalesce(breakdown_type_col, "")))
    whens: list[tuple[ColumnElement[bool], str]] = []
    for rule in _RULES:
        action_cond = action.in_(rule.actions) if rule.actions else sa.false()
        if rule.both:
            cond = sa.and_(action_cond, _sql_breakdown(rule, breakdown))
        else:
            cond = sa.or_(action_cond, _sql_breakdown(rule, breakdown))
        whens.append((cond, rule.category))
    return sa.case(*whens, else_=sa.literal("other", sa.Text()))
