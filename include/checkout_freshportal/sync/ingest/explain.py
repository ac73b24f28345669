"""Whether a search result's embedded actions can be staged as they are.

A search page carries each payment's actions; when they account for its balances, staging
them saves one ``GET /payments/{id}/actions`` call per changed payment (the call budget of the
payments step rests on this decision, README "Read calls per 1,000 payments").

Real search results differ from ``/actions`` in three ways (docs/checkout-com.md#payment-search):
an action says ``status: "Approved"`` (or ``"Pending"``, ``"Declined"``) instead of
``approved``; ``balances`` holds only some of its seven fields; and pseudo-actions
(``Dispute``, ``Authentication``) sit between the gateway actions, sometimes with timestamps
that do not parse. The rule reads all three, so a real page costs no extra calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from checkout_freshportal.checkout import statuses
from checkout_freshportal.checkout.models import BalancesError, balance_fields

#: Gateway action types that move a payment's balances (search also returns pseudo-actions
#: such as ``Dispute`` and ``Authentication``, which are not staged as payment actions).
GATEWAY_ACTION_TYPES = statuses.GATEWAY_ACTION_TYPES

_BALANCE_OF_TYPE = statuses.BALANCE_OF_ACTION_TYPE


def actions_explain_balances(payment: Mapping[str, Any]) -> bool:
    """True when the payment's embedded actions are complete and add up to its balances.

    * Every gateway action must carry ``amount`` and ``processed_on`` (a summary action has
      neither) and say whether it was approved: ``approved``, or ``status`` when search gives
      that instead. Only approved actions move money; a ``Pending`` one does not yet.
    * Each running total the payment states (``total_authorized``, ``total_captured``,
      ``total_refunded``, ``total_voided``) must equal the sum of its approved actions. A total
      the payment leaves out is unknown and not checked; when it states none of them there is
      nothing to check against, and ``/actions`` is asked.
    * Pseudo-actions are ignored here, whatever their timestamps look like.
    """
    actions = payment.get("actions")
    if not isinstance(actions, list):
        return False
    try:
        known = balance_fields(payment.get("balances"))
    except BalancesError:
        return False  # staging refuses the payment anyway; the rule does not guess
    sums = {col: 0 for col in set(_BALANCE_OF_TYPE.values()) if known[col] is not None}
    if not sums:
        return False
    for act in actions:
        if not isinstance(act, Mapping):
            return False
        kind = act.get("type")
        if kind not in GATEWAY_ACTION_TYPES:
            continue
        amount = act.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or not act.get("processed_on"):
            return False
        approved = statuses.action_approved(act.get("approved"), act.get("status"))
        if approved is None:
            if statuses.canonical_action_status(act.get("status")) == statuses.ActionStatus.PENDING:
                continue  # announced, not done: moves no balance yet
            return False  # says neither: /actions has the flag
        col = _BALANCE_OF_TYPE.get(kind)
        if approved and col is not None and col in sums:
            sums[col] += amount
    return all(known[col] == total for col, total in sums.items())


def gateway_actions(actions: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The actions that are staged as payment actions (pseudo-actions left out)."""
    return [a for a in actions if a.get("type") in GATEWAY_ACTION_TYPES]
