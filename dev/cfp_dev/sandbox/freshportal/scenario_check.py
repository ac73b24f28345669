"""The FreshPortal part of a scenario checked before anything starts, with the sandbox's own parsers.

``FreshPortalSandboxState`` loads a scenario record by record and stops at the first bad one;
the demo only builds it after the previous run's warehouse and logs are gone. Run here first,
the same parsers (``order_from_scenario``, ``refund_request_from_scenario``,
``release_from_scenario``) on the same seed and clock report every problem under its path in
the file (``freshportal.orders[3].amount_minor: ...``), so the rules live in one place.
"""

from __future__ import annotations

import random
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from .config import FreshPortalSandboxConfig
from .generate import IdAllocator, order_from_scenario, parse_now, refund_request_from_scenario
from .records import SbOrder, ScenarioRecordError
from .releases import release_from_scenario

SECTION_KEYS = frozenset({"orders", "refund_requests", "fulfilment_releases", "options"})
_DATA_OPTIONS = frozenset({"orders", "refund_requests", "fulfilment_releases", "seed", "now"})


def _problems_of(exc: ValueError, path: str) -> list[str]:
    if isinstance(exc, ScenarioRecordError):
        return [f"{_joined(path, field)}: {reason}" for field, reason in exc.problems]
    return [f"{path}: {exc}"]


def _joined(path: str, field: str) -> str:
    if not field or field.startswith("["):
        return f"{path}{field}"
    return f"{path}.{field}"


def _reference(raw: Any) -> str:
    """The order a refund request or release names, as the sandbox looks it up."""
    return str(raw.get("order_number") or raw.get("order_id") or "") if isinstance(raw, dict) else ""


def section_problems(
    section: Any, *, seed: Any = 42, now: Any = None, path: str = "freshportal"
) -> list[str]:
    """Every problem of a scenario's FreshPortal section, each as ``path: message``.

    ``seed`` and ``now`` are the scenario's top-level ones: the sandbox allocates order ids
    from the seed, so a given ``order_id`` that collides with an allocated one is found here
    too. A bad ``seed`` or ``now`` is the Checkout.com part's to report; defaults stand in.
    """
    if not isinstance(section, dict):
        return [f"{path}: must be an object"]
    out = [
        f"{path}.{key}: unknown key (known: {', '.join(sorted(SECTION_KEYS))})"
        for key in sorted(set(section) - SECTION_KEYS, key=str)
    ]
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 42
    try:
        anchor = parse_now(now) if isinstance(now, str) else datetime.now(UTC).replace(microsecond=0)
    except ValueError:
        anchor = datetime.now(UTC).replace(microsecond=0)
    ids = IdAllocator.for_seed(seed)
    rng = random.Random(f"scenario-{seed}")
    orders_raw = section.get("orders")
    if not isinstance(orders_raw, list):
        out.append(f"{path}.orders: missing (a list of orders)")
        orders_raw = []
    by_ref: dict[str, SbOrder] = {}
    seen_ids: dict[int, int] = {}
    unparsed: set[str] = set()  # references of bad orders: their refunds need not say "unknown order"
    for i, raw in enumerate(orders_raw):
        where = f"{path}.orders[{i}]"
        try:
            order = order_from_scenario(raw, ids, rng, anchor)
        except ValueError as exc:
            out.extend(_problems_of(exc, where))
            if isinstance(raw, dict):
                unparsed.update(str(raw[k]) for k in ("order_number", "order_id") if raw.get(k))
            continue
        if order.order_number in by_ref:
            out.append(f"{where}.order_number: duplicate order number {order.order_number}")
        elif order.order_id in seen_ids:
            first = seen_ids[order.order_id]
            out.append(f"{where}.order_id: duplicate order id {order.order_id} (orders[{first}] has it too)")
        seen_ids.setdefault(order.order_id, i)
        by_ref.setdefault(order.order_number, order)
        by_ref.setdefault(str(order.order_id), order)
    for key, parse in (
        ("refund_requests", refund_request_from_scenario),
        ("fulfilment_releases", release_from_scenario),
    ):
        entries = section.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            out.append(f"{path}.{key}: must be a list")
            continue
        for i, raw in enumerate(entries):
            if _reference(raw) in unparsed:
                continue
            try:
                parse(raw, by_ref, ids, anchor)
            except ValueError as exc:
                out.extend(_problems_of(exc, f"{path}.{key}[{i}]"))
    out.extend(_option_problems(section.get("options"), f"{path}.options"))
    return out


def _option_problems(options: Any, path: str) -> list[str]:
    """Sandbox settings (``FreshPortalSandboxConfig`` fields), checked by the config itself."""
    if options is None:
        return []
    if not isinstance(options, dict):
        return [f"{path}: must be an object"]
    known = {f.name for f in fields(FreshPortalSandboxConfig)} - _DATA_OPTIONS
    out = [f"{path}.{key}: unknown sandbox option" for key in sorted(set(options) - known, key=str)]
    if not out:
        try:
            FreshPortalSandboxConfig(**options)
        except (ValueError, TypeError) as exc:
            out.append(f"{path}: {exc}")
    return out
