"""A shared scenario file checked before the demo starts anything (``cfp demo --scenario``).

The demo empties the previous run's warehouse, logs and reports before it starts the sandboxes,
and the FreshPortal sandbox reads its section only when it starts: a file either would refuse
must be refused here first, every problem with its path, in one listing (docs/scenario-format.md,
"Shared scenario: what cfp demo --scenario checks first"). Kept apart from
:mod:`shared_scenario`, which builds and writes such files.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from checkout_freshportal.timeutil import parse_ts

from .shared_scenario import BEHAVIOURS, FORMAT

#: Deeper than any scenario needs (the reconciliation cases are seven levels down), shallow
#: enough that every recursive reader of the file (the checks, ``planted.rebase``) stays far
#: from Python's recursion limit.
MAX_DEPTH = 32
#: The ``demo`` section's keys (docs/scenario-format.md, "The demo section").
_DEMO_KEYS = frozenset(
    {
        "format",
        "go_live",
        "history_orders",
        "checkout_payments",
        "decline_card",
        "approve_card",
        "customers",
        "money",
        "reconciliation",
    }
)
_CUSTOMER_KEYS = frozenset(
    {"order_number", "behaviour", "checkout_status", "refund_minor", "freshportal_status"}
)


def read_scenario(path: str | Path) -> dict[str, Any]:
    """A shared scenario file, checked before anything starts: a clear :class:`ValueError`
    (``ScenarioError`` for the Checkout.com part, every problem with its path) instead of a
    traceback minutes into a demo."""
    from .checkout.scenario_file import ScenarioError, parse_scenario

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:  # the parser itself recurses: '[' * 100000 never gets to a check
        raise ValueError(_listing(path, [_too_deep()])) from None
    if _depth(data) > MAX_DEPTH:
        raise ValueError(_listing(path, [_too_deep()]))
    problems = _shared_problems(data)
    if not isinstance(data, dict):
        raise ValueError(_listing(path, problems))
    try:  # the Checkout.com part, as its sandbox will read it (ScenarioError lists every problem)
        parse_scenario(json.loads(text, parse_float=Decimal), str(path))
    except ScenarioError as exc:
        if not problems:
            raise
        problems.extend(exc.problems)  # one listing: the whole file fixed in one pass
    if problems:
        raise ValueError(_listing(path, problems))
    return data


def _listing(path: str | Path, problems: list[str]) -> str:
    listing = "\n".join(f"  - {p}" for p in problems)
    return f"{path}: not a shared scenario (docs/scenario-format.md):\n{listing}"


def _too_deep() -> str:
    return f"(top level): nested too deeply (more than {MAX_DEPTH} levels of lists and objects)"


def _depth(data: Any) -> int:
    """Nesting depth without recursion (the point is not to trust the file's depth)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                children = value.values() if isinstance(value, dict) else value
                stack.extend((child, depth + 1) for child in children)
    return deepest


def _shared_problems(data: Any) -> list[str]:
    """What the demo reads of a shared scenario beside the Checkout.com part.

    The FreshPortal section goes through the FreshPortal sandbox's own parsers: the demo starts
    that sandbox only after it has emptied the previous run's warehouse, logs and reports, so
    a file it would refuse must be refused here, before anything is deleted or started.
    """
    from .freshportal.scenario_check import section_problems

    if not isinstance(data, dict):
        return ["(top level): must be a JSON object"]
    out = [
        f"{key}: missing (a JSON object)"
        for key in ("freshportal", "demo")
        if not isinstance(data.get(key), dict)
    ]
    if out and "payments" in data:
        out.append("(a Checkout.com-only scenario runs in its sandbox: cfp sandbox checkout --scenario FILE)")
    if out:
        return out
    fp, demo = data["freshportal"], data["demo"]
    out.extend(section_problems(fp, seed=data.get("seed", 42), now=data.get("now")))
    orders = fp.get("orders") if isinstance(fp.get("orders"), list) else []
    numbers = {str(o["order_number"]) for o in orders if isinstance(o, dict) and o.get("order_number")}
    out.extend(_demo_problems(demo, numbers))
    return out


def _demo_problems(demo: dict[str, Any], order_numbers: set[str]) -> list[str]:
    """The ``demo`` section: what the demo's customers do and what it then expects."""
    from checkout_freshportal.timeutil import TimestampError

    from .checkout.cards import luhn_ok

    out = [
        f"demo.{key}: unknown key (known: {', '.join(sorted(_DEMO_KEYS))})"
        for key in sorted(set(demo) - _DEMO_KEYS, key=str)
    ]
    if "format" in demo and demo["format"] != FORMAT:
        out.append(f"demo.format: must be {json.dumps(FORMAT)}, got {json.dumps(demo['format'])}")
    go_live = demo.get("go_live")
    if not isinstance(go_live, str):
        out.append(f"demo.go_live: missing (an ISO 8601 time with an offset), got {_shown(go_live)}")
    else:
        try:
            parse_ts(go_live)
        except TimestampError as exc:
            out.append(f"demo.go_live: not a time: {exc}")
    for key, required in (("history_orders", True), ("checkout_payments", False)):
        if key in demo or required:
            value = demo.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                out.append(f"demo.{key}: must be a whole number >= 0, got {_shown(value)}")
    for key in ("approve_card", "decline_card"):
        card = demo.get(key)
        if not isinstance(card, str) or not luhn_ok(card):
            out.append(f"demo.{key}: must be a card number string passing the Luhn check, got {_shown(card)}")
    customers = demo.get("customers")
    if not isinstance(customers, list):
        out.append(f"demo.customers: missing (a list), got {_shown(customers)}")
    else:
        for i, entry in enumerate(customers):
            out.extend(_customer_problems(entry, f"demo.customers[{i}]", order_numbers))
    out.extend(_shape_problems(demo.get("money"), "demo.money", _MONEY_SHAPE))
    out.extend(_shape_problems(demo.get("reconciliation"), "demo.reconciliation", _RECONCILIATION_SHAPE))
    return out


def _customer_problems(entry: Any, path: str, order_numbers: set[str]) -> list[str]:
    from .freshportal.config import PAYMENT_STATUSES

    if not isinstance(entry, dict):
        return [f"{path}: must be an object, got {_shown(entry)}"]
    out = [
        f"{path}.{key}: unknown key (known: {', '.join(sorted(_CUSTOMER_KEYS))})"
        for key in sorted(set(entry) - _CUSTOMER_KEYS, key=str)
    ]
    number = entry.get("order_number")
    if not isinstance(number, str) or number not in order_numbers:
        out.append(f"{path}.order_number: must name an order of freshportal.orders, got {_shown(number)}")
    behaviour = entry.get("behaviour")
    if not isinstance(behaviour, str) or behaviour not in BEHAVIOURS:
        out.append(f"{path}.behaviour: must be one of {', '.join(BEHAVIOURS)}, got {_shown(behaviour)}")
    elif entry.get("checkout_status") != BEHAVIOURS[behaviour]:
        out.append(
            f"{path}.checkout_status: must be {json.dumps(BEHAVIOURS[behaviour])} for behaviour "
            f"{behaviour}, got {_shown(entry.get('checkout_status'))}"
        )
    refund = entry.get("refund_minor")
    if behaviour == "pay_then_refund_part" or "refund_minor" in entry:
        if behaviour != "pay_then_refund_part":
            out.append(f"{path}.refund_minor: only for behaviour pay_then_refund_part")
        elif isinstance(refund, bool) or not isinstance(refund, int) or refund < 1:
            out.append(f"{path}.refund_minor: must be an integer >= 1 (minor units), got {_shown(refund)}")
    if "freshportal_status" in entry and entry["freshportal_status"] not in PAYMENT_STATUSES:
        out.append(
            f"{path}.freshportal_status: must be one of {', '.join(PAYMENT_STATUSES)}, "
            f"got {_shown(entry['freshportal_status'])}"
        )
    return out


#: What the demo's money and reconciliation steps index into: key -> (type, required, type of
#: a list's items).
_Shape = dict[str, tuple[type, bool, type | None]]
_MONEY_SHAPE: _Shape = {
    "orders": (list, True, str),
    "capture_channels": (list, True, dict),
    "disputes": (list, True, dict),
}
_RECONCILIATION_SHAPE: _Shape = {
    "settings": (dict, False, None),
    "cases": (list, True, dict),
    "controls": (list, True, dict),
}


def _shape_problems(value: Any, path: str, shape: _Shape) -> list[str]:
    """An optional object whose keys the demo reads directly (a missing one is a KeyError there)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{path}: must be an object, got {_shown(value)}"]
    out = [
        f"{path}.{key}: unknown key (known: {', '.join(sorted(shape))})"
        for key in sorted(set(value) - set(shape), key=str)
    ]
    for key, (kind, required, item_kind) in shape.items():
        if key not in value:
            if required:
                out.append(f"{path}.{key}: missing (a {kind.__name__})")
        elif not isinstance(value[key], kind):
            out.append(f"{path}.{key}: must be a {kind.__name__}, got {_shown(value[key])}")
        elif item_kind is not None:
            what = "an object" if item_kind is dict else "a string"
            out.extend(
                f"{path}.{key}[{i}]: must be {what}, got {_shown(item)}"
                for i, item in enumerate(value[key])
                if not isinstance(item, item_kind)
            )
    return out


def _shown(value: Any) -> str:
    if isinstance(value, dict | list):
        return "an object" if isinstance(value, dict) else "a list"
    return json.dumps(value)
