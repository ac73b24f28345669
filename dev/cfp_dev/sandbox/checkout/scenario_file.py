"""Hand-written scenario files (docs/scenario-format.md): JSON in, checked payment specs out.

scenario_plans.py turns the checked specs into payment plans (times resolved, balances replayed).

A person writes payments with their actions and disputes, amounts in minor units, times either
absolute or relative (``-3d`` before "now", ``+2h`` after the payment). Everything is checked
before the world is built, and every problem is reported with the path to the bad field
(``payments[2].actions[0].amount: ...``), all at once, so a file can be fixed in one pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from checkout_freshportal.checkout.models import MAX_MINOR, MIN_MINOR
from checkout_freshportal.money import is_currency
from checkout_freshportal.timeutil import TimestampError, parse_ts

from . import cards
from .model import FeeOverrides
from .sources import SOURCE_TYPES, source_allowed

FORMAT_VERSION = 1
_REL = re.compile(r"^([+-])(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_PAY_ID = re.compile(r"^pay_[a-z0-9]{26}$")
_DISPUTE_OUTCOMES = (
    "evidence_required",
    "evidence_under_review",
    "won",
    "lost",
    "accepted",
    "expired",
    "canceled",
    "retrieval",
)
_ACTION_TYPES = ("capture", "refund", "void", "increment")

_TOP_KEYS = {"version", "description", "now", "seed", "background", "payments"}
#: Sections of a shared scenario (``sandbox/shared_scenario.py``) that other tools read: the
#: FreshPortal sandbox's orders and the demo's customer plan. This sandbox ignores them.
_SHARED_KEYS = {"freshportal", "demo"}
_PAYMENT_KEYS = {
    "id",
    "reference",
    "amount",
    "currency",
    "requested_on",
    "card",
    "customer",
    "metadata",
    "description",
    "decline_code",
    "capture",
    "actions",
    "disputes",
    "fees",
    "holding_currency",
    "payment_type",
    "source_type",
    "processing_channel_id",
    "capture_settles",
    "payout_adjustment",
}
_CARD_KEYS = {"number", "expiry_month", "expiry_year", "name", "issuer_country", "card_type", "card_category"}
_ACTION_KEYS = {"id", "type", "amount", "at", "reference", "final", "declined", "metadata"}
_ACT_ID = re.compile(r"^act_[a-z0-9]{26}$")
_DISPUTE_KEYS = {"amount", "category", "reason_code", "received_on", "outcome", "resolved_on"}
_FEE_KEYS = {
    "interchange_rate",
    "scheme_variable_rate",
    "scheme_fixed_fee",
    "gateway_fee",
    "chargeback_fee",
    "fx_rate",
}
_CATEGORIES = (
    "general",
    "duplicate",
    "fraudulent",
    "unrecognized",
    "incorrect_amount",
    "not_as_described",
    "credit_not_issued",
    "canceled_recurring",
    "product_service_not_received",
)


class ScenarioError(ValueError):
    """A scenario file that cannot be loaded; ``problems`` lists ``path: message`` lines."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid scenario file {source} ({len(problems)} problem(s)):\n{listing}")


@dataclass(frozen=True)
class TimeSpec:
    """An absolute instant, ``now``, ``-<duration>`` (before now) or ``+<duration>`` (after anchor)."""

    absolute: datetime | None = None
    sign: str = ""
    delta: timedelta = timedelta(0)

    def resolve(self, now: datetime, anchor: datetime | None) -> datetime:
        if self.absolute is not None:
            return self.absolute
        if self.sign == "+":
            return (anchor or now) + self.delta
        return now - self.delta


@dataclass
class Scenario:
    source: str
    now: datetime | None
    seed: int | None
    background_days: int
    background_payments_per_day: int
    payments: list[dict[str, Any]] = field(default_factory=list)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def keys(self, obj: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in obj:
            if key not in allowed:
                self.fail(
                    f"{path}.{key}" if path else key, f"unknown field (allowed: {', '.join(sorted(allowed))})"
                )

    def obj(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, got {_kind(value)}")
            return None
        return value

    def int_(self, value: Any, path: str, minimum: int = 0, what: str = "an integer") -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            hint = (
                " (amounts are integers in minor units, e.g. 1250 for EUR 12.50)" if "amount" in path else ""
            )
            self.fail(path, f"must be {what}{hint}, got {json.dumps(_plain(value))}")
            return None
        if value < minimum:
            self.fail(path, f"must be >= {minimum}, got {value}")
            return None
        if value > MAX_MINOR:  # no 64-bit column holds it: refused here, not by SQL mid-pipeline
            self.fail(path, f"must be at most {MAX_MINOR} (a signed 64-bit integer), got {value}")
            return None
        return value

    def str_(self, value: Any, path: str, max_len: int | None = None) -> str | None:
        if not isinstance(value, str) or not value:
            self.fail(path, f"must be a non-empty string, got {json.dumps(_plain(value))}")
            return None
        if max_len is not None and len(value) > max_len:
            self.fail(path, f"must be at most {max_len} characters")
            return None
        return value

    def time(self, value: Any, path: str, allow_plus: bool) -> TimeSpec | None:
        if not isinstance(value, str):
            self.fail(path, f"must be a time string ('-3d', '+2h30m', 'now' or ISO 8601), got {_kind(value)}")
            return None
        text = value.strip()
        if text == "now":
            return TimeSpec(sign="-")
        m = _REL.match(text)
        if m and any(m.group(i) for i in range(2, 6)):
            sign = m.group(1)
            if sign == "+" and not allow_plus:
                self.fail(
                    path, "'+' times are relative to the payment and only allowed on actions and disputes"
                )
                return None
            d, h, mi, s = (int(m.group(i) or 0) for i in range(2, 6))
            return TimeSpec(sign=sign, delta=timedelta(days=d, hours=h, minutes=mi, seconds=s))
        try:
            ts = parse_ts(text)
        except TimestampError as exc:
            self.fail(path, f"not a time: {exc} (use '-3d', '+2h30m', 'now' or ISO 8601 with Z)")
            return None
        return TimeSpec(absolute=ts)

    def decimal(self, value: Any, path: str) -> Decimal | None:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            self.fail(path, f"must be a decimal number or string, got {_kind(value)}")
            return None
        try:
            dec = Decimal(str(value))
        except ArithmeticError:
            self.fail(path, f"not a decimal: {value!r}")
            return None
        if not dec.is_finite() or dec < 0:
            self.fail(path, "must be a finite, non-negative decimal")
            return None
        return dec


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def read_scenario(path: str | Path) -> Scenario:
    """Parse and check a scenario file (times stay relative until :func:`scenario_plans`)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, [f"(file): cannot read: {exc.strerror or exc}"]) from None
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            source, [f"(line {exc.lineno}, column {exc.colno}): not valid JSON: {exc.msg}"]
        ) from None
    return parse_scenario(data, source)


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    ck = _Checker()
    top = ck.obj(data, "(top level)")
    if top is None:
        raise ScenarioError(source, ck.problems)
    ck.keys(top, _TOP_KEYS | _SHARED_KEYS, "")
    version = top.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        ck.fail("version", f"unsupported version {version!r} (this sandbox reads version {FORMAT_VERSION})")
    now = None
    if "now" in top:
        spec = ck.time(top["now"], "now", allow_plus=False)
        if spec is not None and spec.absolute is None:
            ck.fail("now", "must be an absolute ISO 8601 time (or omit it to use the current time)")
        elif spec is not None:
            now = spec.absolute
    seed = ck.int_(top["seed"], "seed") if "seed" in top else None
    days, ppd = 0, 0
    if "background" in top:
        bg = ck.obj(top["background"], "background")
        if bg is not None:
            ck.keys(bg, {"days", "payments_per_day"}, "background")
            days = ck.int_(bg.get("days", 0), "background.days") or 0
            ppd = ck.int_(bg.get("payments_per_day", 0), "background.payments_per_day") or 0
    payments_raw = top.get("payments", [])
    payments: list[dict[str, Any]] = []
    if not isinstance(payments_raw, list):
        ck.fail("payments", f"must be a list, got {_kind(payments_raw)}")
    else:
        seen_ids: set[str] = set()
        for i, raw in enumerate(payments_raw):
            checked = _check_payment(ck, raw, f"payments[{i}]", seen_ids)
            if checked is not None:
                payments.append(checked)
    if ck.problems:
        raise ScenarioError(source, ck.problems)
    return Scenario(source, now, seed, days, ppd, payments)


def _check_payment(ck: _Checker, raw: Any, path: str, seen_ids: set[str]) -> dict[str, Any] | None:
    obj = ck.obj(raw, path)
    if obj is None:
        return None
    before = len(ck.problems)
    ck.keys(obj, _PAYMENT_KEYS, path)
    out: dict[str, Any] = {"path": path}
    for key in ("amount", "currency", "requested_on"):
        if key not in obj:
            ck.fail(f"{path}.{key}", "is required")
    if "id" in obj:
        pid = ck.str_(obj["id"], f"{path}.id")
        if pid is not None and not _PAY_ID.match(pid):
            ck.fail(f"{path}.id", "must look like pay_ + 26 lowercase letters/digits")
        elif pid in seen_ids:
            ck.fail(f"{path}.id", f"duplicate payment id {pid}")
        elif pid is not None:
            seen_ids.add(pid)
        out["id"] = pid
    if "amount" in obj:
        out["amount"] = ck.int_(obj["amount"], f"{path}.amount")
    currency = None
    if "currency" in obj:
        currency = ck.str_(obj["currency"], f"{path}.currency")
        if currency is not None and not is_currency(currency):
            ck.fail(f"{path}.currency", f"not an ISO 4217 currency with a minor unit: {currency!r}")
            currency = None
        out["currency"] = currency.upper() if currency else None
    if "requested_on" in obj:
        out["requested_on"] = ck.time(obj["requested_on"], f"{path}.requested_on", allow_plus=False)
    if "reference" in obj:
        out["reference"] = ck.str_(obj["reference"], f"{path}.reference", max_len=50)
    if "description" in obj:
        out["description"] = ck.str_(obj["description"], f"{path}.description", max_len=100)
    if "payment_type" in obj:
        out["payment_type"] = ck.str_(obj["payment_type"], f"{path}.payment_type")
    if "processing_channel_id" in obj:
        pc = ck.str_(obj["processing_channel_id"], f"{path}.processing_channel_id", max_len=50)
        if pc is not None and not pc.startswith("pc_"):
            ck.fail(f"{path}.processing_channel_id", "must start with pc_")
        out["processing_channel_id"] = pc
    if "source_type" in obj:
        kind = obj["source_type"]
        if not isinstance(kind, str) or not source_allowed(kind, str(currency)):
            ck.fail(f"{path}.source_type", f"must be one of {', '.join(SOURCE_TYPES)} (ideal: EUR only)")
        out["source_type"] = kind
    out["metadata"] = _check_metadata(ck, obj.get("metadata", {}), f"{path}.metadata")
    out["customer"] = _check_customer(ck, obj.get("customer"), f"{path}.customer")
    out["card"] = _check_card(ck, obj.get("card", {}), f"{path}.card")
    if "decline_code" in obj:
        code = ck.str_(obj["decline_code"], f"{path}.decline_code")
        if code is not None and (code == "10000" or code not in cards.RESPONSE_SUMMARIES):
            known = ", ".join(c for c in cards.RESPONSE_SUMMARIES if c != "10000")
            ck.fail(f"{path}.decline_code", f"unknown decline code {code!r} (known: {known})")
        out["decline_code"] = code
    if "capture" in obj and not isinstance(obj["capture"], bool):
        ck.fail(f"{path}.capture", "must be true or false")
    out["capture"] = obj.get("capture")
    if "holding_currency" in obj:
        hc = ck.str_(obj["holding_currency"], f"{path}.holding_currency")
        if hc is not None and not is_currency(hc):
            ck.fail(f"{path}.holding_currency", f"not an ISO 4217 currency: {hc!r}")
        out["holding_currency"] = hc.upper() if hc else None
    out["fees"] = _check_fees(ck, obj.get("fees"), f"{path}.fees")
    if "capture_settles" in obj and not isinstance(obj["capture_settles"], bool):
        ck.fail(f"{path}.capture_settles", "must be true or false")
    out["capture_settles"] = obj.get("capture_settles", True)
    out["payout_adjustment"] = 0
    if "payout_adjustment" in obj:
        adj = obj["payout_adjustment"]
        if isinstance(adj, bool) or not isinstance(adj, int) or adj == 0 or not MIN_MINOR <= adj <= MAX_MINOR:
            ck.fail(
                f"{path}.payout_adjustment",
                "must be a non-zero integer (minor units of the payout) within a signed 64-bit integer",
            )
        else:
            out["payout_adjustment"] = adj
    out["actions"] = _check_list(ck, obj, "actions", path, _check_action)
    out["disputes"] = _check_list(ck, obj, "disputes", path, _check_dispute)
    if out.get("capture") is True and any(
        a["type"] in ("capture", "void", "increment") for a in out["actions"]
    ):
        ck.fail(
            f"{path}.capture", "true auto-captures the full amount; drop it or drop the capture/void actions"
        )
    if out.get("decline_code") and (out["actions"] or out["disputes"]):
        ck.fail(f"{path}.actions", "a declined payment cannot have actions or disputes")
    return out if len(ck.problems) == before else None


def _check_list(
    ck: _Checker,
    obj: dict[str, Any],
    key: str,
    path: str,
    check: Callable[[_Checker, Any, str], dict[str, Any] | None],
) -> list[dict[str, Any]]:
    """``actions`` / ``disputes``: each item checked where it is, the good ones kept."""
    items = obj.get(key, [])
    if not isinstance(items, list):
        ck.fail(f"{path}.{key}", f"must be a list, got {_kind(items)}")
        return []
    checked = (check(ck, item, f"{path}.{key}[{j}]") for j, item in enumerate(items))
    return [c for c in checked if c is not None]


def _check_metadata(ck: _Checker, value: Any, path: str) -> dict[str, Any]:
    obj = ck.obj(value, path)
    if obj is None:
        return {}
    for key, v in obj.items():
        if isinstance(v, (dict, list)):
            ck.fail(f"{path}.{key}", "metadata is one level of key -> string/number/boolean")
        if isinstance(v, Decimal):
            obj[key] = str(v)
    return dict(obj)


def _check_customer(ck: _Checker, value: Any, path: str) -> dict[str, Any] | None:
    if value is None:
        return None
    obj = ck.obj(value, path)
    if obj is None:
        return None
    ck.keys(obj, {"id", "email", "name"}, path)
    for key in obj:
        ck.str_(obj[key], f"{path}.{key}")
    return dict(obj)


def _check_card(ck: _Checker, value: Any, path: str) -> dict[str, Any]:
    obj = ck.obj(value, path)
    if obj is None:
        return {}
    ck.keys(obj, _CARD_KEYS, path)
    number = obj.get("number", "4242424242424242")
    if not isinstance(number, str) or not cards.luhn_ok(number.replace(" ", "")):
        ck.fail(f"{path}.number", "must be a card number string that passes the Luhn check")
    if "expiry_month" in obj:
        month = ck.int_(obj["expiry_month"], f"{path}.expiry_month", 1)
        if month is not None and month > 12:
            ck.fail(f"{path}.expiry_month", "must be 1..12")
    if "expiry_year" in obj:
        ck.int_(obj["expiry_year"], f"{path}.expiry_year", 2000)
    for key in ("name", "issuer_country", "card_type", "card_category"):
        if key in obj:
            ck.str_(obj[key], f"{path}.{key}")
    if obj.get("card_type", "CREDIT") not in ("CREDIT", "DEBIT", "PREPAID"):
        ck.fail(f"{path}.card_type", "must be CREDIT, DEBIT or PREPAID")
    if obj.get("card_category", "CONSUMER") not in ("CONSUMER", "COMMERCIAL"):
        ck.fail(f"{path}.card_category", "must be CONSUMER or COMMERCIAL")
    return dict(obj)


def _check_fees(ck: _Checker, value: Any, path: str) -> FeeOverrides | None:
    if value is None:
        return None
    obj = ck.obj(value, path)
    if obj is None:
        return None
    ck.keys(obj, _FEE_KEYS, path)
    vals = {k: ck.decimal(v, f"{path}.{k}") for k, v in obj.items() if k in _FEE_KEYS}
    if vals.get("fx_rate") is not None and vals["fx_rate"] == 0:
        ck.fail(f"{path}.fx_rate", "must be positive")
    return FeeOverrides(**vals)


def _check_action(ck: _Checker, raw: Any, path: str) -> dict[str, Any] | None:
    obj = ck.obj(raw, path)
    if obj is None:
        return None
    before = len(ck.problems)
    ck.keys(obj, _ACTION_KEYS, path)
    kind = obj.get("type")
    if kind not in _ACTION_TYPES:
        ck.fail(f"{path}.type", f"must be one of {', '.join(_ACTION_TYPES)}, got {json.dumps(_plain(kind))}")
    out: dict[str, Any] = {"path": path, "type": kind}
    if "amount" in obj:
        if kind == "void":
            ck.fail(f"{path}.amount", "a void always releases the whole remaining authorization; drop amount")
        out["amount"] = ck.int_(obj["amount"], f"{path}.amount", 1, "a positive integer")
    elif kind == "increment":
        ck.fail(f"{path}.amount", "is required for an increment (the amount added to the authorization)")
    if "at" not in obj:
        ck.fail(f"{path}.at", "is required ('+2h' after the payment, '-1d' before now, or ISO 8601)")
    else:
        out["at"] = ck.time(obj["at"], f"{path}.at", allow_plus=True)
    if "reference" in obj:
        out["reference"] = ck.str_(obj["reference"], f"{path}.reference", max_len=50)
    if "id" in obj:
        act_id = ck.str_(obj["id"], f"{path}.id")
        if act_id is not None and not _ACT_ID.match(act_id):
            ck.fail(f"{path}.id", "must look like act_ + 26 lowercase letters/digits")
        out["id"] = act_id
    for key in ("final", "declined"):
        if key in obj and not isinstance(obj[key], bool):
            ck.fail(f"{path}.{key}", "must be true or false")
        out[key] = bool(obj.get(key, False))
    if "metadata" in obj:
        out["metadata"] = _check_metadata(ck, obj["metadata"], f"{path}.metadata")
    if kind == "increment" and out["declined"]:
        ck.fail(f"{path}.declined", "declined increments are not simulated")
    return out if len(ck.problems) == before else None


def _check_dispute(ck: _Checker, raw: Any, path: str) -> dict[str, Any] | None:
    obj = ck.obj(raw, path)
    if obj is None:
        return None
    before = len(ck.problems)
    ck.keys(obj, _DISPUTE_KEYS, path)
    out: dict[str, Any] = {"path": path}
    if "amount" in obj:
        out["amount"] = ck.int_(obj["amount"], f"{path}.amount", 1, "a positive integer")
    category = obj.get("category", "fraudulent")
    if category not in _CATEGORIES:
        ck.fail(f"{path}.category", f"must be one of {', '.join(_CATEGORIES)}")
    out["category"] = category
    out["reason_code"] = ck.str_(obj.get("reason_code", "10.4"), f"{path}.reason_code")
    if "received_on" not in obj:
        ck.fail(f"{path}.received_on", "is required")
    else:
        out["received_on"] = ck.time(obj["received_on"], f"{path}.received_on", allow_plus=True)
    outcome = obj.get("outcome", "evidence_required")
    if outcome not in _DISPUTE_OUTCOMES:
        ck.fail(f"{path}.outcome", f"must be one of {', '.join(_DISPUTE_OUTCOMES)}")
    out["outcome"] = outcome
    if "resolved_on" in obj:
        out["resolved_on"] = ck.time(obj["resolved_on"], f"{path}.resolved_on", allow_plus=True)
    return out if len(ck.problems) == before else None
