"""Seeded, realistic payment activity for a flower and plant wholesaler (FreshPortal orders).

Each generated payment is a :class:`~.model.PaymentPlan`: its authorization outcome and every
later capture, refund, void and dispute step, decided up front from one RNG stream. The world
plays the steps on the simulated clock, so history before "now" is already applied while later
steps (a capture tomorrow, a dispute next week) happen live or on ``/_sandbox/advance``.

Randomness only picks integers (minor units) and times; money is never a float.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .ids import IdFactory, derived_id, derived_share
from .model import Card, PaymentPlan, PlannedAction, PlannedDispute
from .sources import source_type_for

#: Currency mix of the merchant (weights), with EUR/GBP/USD settling in their own accounts.
CURRENCY_MIX: tuple[tuple[str, int], ...] = (
    ("EUR", 45),
    ("GBP", 14),
    ("USD", 12),
    ("SEK", 10),
    ("JPY", 10),
    ("KWD", 9),
)
#: Minor units per EUR cent as (numerator, denominator) and the rounding step of the amount.
_FX_MINOR: dict[str, tuple[int, int, int]] = {
    "EUR": (1, 1, 1),
    "GBP": (85, 100, 1),
    "USD": (109, 100, 1),
    "SEK": (1146, 100, 1),
    "JPY": (163, 100, 10),
    "KWD": (337, 100, 5),
}
_COUNTRIES = {
    "EUR": ("NL", "NL", "NL", "DE", "DE", "BE", "FR", "IT", "ES", "AT"),
    "GBP": ("GB",),
    "USD": ("US", "US", "CA"),
    "SEK": ("SE",),
    "JPY": ("JP",),
    "KWD": ("KW",),
}
_CITIES = {
    "NL": ("Aalsmeer", "Amsterdam", "Utrecht", "Rotterdam", "Naaldwijk"),
    "DE": ("Berlin", "Hamburg", "Koeln", "Muenchen"),
    "BE": ("Gent", "Brussel", "Antwerpen"),
    "FR": ("Paris", "Lyon", "Nice"),
    "IT": ("Milano", "Sanremo", "Roma"),
    "ES": ("Madrid", "Valencia"),
    "AT": ("Wien", "Graz"),
    "GB": ("London", "Manchester", "Leeds", "Bristol"),
    "US": ("New York", "Chicago", "Miami"),
    "CA": ("Toronto", "Vancouver"),
    "SE": ("Stockholm", "Goeteborg", "Malmoe"),
    "JP": ("Tokyo", "Osaka", "Yokohama"),
    "KW": ("Kuwait City", "Hawalli"),
}
_SHOP_WORDS = (
    "Bloemenhuis",
    "Fleur",
    "Green Garden",
    "Tulip & Co",
    "Petal Lane",
    "Hanami Flowers",
    "Al Zahra Flowers",
    "Blomsterbutik",
    "Rosa Bella",
    "Botanica",
    "Plantenkwekerij",
    "Orchid House",
    "Lily Wholesale",
    "Fiori",
    "Garden Centre",
    "Stem & Leaf",
    "Bloom Studio",
    "Wild Meadow",
    "Evergreen",
    "Pioenroos",
)
_DECLINES: tuple[tuple[str, int], ...] = (
    ("20051", 30),
    ("20005", 25),
    ("40101", 10),
    ("20054", 8),
    ("30041", 5),
    ("20059", 5),
    ("20062", 5),
    ("20014", 4),
    ("20068", 4),
    ("20087", 4),
)
_DISPUTE_CATEGORIES: tuple[tuple[str, str, str, int], ...] = (
    # category, Visa reason, Mastercard reason, weight
    ("fraudulent", "10.4", "4837", 35),
    ("product_service_not_received", "13.1", "4855", 20),
    ("not_as_described", "13.3", "4853", 20),
    ("duplicate", "12.6.1", "4834", 8),
    ("credit_not_issued", "13.6", "4860", 10),
    ("general", "13.7", "4853", 7),
)


def weighted(rng: random.Random, table: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    total = sum(row[-1] for row in table)
    pick = rng.randrange(total)
    for row in table:
        pick -= row[-1]
        if pick < 0:
            return row
    return table[-1]


@dataclass(slots=True)
class Customer:
    info: dict[str, Any]
    currency: str
    country: str
    cards: list[Card]
    number: str


def _card(rng: random.Random, ids: IdFactory, country: str, name: str) -> Card:
    scheme = weighted(rng, (("Visa", 55), ("Mastercard", 38), ("American Express", 7)))[0]
    if scheme == "Visa":
        bin_ = "4" + "".join(str(rng.randrange(10)) for _ in range(5))
        product = "Visa Business" if rng.random() < 0.4 else "Visa Traditional"
    elif scheme == "Mastercard":
        bin_ = f"5{rng.randint(1, 5)}" + "".join(str(rng.randrange(10)) for _ in range(4))
        product = "World Elite" if rng.random() < 0.3 else "Standard"
    else:
        bin_ = "37" + "".join(str(rng.randrange(10)) for _ in range(4))
        product = "Amex Business"
    commercial = product in ("Visa Business", "Amex Business") or rng.random() < 0.2
    return Card(
        scheme=scheme,
        bin=bin_,
        last4=f"{rng.randrange(10000):04d}",
        expiry_month=rng.randint(1, 12),
        expiry_year=rng.randint(2027, 2031),
        card_type="DEBIT" if not commercial and rng.random() < 0.35 else "CREDIT",
        card_category="COMMERCIAL" if commercial else "CONSUMER",
        issuer_country=country,
        product_type=product,
        fingerprint=ids.hex(64),
        source_id=ids.new("src"),
        name=name,
    )


def make_customers(rng: random.Random, ids: IdFactory, count: int) -> list[Customer]:
    out = []
    for i in range(count):
        currency = weighted(rng, CURRENCY_MIX)[0]
        country = rng.choice(_COUNTRIES[currency])
        city = rng.choice(_CITIES[country])
        shop = f"{rng.choice(_SHOP_WORDS)} {city}"
        number = f"C-{10001 + i}"
        slug = "".join(ch for ch in shop.lower() if ch.isalnum())[:24]
        info = {"id": ids.new("cus"), "email": f"orders@{slug}.example", "name": shop}
        cards = [_card(rng, ids, country, shop) for _ in range(1 if rng.random() < 0.7 else 2)]
        out.append(Customer(info, currency, country, cards, number))
    return out


def order_amount(rng: random.Random, currency: str) -> int:
    """A wholesale order: mostly EUR 25-250, some up to 1,500, a few up to 8,000 (in minor units)."""
    tier = rng.random()
    if tier < 0.6:
        eur_cents = rng.randint(2_500, 25_000)
    elif tier < 0.9:
        eur_cents = rng.randint(25_000, 150_000)
    else:
        eur_cents = rng.randint(150_000, 800_000)
    num, den, step = _FX_MINOR.get(currency, (1, 1, 1))
    minor = eur_cents * num // den
    return max(step, minor - minor % step)


def _business_time(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A moment in ``(start, end]``, three times likelier during 06:00-19:00 UTC."""
    span = (end - start).total_seconds()
    for _ in range(8):
        t = start + timedelta(seconds=rng.random() * span)
        if 6 <= t.hour < 19 or rng.random() < 0.33:
            break
    return t


class PlanGenerator:
    """Draws payment plans; keeps its RNG, so successive calls continue one deterministic stream."""

    def __init__(
        self,
        rng: random.Random,
        ids: IdFactory,
        customers: list[Customer],
        stamp: Any,
        action_delay: float = 2.0,
    ) -> None:
        self.rng = rng
        self.ids = ids
        self.customers = customers
        self.stamp = stamp
        self.action_delay = action_delay

    def plans(self, start: datetime, end: datetime, count: int, next_reference: Any) -> list[PaymentPlan]:
        rng = self.rng
        times = sorted(_business_time(rng, start, end) for _ in range(count))
        out: list[PaymentPlan] = []
        for t in times:
            out.extend(self._one(t, next_reference()))
        return out

    def _one(self, t: datetime, reference: str) -> list[PaymentPlan]:
        rng = self.rng
        customer = rng.choice(self.customers)
        currency = customer.currency if rng.random() < 0.95 else weighted(rng, CURRENCY_MIX)[0]
        amount = order_amount(rng, currency)
        card = rng.choice(customer.cards)
        order_no = reference.split("-", 1)[-1]
        metadata = {"order_id": order_no, "customer_no": customer.number, "source": "freshportal"}
        plans = []
        declined = rng.random() < 0.10
        if declined:
            code = weighted(rng, _DECLINES)[0]
            plans.append(self._plan(t, amount, currency, reference, card, customer, metadata, code))
            if rng.random() < 0.6:  # the customer retries, often with another card
                t = t + timedelta(seconds=rng.randint(30, 1800))
                card = rng.choice(customer.cards)
                retry_declined = rng.random() < 0.15
                code = weighted(rng, _DECLINES)[0] if retry_declined else None
                plans.append(self._plan(t, amount, currency, reference, card, customer, metadata, code))
        else:
            plans.append(self._plan(t, amount, currency, reference, card, customer, metadata, None))
        return plans

    def _plan(
        self,
        t: datetime,
        amount: int,
        currency: str,
        reference: str,
        card: Card,
        customer: Customer,
        metadata: dict[str, Any],
        decline: str | None,
    ) -> PaymentPlan:
        ids = self.ids
        t = self.stamp(t)
        plan = PaymentPlan(
            payment_id=ids.new("pay"),
            auth_action_id=ids.new("act"),
            requested_on=t,
            amount=amount,
            currency=currency,
            reference=reference,
            card=card,
            customer=customer.info,
            metadata=dict(metadata),
            description=f"FreshPortal order {metadata['order_id']}",
            decline_code=decline,
        )
        plan.source_type = source_type_for(plan.payment_id, currency)
        if decline is None:
            self._lifecycle(plan)
        return plan

    def _lifecycle(self, plan: PaymentPlan) -> None:
        rng, ids = self.rng, self.ids
        t, amount = plan.requested_on, plan.amount
        acts = plan.actions
        r = rng.random()
        captured_at: datetime | None = None
        captured = 0
        if r < 0.60:  # auto-capture (capture: true)
            captured_at = t + timedelta(seconds=self.action_delay + rng.random() * 20)
            acts.append(PlannedAction(captured_at, "capture", amount, ids.new("act")))
            captured = amount
        elif r < 0.80:  # captured on dispatch, hours to days later
            captured_at = t + timedelta(seconds=rng.randint(3600, 3 * 86400))
            amount += _increment(plan, acts, captured_at)
            acts.append(
                PlannedAction(captured_at, "capture", amount, ids.new("act"), reference=plan.reference)
            )
            captured = amount
        elif r < 0.87:  # partial shipments
            first = amount * rng.randint(50, 90) // 100
            captured_at = t + timedelta(seconds=rng.randint(1800, 2 * 86400))
            acts.append(
                PlannedAction(captured_at, "capture", first, ids.new("act"), reference=f"{plan.reference}-1")
            )
            captured = first
            if rng.random() < 0.5:
                rest = amount - first
                second = rest if rng.random() < 0.5 else rest * rng.randint(30, 90) // 100
                if second > 0:
                    captured_at = captured_at + timedelta(seconds=rng.randint(3600, 2 * 86400))
                    acts.append(
                        PlannedAction(
                            captured_at,
                            "capture",
                            second,
                            ids.new("act"),
                            reference=f"{plan.reference}-2",
                            final=True,
                        )
                    )
                    captured += second
        elif r < 0.92:  # order cancelled before dispatch
            acts.append(
                PlannedAction(t + timedelta(seconds=rng.randint(600, 86400)), "void", None, ids.new("act"))
            )
            return
        else:  # never captured: the authorization expires
            return
        # refunds after capture (quality complaints, short deliveries)
        r = rng.random()
        refunded = 0
        if r < 0.08:
            part = captured * rng.randint(10, 50) // 100
            if part > 0:
                acts.append(
                    PlannedAction(
                        captured_at + timedelta(seconds=rng.randint(86400, 6 * 86400)),
                        "refund",
                        part,
                        ids.new("act"),
                        reference=f"{plan.reference}-R1",
                    )
                )
                refunded = part
        elif r < 0.12:
            acts.append(
                PlannedAction(
                    captured_at + timedelta(seconds=rng.randint(3600, 5 * 86400)),
                    "refund",
                    captured,
                    ids.new("act"),
                    reference=f"{plan.reference}-R1",
                )
            )
            refunded = captured
        if refunded < captured and rng.random() < 0.03:
            self._dispute(plan, captured_at, captured - refunded)

    def _dispute(self, plan: PaymentPlan, captured_at: datetime, disputable: int) -> None:
        rng, ids = self.rng, self.ids
        category, visa, mc, _ = weighted(rng, _DISPUTE_CATEGORIES)
        received = captured_at + timedelta(seconds=rng.randint(86400, 6 * 86400))
        amount = disputable if rng.random() < 0.8 else max(1, disputable * rng.randint(20, 80) // 100)
        dispute = PlannedDispute(
            dispute_id=ids.new("dsp"),
            received_on=received,
            amount=amount,
            category=category,
            reason_code=mc if plan.card.scheme == "Mastercard" else visa,
            chargeback_action_id=ids.new("act"),
            reversal_action_id=ids.new("act"),
        )
        r = rng.random()
        submitted = received + timedelta(seconds=rng.randint(43200, 2 * 86400))
        decided = submitted + timedelta(seconds=rng.randint(2 * 86400, 5 * 86400))
        if r < 0.35:
            dispute.steps = [(submitted, "evidence_under_review"), (decided, "won")]
        elif r < 0.60:
            dispute.steps = [(submitted, "evidence_under_review"), (decided, "lost")]
        elif r < 0.75:
            dispute.steps = [(received + timedelta(seconds=rng.randint(43200, 2 * 86400)), "accepted")]
        elif r < 0.85:
            dispute.steps = []  # nobody answers: expires at evidence_required_by
        else:
            dispute.steps = [(submitted, "evidence_under_review")]
        plan.disputes.append(dispute)


def _increment(plan: PaymentPlan, acts: list[PlannedAction], captured_at: datetime) -> int:
    """A quarter of the orders captured on dispatch grew before dispatch (extra stems added):
    an incremental authorization of 5-20 % halfway to the capture, which then takes it all.

    Chosen and sized from the payment id, so the world's RNG streams and ids stay as they were.
    """
    key = plan.payment_id + ":increment"
    if derived_share(key) >= 0.25:
        return 0
    extra = plan.amount * (5 + int(derived_share(key + ":size") * 16)) // 100
    if extra <= 0:
        return 0
    at = plan.requested_on + (captured_at - plan.requested_on) / 2
    acts.append(PlannedAction(at, "increment", extra, derived_id("act", key)))
    return extra
