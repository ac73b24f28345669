"""API objects in the shapes Checkout.com's own samples and SDK fixtures show (``real_shapes``).

The default rendering (render.py) is tidy: every payment states all seven balances, statuses are
Title Case, actions say ``approved``. Checkout.com's recorded answers are not (docs/sandbox.md,
"Real API shapes"; each function names the public sample it follows), so with the option on the
routes pass their rendered objects through these functions. They only reshape what render.py
built: the same world answers both ways, so a test can compare what lands from each.

Deterministic: which payments show an authentication pseudo-action is derived from their ids,
never drawn from the seeded RNG. The recorded search sample also lists an authorization attempt
with ``status: "Pending"`` beside the approved one; whether ``/actions`` lists such attempts is
unknown, so the simulator does not invent them (the library's rule for them is unit-tested).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .ids import derived_id, derived_share
from .model import Dispute, Payment

#: The balances a search result states (NODE ``test/payments/searchPayment.js``): three of seven.
SEARCH_BALANCES = ("total_authorized", "total_captured", "total_refunded")
#: Share of searched payments shown with a 3DS authentication pseudo-action.
PSEUDO_SHARE = 0.25


# ------------------------------------------------------------------ timestamps
def six_digits_no_offset(dt: datetime) -> str:
    """``2022-12-11T03:00:23.859192``: a report's ``created_on`` (NODE ``test/reports/reports.js``)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def seven_digits_offset(dt: datetime) -> str:
    """``2023-08-24T14:15:26.3448464+00:00``: a search action's ``processed_on``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def _malformed(dt: datetime, how: str) -> str:
    """The two broken stamps of the search fixture: a doubled ``Z``, and seconds run into the
    fraction (``14:15:3448464Z``). Only pseudo-actions carry them."""
    if how == "zz":
        return seven_digits_offset(dt).replace("+00:00", "ZZ")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:") + f"{dt.second}{dt.microsecond:06d}Z"


# ------------------------------------------------------------------ payments
def search_item(out: dict[str, Any], p: Payment, disputes: list[Dispute]) -> dict[str, Any]:
    """A search result: lower-case ``status``, ``payment_type`` and ``card_type``, three
    balances, actions with ``status`` instead of ``approved`` and numeric response codes, plus an
    authentication and the disputes as pseudo-actions."""
    out = dict(out)
    out["status"] = p.status.lower()
    out["payment_type"] = p.payment_type.lower()
    out["source"] = _card_type_cased(out.get("source"), str.lower)
    balances = out.get("balances") or {}
    out["balances"] = {k: balances[k] for k in SEARCH_BALANCES if k in balances}
    actions = out.get("actions")
    if isinstance(actions, list):
        reshaped = [_search_action(a, p) for a in actions]
        out["actions"] = [*_dispute_pseudo_actions(disputes), *reshaped, *_authentication(p)]
    return out


def _search_action(a: dict[str, Any], p: Payment) -> dict[str, Any]:
    a = dict(a)
    if "approved" in a:
        a["status"] = "Approved" if a.pop("approved") else "Declined"
    if isinstance(a.get("response_code"), str) and a["response_code"].isdigit():
        a["response_code"] = int(a["response_code"])
    action = next((x for x in p.actions if x.id == a.get("id")), None)
    if "processed_on" in a and action is not None:
        a["processed_on"] = seven_digits_offset(action.processed_on)
    a.pop("_links", None)
    return a


def _authentication(p: Payment) -> list[dict[str, Any]]:
    """For a share of payments: the 3DS session before the authorization, as ``Authentication``."""
    auth = next((a for a in p.actions if a.type == "Authorization"), None)
    if auth is None or derived_share(p.id + ":pseudo") >= PSEUDO_SHARE:
        return []
    before = auth.processed_on - timedelta(seconds=1)
    return [
        {
            "id": derived_id("sid", p.id + ":session"),
            "type": "Authentication",
            "processed_on": _malformed(before, "run-in"),
            "status": "Approved",
            "authentication_experience": "3ds",
        },
    ]


def _dispute_pseudo_actions(disputes: list[Dispute]) -> list[dict[str, Any]]:
    return [
        {
            "id": d.id,
            "type": "Dispute",
            "processed_on": _malformed(d.received_on, "zz"),
            "status": d.status.replace("_", " ").title(),
            "amount": d.amount,
            "reason_code": d.reason_code,
        }
        for d in disputes
    ]


def payment_get(out: dict[str, Any]) -> dict[str, Any]:
    """``GET /payments/{id}`` as the recorded card verification has it (NODE
    ``test/payments/getPayment.js``): no ``balances``, ``amount_requested`` or ``processed_on``,
    and ``card_type`` Title Case."""
    out = {k: v for k, v in out.items() if k not in ("balances", "amount_requested", "processed_on")}
    out["source"] = _card_type_cased(out.get("source"), str.title)
    return out


def _card_type_cased(source: Any, case: Any) -> Any:
    if not isinstance(source, dict) or not isinstance(source.get("card_type"), str):
        return source
    return {**source, "card_type": case(source["card_type"])}


# ------------------------------------------------------------------ disputes
_LIST_ONLY_IN_DOCS = (
    "entity_id",
    "sub_entity_id",
    "processing_channel",
    "reason_code",
    "payment_action_id",
    "is_ce_candidate",
)


def dispute_item(out: dict[str, Any]) -> dict[str, Any]:
    """A list item as recorded (NODE ``test/disputes/disputes.js``): no entity, channel, reason
    code or action id, and ``resolved_reason`` only when there is one."""
    out = {k: v for k, v in out.items() if k not in _LIST_ONLY_IN_DOCS}
    if out.get("resolved_reason") is None:
        out.pop("resolved_reason", None)
    return out


def dispute_details(out: dict[str, Any]) -> dict[str, Any]:
    """The details view as recorded: the payment nested (``method``, ``arn``), no entity ids."""
    out = {k: v for k, v in out.items() if k not in ("entity_id", "sub_entity_id", "is_ce_candidate")}
    if out.get("resolved_reason") is None:
        out.pop("resolved_reason", None)
    return out


# ------------------------------------------------------------------ financial actions, reports
def financial_action(out: dict[str, Any], processed_on: datetime) -> dict[str, Any]:
    """Numeric ``response_code`` and ``merchant_category_code`` (NODE ``test/financial/financial.js``)
    and a ``processed_on`` without an offset."""
    out = dict(out)
    for key in ("response_code", "merchant_category_code"):
        if isinstance(out.get(key), str) and out[key].isdigit():
            out[key] = int(out[key])
    out["processed_on"] = six_digits_no_offset(processed_on)
    return out


def report(out: dict[str, Any], created_on: datetime) -> dict[str, Any]:
    """A report with ``created_on`` in six digits and no offset, and no ``last_modified_on``."""
    out = {k: v for k, v in out.items() if k != "last_modified_on"}
    out["created_on"] = six_digits_no_offset(created_on)
    return out


def last_page_links(links: dict[str, Any]) -> dict[str, Any]:
    """The last page's ``next`` is its own ``self`` (NODE ``test/financial/financial.js``)."""
    if "next" not in links and "self" in links:
        return {**links, "next": dict(links["self"])}
    return links


# ------------------------------------------------------------------ payment links
def link_created(out: dict[str, Any]) -> dict[str, Any]:
    """The 201 of ``POST /payment-links`` with only ``id``, ``expires_on`` and
    ``_links.redirect``."""
    return {
        "id": out["id"],
        "expires_on": out["expires_on"],
        "_links": {"redirect": out["_links"]["redirect"]},
    }
