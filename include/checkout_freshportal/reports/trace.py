"""One order's money chain, read from the warehouse: what ``cfp trace`` prints and the report's
trace section shows.

payment link -> payments (by reconciliation's matches, else by reference) -> actions (captures,
refunds, voids) -> disputes -> financial-action lines with their fee category -> payouts, plus
the FreshPortal refund requests and every reconciliation exception that names the order or one
of its payments. Finance asks "where is the money of order X" one order at a time; answering it
from the same tables reconciliation reads means the trace and the exceptions never disagree.

Every amount is shown in major units as text (``checkout_freshportal.money``: exact, never
through a float); financial-action lines keep their exact 8-decimal value. No card data and no
e-mail address leave here: free text is masked like the exports mask it, and every other string
(ids, references, codes, invoice numbers, even the order's ``customer_email_masked``, which is
whatever was stored) has its addresses masked once the trace is built (:func:`_mask_addresses`);
:func:`render_text` escapes every value that came from an API.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from checkout_freshportal.logsafe import mask_emails, mask_text, safe
from checkout_freshportal.money import MoneyError, exponent, from_e8, to_major
from checkout_freshportal.reconcile.fees import fee_category
from checkout_freshportal.timeutil import format_ts
from checkout_freshportal.warehouse.schema import recon, stg, sync

Row = dict[str, Any]


def major(minor: int | None, currency: str | None) -> str | None:
    """``1234, 'EUR'`` -> ``'12.34'``; NULL stays None; an unknown currency shows minor units."""
    if minor is None:
        return None
    try:
        return str(to_major(int(minor), currency or ""))
    except MoneyError:
        return f"{minor} (minor units)"


def major_e8(value: int | None, currency: str | None) -> str | None:
    """An exact ``*_e8`` amount as major units with at least the currency's decimals."""
    if value is None:
        return None
    exact = from_e8(int(value))
    try:
        places = exponent(currency or "")
    except MoneyError:
        places = 0
    shown = exact.normalize()
    if -shown.as_tuple().exponent < places:  # type: ignore[operator]
        shown = exact.quantize(Decimal(1).scaleb(-places))
    return f"{shown:f}"


@dataclass
class PaymentTrace:
    payment: Row  # the payment with its balances, how it was matched and its derived status
    actions: list[Row] = field(default_factory=list)
    disputes: list[Row] = field(default_factory=list)
    lines: list[Row] = field(default_factory=list)  # financial-action lines with fee category
    fees: list[Row] = field(default_factory=list)  # per fee category and holding currency

    def to_dict(self) -> dict[str, Any]:
        return {
            "payment": self.payment,
            "actions": self.actions,
            "disputes": self.disputes,
            "lines": self.lines,
            "fees": self.fees,
        }


@dataclass
class OrderTrace:
    order: Row
    payment_links: list[Row] = field(default_factory=list)
    payments: list[PaymentTrace] = field(default_factory=list)
    refund_requests: list[Row] = field(default_factory=list)
    payouts: list[Row] = field(default_factory=list)
    exceptions: list[Row] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: amounts are text in major units, times ISO 8601 UTC."""
        return {
            "order": self.order,
            "payment_links": self.payment_links,
            "payments": [p.to_dict() for p in self.payments],
            "refund_requests": self.refund_requests,
            "payouts": self.payouts,
            "exceptions": self.exceptions,
        }


def _masked(value: Any) -> Any:
    return mask_text(value) if isinstance(value, str) else value


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_ts(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


#: Free-text columns (a refund's reason, an exception's detail and explanation): they may quote
#: an e-mail address or a card number from a payload or a person, masked here as in the exports.
_FREE_TEXT = frozenset({"reason", "detail", "explanation"})


def _row(r: Any, keep: tuple[str, ...], amounts: dict[str, str] | None = None) -> Row:
    """``keep`` columns of ``r`` made JSON-ready (free text masked), plus ``<name>:
    major(<column>, currency)``."""
    m = r._mapping
    out = {k: _masked(m[k]) if k in _FREE_TEXT else _plain(m[k]) for k in keep}
    for name, col in (amounts or {}).items():
        out[name] = major(m[col], m["currency"])
    return out


def trace_order(engine: Engine, order_number: str) -> OrderTrace | None:
    """The money chain of the order with this number (the newest, should two share it), or None."""
    o = stg.stg_orders
    with engine.connect() as conn:
        order = conn.execute(
            sa.select(o).where(o.c.order_number == order_number).order_by(o.c.updated_at.desc()).limit(1)
        ).first()
        if order is None:
            return None
        om = order._mapping
        trace = OrderTrace(order=_order_row(om))
        trace.payment_links = _links(conn, om["order_id"])
        payments = _payments(conn, om["order_id"], om["order_number"], trace.payment_links)
        ids = [p["payment_id"] for p in payments]
        actions, disputes, lines = _actions(conn, ids), _disputes(conn, ids), _lines(conn, ids)
        for p in payments:
            pid = p["payment_id"]
            pt = PaymentTrace(p, actions.get(pid, []), disputes.get(pid, []), lines.get(pid, []))
            pt.fees = _fees(pt.lines)
            trace.payments.append(pt)
        payout_ids = sorted({ln["payout_id"] for pt in trace.payments for ln in pt.lines if ln["payout_id"]})
        trace.payouts = _payouts(conn, payout_ids)
        trace.refund_requests = _refund_requests(conn, om["order_id"])
        trace.exceptions = _exceptions(conn, om["order_id"], ids)
    _mask_addresses(trace)
    return trace


def _mask_addresses(trace: OrderTrace) -> None:
    """Every string of every row, in place: one pass after the rows are built, so a column a
    builder adds later is covered too. Amounts are our own text and hold no ``@``."""
    rows = [trace.order, *trace.payment_links, *trace.refund_requests, *trace.payouts, *trace.exceptions]
    for pt in trace.payments:
        rows += [pt.payment, *pt.actions, *pt.disputes, *pt.lines, *pt.fees]
    for row in rows:
        for key, value in row.items():
            if isinstance(value, str):
                row[key] = mask_emails(value)
            elif isinstance(value, list):  # invoice numbers
                row[key] = [mask_emails(v) if isinstance(v, str) else v for v in value]


def _order_row(om: Any) -> Row:
    keep = ("order_id", "order_number", "status", "confirmed_at", "currency", "customer_email_masked")
    out = {k: _plain(om[k]) for k in keep}
    out["amount"] = major(om["amount_minor"], om["currency"])
    out["invoice_numbers"] = list(om["invoice_numbers"] or [])
    out["freshportal_payment_status"] = om["payment_status"]
    out["amount_paid"] = major(om["amount_paid_minor"], om["payment_currency"] or om["currency"])
    out["amount_refunded"] = major(om["amount_refunded_minor"], om["payment_currency"] or om["currency"])
    return out


def _links(conn: Connection, order_id: str) -> list[Row]:
    t = sync.sync_payment_link_intents
    keep = ("intent_id", "order_version", "state", "link_id", "link_status", "currency")
    rows = conn.execute(sa.select(t).where(t.c.order_id == order_id).order_by(t.c.created_at, t.c.intent_id))
    out = []
    for r in rows:
        row = _row(r, keep, {"amount": "amount_minor"})
        row["expires_on"], row["payment_id"] = _plain(r.expires_on), r.payment_id
        out.append(row)
    return out


def _payments(conn: Connection, order_id: str, order_number: str, links: list[Row]) -> list[Row]:
    """Matched payments (confirmed or suggested); before any reconciliation run, the payments
    whose reference is the order number or that paid its link (rule ``unreconciled``)."""
    m, p, s = recon.recon_matches, stg.stg_payments, stg.stg_payment_status
    how: dict[str, tuple[str, bool]] = {
        r.payment_id: (r.rule, bool(r.confirmed))
        for r in conn.execute(
            sa.select(m.c.payment_id, m.c.rule, m.c.confirmed).where(m.c.order_id == order_id)
        )
    }
    linked = {lk["payment_id"] for lk in links if lk["payment_id"]}
    by_ref = conn.execute(sa.select(p.c.payment_id).where(p.c.reference == order_number)).scalars()
    for pid in (*by_ref, *linked):
        how.setdefault(pid, ("unreconciled", False))
    if not how:
        return []
    q = (
        sa.select(p, s.c.status.label("derived_status"), s.c.freshportal_status.label("derived_fp_status"))
        .select_from(p.outerjoin(s, s.c.payment_id == p.c.payment_id))
        .where(p.c.payment_id.in_(sorted(how)))
        .order_by(p.c.requested_on, p.c.payment_id)
    )
    keep = (
        "payment_id",
        "status",
        "requested_on",
        "currency",
        "reference",
        "derived_status",
        "derived_fp_status",
    )
    amounts = {
        "amount": "amount_minor",
        "captured": "total_captured_minor",
        "refunded": "total_refunded_minor",
        "available_to_capture": "available_to_capture_minor",
        "available_to_refund": "available_to_refund_minor",
    }
    out = []
    for r in conn.execute(q):
        row = _row(r, keep, amounts)
        row["rule"], row["confirmed"] = how[r.payment_id]
        row["source_type"], row["card_scheme"] = r.source_type, r.card_scheme  # never bin/last4
        out.append(row)
    return out


def _actions(conn: Connection, ids: list[str]) -> dict[str, list[Row]]:
    a = stg.stg_payment_actions
    keep = ("action_id", "action_type", "processed_on", "currency", "approved", "response_code")
    out: dict[str, list[Row]] = defaultdict(list)
    if ids:
        q = sa.select(a).where(a.c.payment_id.in_(ids)).order_by(a.c.processed_on, a.c.action_id)
        for r in conn.execute(q):
            out[r.payment_id].append(_row(r, keep, {"amount": "amount_minor"}))
    return out


def _disputes(conn: Connection, ids: list[str]) -> dict[str, list[Row]]:
    d = stg.stg_disputes
    keep = (
        "dispute_id",
        "status",
        "category",
        "reason_code",
        "currency",
        "received_on",
        "evidence_required_by",
    )
    out: dict[str, list[Row]] = defaultdict(list)
    if ids:
        q = sa.select(d).where(d.c.payment_id.in_(ids)).order_by(d.c.received_on, d.c.dispute_id)
        for r in conn.execute(q):
            out[r.payment_id].append(_row(r, keep, {"amount": "amount_minor"}))
    return out


def _lines(conn: Connection, ids: list[str]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = defaultdict(list)
    if not ids:
        return out
    lines = stg.financial_action_lines().subquery()
    q = sa.select(lines).where(lines.c.payment_id.in_(ids)).order_by(lines.c.processed_on, lines.c.action_id)
    for r in conn.execute(q):
        out[r.payment_id].append(
            {
                "action_id": r.action_id,
                "action_type": r.action_type,
                "breakdown_type": r.breakdown_type,
                "category": fee_category(r.action_type, r.breakdown_type),
                "processed_on": _plain(r.processed_on),
                "holding_currency": r.holding_currency,
                "holding_amount": major_e8(r.holding_amount_e8, r.holding_currency),
                "holding_amount_e8": r.holding_amount_e8,
                "processing_currency": r.processing_currency,
                "processing_amount": major_e8(r.processing_amount_e8, r.processing_currency),
                "payout_id": r.payout_id,
            }
        )
    return out


def _fees(lines: list[Row]) -> list[Row]:
    """Sum of the lines per category and holding currency, exact (e8) then shown."""
    sums: dict[tuple[str, str], int] = defaultdict(int)
    for ln in lines:
        sums[(ln["category"], ln["holding_currency"])] += int(ln["holding_amount_e8"] or 0)
    return [
        {"category": cat, "currency": ccy, "amount": major_e8(total, ccy)}
        for (cat, ccy), total in sorted(sums.items())
    ]


def _payouts(conn: Connection, payout_ids: list[str]) -> list[Row]:
    if not payout_ids:
        return []
    t = stg.stg_payouts
    q = sa.select(t).where(t.c.payout_id.in_(payout_ids)).order_by(t.c.payout_date, t.c.payout_id)
    return [
        {
            **_row(r, ("payout_id", "payout_date", "currency")),
            "amount": major_e8(r.payout_amount_e8, r.currency),
        }
        for r in conn.execute(q)
    ]


def _refund_requests(conn: Connection, order_id: str) -> list[Row]:
    t = stg.stg_refund_requests
    keep = ("refund_request_id", "state", "reason", "currency", "requested_at", "outcome_refund_id")
    q = sa.select(t).where(t.c.order_id == order_id).order_by(t.c.requested_at, t.c.refund_request_id)
    return [_row(r, keep, {"amount": "amount_minor"}) for r in conn.execute(q)]


def _exceptions(conn: Connection, order_id: str, payment_ids: list[str]) -> list[Row]:
    e = recon.recon_exceptions
    cond = e.c.order_id == order_id
    if payment_ids:
        cond = sa.or_(cond, e.c.payment_id.in_(payment_ids))
    keep = (
        "exception_id",
        "kind",
        "severity",
        "status",
        "payment_id",
        "payout_id",
        "action_id",
        "dispute_id",
        "refund_request_id",
        "currency",
        "detail",
        "first_seen_at",
        "last_seen_at",
        "explanation",
    )
    q = sa.select(e).where(cond).order_by(e.c.first_seen_at, e.c.exception_key)
    return [_row(r, keep, {"expected": "expected_minor", "actual": "actual_minor"}) for r in conn.execute(q)]


# ------------------------------------------------------------------------------------- text


def _s(value: Any) -> str:
    return "-" if value is None else safe(value)


def _money(amount: str | None, currency: str | None) -> str:
    return "-" if amount is None else f"{safe(amount)} {_s(currency)}"


def render_text(trace: OrderTrace) -> str:
    """The trace as indented lines for a terminal; every value escaped (API text is untrusted)."""
    o = trace.order
    out = [
        f"order {_s(o['order_number'])} ({_s(o['order_id'])}), status {_s(o['status'])}, "
        f"{_money(o['amount'], o['currency'])}, confirmed {_s(o['confirmed_at'])}",
        f"  customer {_s(o['customer_email_masked'])}; "
        f"FreshPortal shows {_s(o['freshportal_payment_status'])}"
        + (f"; invoices {', '.join(_s(i) for i in o['invoice_numbers'])}" if o["invoice_numbers"] else ""),
    ]
    for lk in trace.payment_links:
        out.append(
            f"  payment link {_s(lk['link_id'])} [{_s(lk['state'])}/{_s(lk['link_status'])}] "
            f"{_money(lk['amount'], lk['currency'])}, paid by {_s(lk['payment_id'])}"
        )
    if not trace.payments:
        out.append("  no payment found")
    for pt in trace.payments:
        out.extend(_payment_lines(pt))
    for rr in trace.refund_requests:
        out.append(
            f"  refund request {_s(rr['refund_request_id'])} [{_s(rr['state'])}] "
            f"{_money(rr['amount'], rr['currency'])}, refund {_s(rr['outcome_refund_id'])}"
        )
    for po in trace.payouts:
        out.append(
            f"  payout {_s(po['payout_id'])} on {_s(po['payout_date'])}: "
            f"{_money(po['amount'], po['currency'])}"
        )
    if not trace.exceptions:
        out.append("  no exceptions")
    for ex in trace.exceptions:
        out.append(
            f"  exception {_s(ex['kind'])} [{_s(ex['severity'])}, {_s(ex['status'])}] "
            f"{_s(ex['exception_id'])}: expected {_money(ex['expected'], ex['currency'])}, "
            f"actual {_money(ex['actual'], ex['currency'])}"
        )
        if ex["detail"]:
            out.append(f"    {safe(ex['detail'], 200)}")
        if ex["explanation"]:
            out.append(f"    explained: {safe(ex['explanation'], 200)}")
    return "\n".join(out)


def _payment_lines(pt: PaymentTrace) -> list[str]:
    p = pt.payment
    out = [
        f"  payment {_s(p['payment_id'])} [{_s(p['status'])}] {_money(p['amount'], p['currency'])} "
        f"({_s(p['rule'])}{'' if p['confirmed'] else ', unconfirmed'}): captured {_s(p['captured'])}, "
        f"refunded {_s(p['refunded'])}; derived {_s(p['derived_status'])} "
        f"-> FreshPortal {_s(p['derived_fp_status'])}"
    ]
    for a in pt.actions:
        ok = {True: "approved", False: "declined", None: "?"}[a["approved"]]
        out.append(
            f"    {_s(a['action_type'])} {_s(a['action_id'])} {_money(a['amount'], a['currency'])} "
            f"{ok} {_s(a['processed_on'])}"
        )
    for d in pt.disputes:
        out.append(
            f"    dispute {_s(d['dispute_id'])} [{_s(d['status'])}] {_money(d['amount'], d['currency'])} "
            f"{_s(d['category'])}"
        )
    for ln in pt.lines:
        out.append(
            f"    line {_s(ln['action_type'])}/{_s(ln['breakdown_type'])} ({_s(ln['category'])}) "
            f"{_money(ln['holding_amount'], ln['holding_currency'])} payout {_s(ln['payout_id'])}"
        )
    if pt.fees:
        out.append(
            "    by category: "
            + ", ".join(f"{_s(f['category'])} {_money(f['amount'], f['currency'])}" for f in pt.fees)
        )
    return out
