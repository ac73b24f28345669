"""Whether a search result's embedded actions can be staged as they are.

A search page carries each payment's actions; when they account for its balances, staging
them saves one ``GET /payments/{id}/actions`` call per changed payment (the call budget of the
payments step rests on this decision).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from checkout_freshportal.checkout import statuses

#: Gateway action types that move a payment's balances (search also returns pseudo-actions
#: such as ``Dispute`` and ``Authentication``, which are not staged as payment actions).
GATEWAY_ACTION_TYPES = statuses.GATEWAY_ACTION_TYPES

_BALANCE_OF_TYPE = statuses.BALANCE_OF_ACTION_TYPE


def actions_explain_balances(payment: Mapping[str, Any]) -> bool:
    """True when the payment's embedded actions carry amounts that add up to its balances.

    Then the actions can be staged from the search result without another call; otherwise
    (summary-only actions, or actions that contradict the balances) we ask ``/actions``.
    """
    actions = payment.get("actions")
    balances = payment.get("balances") or {}
    if not isinstance(actions, list):
        return False
    sums = dict.fromkeys(_BALANCE_OF_TYPE.values(), 0)
    for act in actions:
        kind = act.get("type")
        if kind not in GATEWAY_ACTION_TYPES:
            continue
        if "amount" not in act or "processed_on" not in act:
            return False
        if act.get("approved") is False:
            continue
        col = _BALANCE_OF_TYPE.get(kind)
        if col:
            sums[col] += int(act["amount"])
    return all(int(balances.get(col) or 0) == total for col, total in sums.items())


def gateway_actions(actions: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The actions that are staged as payment actions (pseudo-actions left out)."""
    return [a for a in actions if a.get("type") in GATEWAY_ACTION_TYPES]
