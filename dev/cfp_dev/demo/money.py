"""The money half of ``make demo``: refunds, disputes and manual captures (issue 8).

Runs after the payment-link flow (``flow.run_flow``) on the same started stack, on the shared
scenario's money cases (``sandbox/shared_money.py``, docs/scenario-format.md):

1. **disputes**: each scenario dispute is final at Checkout.com already, but happened before the
   webhook workflow existed; the Checkout.com sandbox plays its lifecycle again now
   (``POST /_sandbox/disputes/{id}/events``, a few simulated seconds apart), and the clock is
   advanced past the retrieval request planned two minutes after ``now``. Webhooks -> sidecar
   -> ``checkout_events`` -> the ``chargeback`` signal on the FreshPortal order;
2. **refunds**: ``freshportal_refunds`` is triggered through the REST API until every refund
   request of the scenario is answered in FreshPortal (a few runs: the outcome of a refund
   accepted by Checkout.com comes from its webhook or, after the short ``outcome_timeout`` the
   demo sets, from the payment's actions);
3. **captures**: ``freshportal_captures`` the same way, until every fulfilment release has its
   final outcome;
4. one line per refund request, dispute and release: what the scenario expects beside what
   FreshPortal (and, for captures, the warehouse's ``sync_money_intents``) shows; then the
   Checkout.com sandbox's ledger of executed refunds, voids and captures on these payments,
   which shows none was executed twice. Any difference is a failure.

A ``freshportal_refunds`` run ends ``failed`` by design when Checkout.com refused a refund
(FP-900008, ``refused_by_checkout``): the task fails without retry after answering every other
request, so an operator looks at it. The demo prints the run's state and checks the outcomes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
import sqlalchemy as sa

from cfp_dev.demo.stack import DemoStack
from checkout_freshportal.money import format_major, to_minor

Printer = Callable[[str], None]

#: What the demo sets for both DAGs: outcomes read from the actions after a few seconds and a
#: request left in doubt resolved at once, so a handful of runs reaches every final outcome.
FAST_OUTCOMES = {"outcome_timeout_seconds": 5, "in_doubt_after_seconds": 5}
#: Dispute events played for a scenario dispute that ended in ``final_status``.
LIFECYCLE: dict[str, tuple[str, ...]] = {
    "won": ("dispute_received", "dispute_evidence_required", "dispute_evidence_submitted", "dispute_won"),
    "lost": ("dispute_received", "dispute_evidence_required", "dispute_evidence_submitted", "dispute_lost"),
    "accepted": ("dispute_received", "dispute_evidence_required", "dispute_accepted"),
    "expired": ("dispute_received", "dispute_evidence_required", "dispute_expired"),
    "evidence_required": ("dispute_received", "dispute_evidence_required"),
}
#: Chargeback status on the order -> the order signal it stands for (docs/scenario-format.md).
SIGNAL_OF_STATUS = {
    "won": "dispute_won",
    "canceled": "dispute_won",
    "arbitration_won": "dispute_won",
    "resolved": "dispute_resolved",
    "retrieval_request": "retrieval_request",
}
#: Refund reason codes given after a call to Checkout.com (outcome ``failed``); others: ``rejected``.
CALLED_CODES = frozenset({"refused_by_checkout", "declined"})
FINAL_INTENT_STATES = frozenset({"succeeded", "declined", "rejected", "failed", "cancelled"})


def _admin(stack: DemoStack, method: str, path: str, **kwargs: Any) -> Any:
    r = requests.request(method, f"{stack.checkout_url}/_sandbox{path}", timeout=30, **kwargs)
    if r.status_code >= 300:
        raise RuntimeError(f"{method} /_sandbox{path}: HTTP {r.status_code} {r.text[:200]}")
    return r.json()


def _advance(stack: DemoStack, hours: float) -> None:
    _admin(stack, "POST", "/advance", json={"hours": hours, "payments_per_hour": 0})


def payment_ids(stack: DemoStack, references: list[str]) -> dict[str, str]:
    """Order number (= payment reference) -> the Checkout.com payment id, where one exists."""
    out: dict[str, str] = {}
    with stack.checkout_session() as s:
        for ref in references:
            r = s.get(f"{stack.checkout_url}/payments", params={"reference": ref}, timeout=30)
            r.raise_for_status()
            found = r.json().get("data") or []
            if found:
                out[ref] = found[0]["id"]
    return out


# ------------------------------------------------------------------------------ 1. disputes
def play_disputes(stack: DemoStack, scenario: dict[str, Any], pids: dict[str, str]) -> tuple[int, int]:
    """Send each scenario dispute's lifecycle as webhooks now; (events sent, disputes played)."""
    sent, played = 0, 0
    with stack.checkout_session() as s:
        for case in scenario["demo"]["money"]["disputes"]:
            final = case["expected"]["final_status"]
            if final not in LIFECYCLE:
                continue  # the retrieval request: sent when the clock passes it (below)
            pid = pids[case["order_number"]]
            r = s.get(f"{stack.checkout_url}/disputes", params={"payment_id": pid}, timeout=30)
            r.raise_for_status()
            for dispute in r.json()["data"]:
                played += 1
                for event in LIFECYCLE[final]:
                    _admin(stack, "POST", f"/disputes/{dispute['id']}/events", json={"event": event})
                    _advance(stack, 0.001)  # a few simulated seconds between the events
                    sent += 1
    _advance(stack, 0.05)  # past the retrieval request planned 2 minutes after the scenario's now
    return sent, played


# ------------------------------------------------------------------------------ 2./3. DAG runs
def run_until(
    stack: DemoStack,
    dag_id: str,
    settings: dict[str, Any],
    done: Callable[[], bool],
    out: Printer,
    max_runs: int = 5,
) -> bool:
    """Trigger ``dag_id`` until ``done()`` (checked after each run); True when it got there."""
    airflow = stack.airflow
    airflow.wait_dag(dag_id)
    for n in range(1, max_runs + 1):
        run_id = airflow.trigger(dag_id, conf={"settings": settings})
        run = airflow.wait_run(dag_id, run_id)
        states = airflow.task_states(dag_id, run_id)
        failed = [f"{t} {st}" for t, st in sorted(states.items()) if st not in ("success", "skipped")]
        note = f" ({', '.join(failed)})" if failed else ""
        out(f"[demo] {dag_id} run {n}: {run['state']}{note}")
        if failed and dag_id == "freshportal_refunds":
            out("       (by design: a refund Checkout.com refused is answered, then fails the task)")
        if done():
            return True
        time.sleep(2)  # let webhooks of what this run sent reach the sidecar
    return False


# ------------------------------------------------------------------------------ reading outcomes
def intents(stack: DemoStack, kind_prefix: str) -> dict[str, dict[str, Any]]:
    """``sync_money_intents`` rows by ``request_key`` whose key starts with ``kind_prefix``."""
    from checkout_freshportal.warehouse import schema
    from checkout_freshportal.warehouse.engine import make_engine

    t = schema.sync_money_intents
    engine = make_engine(stack.warehouse_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.request_key.startswith(kind_prefix))).mappings()
            return {r["request_key"]: dict(r) for r in rows}
    finally:
        engine.dispose()


def refund_actual(rr: dict[str, Any]) -> tuple[str, str | None, int]:
    """(outcome, reason code, refunded minor) as FreshPortal shows a refund request."""
    outcome = rr.get("outcome") or {}
    status = outcome.get("status") or rr["status"]
    if status == "refunded":
        amount = outcome.get("refunded_amount")
        return "succeeded", None, to_minor(amount, rr["currency_code"]) if amount is not None else 0
    if status == "failed":
        code = str(outcome.get("failure_reason") or "").split(":", 1)[0] or None
        return ("failed" if code in CALLED_CODES else "rejected"), code, 0
    return status, None, 0


def _match(items: list[dict[str, Any]], order_number: str, amount_minor: int, used: set[int]) -> Any:
    """The sandbox's record for a scenario entry: same order and amount, not matched before."""
    for item in items:
        same = item["order_number"] == order_number and item["_sandbox"]["amount_minor"] == amount_minor
        if same and item["id"] not in used:
            used.add(item["id"])
            return item
    return None


def _refund_text(outcome: str, reason: str | None, minor: int, currency: str) -> str:
    if outcome == "succeeded":
        return f"succeeded {format_major(minor, currency)}"
    return f"{outcome} {reason or '-'}"


def check_refunds(scenario: dict[str, Any], state: dict[str, Any], out: Printer) -> bool:
    """One line per scenario refund request: expected beside FreshPortal's answer."""
    out(f"\n{'refund request':<20} {'expected':<35} {'FreshPortal':<35} ok")
    ok, used = True, set()
    for case in scenario["freshportal"]["refund_requests"]:
        exp = case["expected"]
        rr = _match(state["refund_requests"], case["order_number"], case["amount_minor"], used)
        currency = rr["currency_code"] if rr else "EUR"
        want = (exp["outcome"], exp["reason_code"], exp["refunded_amount_minor"])
        got = refund_actual(rr) if rr else ("missing", None, 0)
        same = got == want
        ok &= same
        what = f"{case['order_number']} {format_major(case['amount_minor'], currency)}"
        out(
            f"{what:<20} {_refund_text(*want, currency):<35} {_refund_text(*got, currency):<35} "
            f"{'yes' if same else 'NO'}"
        )
    return ok


def dispute_actual(state: dict[str, Any], order_number: str) -> str | None:
    """The chargeback status FreshPortal shows on the order (None: no signal)."""
    order = next(o for o in state["orders"] if o["order_number"] == order_number)
    chargeback = (order.get("payment") or {}).get("chargeback") or {}
    return chargeback.get("status")


def _signal(status: str | None) -> str:
    return "-" if status is None else SIGNAL_OF_STATUS.get(status, "chargeback")


def disputes_as_expected(scenario: dict[str, Any], state: dict[str, Any]) -> dict[str, bool]:
    out = {}
    for case in scenario["demo"]["money"]["disputes"]:
        exp = case["expected"]
        want = "retrieval_request" if exp["final_status"] == "retrieval" else exp["final_status"]
        status = dispute_actual(state, case["order_number"])
        out[case["order_number"]] = status == want and _signal(status) == exp["order_signal"]
    return out


def check_disputes(scenario: dict[str, Any], state: dict[str, Any], out: Printer) -> bool:
    """One line per scenario dispute: expected final status and signal beside the order's."""
    out(f"\n{'dispute':<20} {'expected':<35} {'FreshPortal chargeback':<35} ok")
    verdict = disputes_as_expected(scenario, state)
    for case in scenario["demo"]["money"]["disputes"]:
        exp = case["expected"]
        status = dispute_actual(state, case["order_number"])
        want = f"{exp['final_status']} -> {exp['order_signal']}"
        got = f"{status or '-'} -> {_signal(status)}"
        mark = "yes" if verdict[case["order_number"]] else "NO"
        out(f"{case['order_number']:<20} {want:<35} {got:<35} {mark}")
    return all(verdict.values())


def release_actual(intent: dict[str, Any] | None) -> tuple[str, str | None, int, bool]:
    """(outcome, reason code, captured minor, final) from the release's capture intent."""
    if intent is None:
        return "missing", None, 0, False
    if intent["state"] == "succeeded":
        return "succeeded", None, int(intent["outcome_amount_minor"] or 0), bool(intent["final"])
    if intent["state"] in FINAL_INTENT_STATES:
        return "failed", intent["reason_code"], 0, False
    return str(intent["state"]), None, 0, False


def _release_text(outcome: str, reason: str | None, minor: int, final: bool, currency: str) -> str:
    if outcome == "succeeded":
        return f"captured {format_major(minor, currency)}{' Final' if final else ''}"
    return f"{outcome} {reason or '-'}"


def check_releases(
    scenario: dict[str, Any], state: dict[str, Any], by_key: dict[str, dict[str, Any]], out: Printer
) -> bool:
    """One line per fulfilment release: expected capture beside the intent's outcome."""
    out(f"\n{'fulfilment release':<20} {'expected':<35} {'captured (sync_money_intents)':<35} ok")
    ok, used = True, set()
    for case in scenario["freshportal"]["fulfilment_releases"]:
        exp = case["expected"]
        rel = _match(state["fulfilment_releases"], case["order_number"], case["amount_minor"], used)
        currency = rel["currency_code"] if rel else "EUR"
        want = (exp["outcome"], exp["reason_code"], exp["captured_amount_minor"], exp["final"])
        got = release_actual(by_key.get(f"release:{rel['id']}") if rel else None)
        ok &= got == want
        what = f"{case['order_number']} {format_major(case['amount_minor'], currency)}"
        out(
            f"{what:<20} {_release_text(*want, currency):<35} {_release_text(*got, currency):<35} "
            f"{'yes' if got == want else 'NO'}"
        )
    return ok


def check_ledger(stack: DemoStack, scenario: dict[str, Any], pids: dict[str, str], out: Printer) -> bool:
    """Executed refunds, voids and captures on the money-case payments, as the sandbox counts them.

    Every executed action is one ledger entry (an idempotent replay adds none), so the counts
    equal the calls the cases need exactly when nothing was executed twice.
    """
    ledger = _admin(stack, "GET", "/actions")["payments"]
    mine = set(pids.values())
    entries = [e for pid, rows in ledger.items() if pid in mine for e in rows]
    got = Counter(e["type"] for e in entries)
    refunds = scenario["freshportal"]["refund_requests"]
    want = Counter(
        {
            "Refund": sum(
                1
                for r in refunds
                if r["expected"].get("kind") == "refund" or r["expected"]["reason_code"] == "declined"
            ),
            "Void": sum(1 for r in refunds if r["expected"].get("kind") == "void"),
            "Capture": sum(
                1
                for r in scenario["freshportal"]["fulfilment_releases"]
                if r["expected"]["outcome"] == "succeeded"
            ),
        }
    )
    refs = Counter(e.get("reference") for e in entries if e.get("reference"))
    doubled = sorted(str(ref) for ref, n in refs.items() if n > 1)
    approved = sum(1 for e in entries if e["type"] == "Refund" and e.get("approved"))
    ok = got == want and not doubled
    out(
        f"\n[demo] Checkout.com ledger (GET /_sandbox/actions) on the money-case payments: "
        f"{got['Refund']} refunds executed ({approved} approved), {got['Void']} void(s), "
        f"{got['Capture']} captures; the cases need {want['Refund']} / {want['Void']} / {want['Capture']}; "
        + (f"DOUBLED references: {doubled}" if doubled else "no reference executed twice")
        + ("" if ok else "  MISMATCH")
    )
    return ok


# ------------------------------------------------------------------------------ the whole part
def _refunds_answered(stack: DemoStack, scenario: dict[str, Any]) -> bool:
    from cfp_dev.demo.flow import fp_state

    numbers = {r["order_number"] for r in scenario["freshportal"]["refund_requests"]}
    rrs = [r for r in fp_state(stack.freshportal_url)["refund_requests"] if r["order_number"] in numbers]
    return len(rrs) == len(scenario["freshportal"]["refund_requests"]) and all(
        r["status"] in ("refunded", "failed") for r in rrs
    )


def _releases_final(stack: DemoStack, scenario: dict[str, Any]) -> bool:
    found = intents(stack, "release:")
    return len(found) >= len(scenario["freshportal"]["fulfilment_releases"]) and all(
        i["state"] in FINAL_INTENT_STATES for i in found.values()
    )


def _wait_disputes(stack: DemoStack, scenario: dict[str, Any], timeout: float) -> dict[str, Any]:
    """FreshPortal's state once every dispute shows its expected signal (or at the timeout)."""
    from cfp_dev.demo.flow import fp_state

    deadline = time.monotonic() + timeout
    while True:
        state = fp_state(stack.freshportal_url)
        if all(disputes_as_expected(scenario, state).values()) or time.monotonic() > deadline:
            return state
        time.sleep(1)


def run_money(stack: DemoStack, scenario: dict[str, Any], *, out: Printer = print) -> bool:
    """Steps 1-4 of the module docstring, after ``run_flow``; True when every case is as expected."""
    money = scenario["demo"]["money"]
    started = time.monotonic()
    pids = payment_ids(stack, list(money["orders"]))
    sent, played = play_disputes(stack, scenario, pids)
    out(
        f"[demo] disputes: {sent} dispute events played on {played} disputes, "
        "clock advanced past the retrieval request"
    )
    refunds_done = run_until(
        stack, "freshportal_refunds", dict(FAST_OUTCOMES), lambda: _refunds_answered(stack, scenario), out
    )
    channels = [c["processing_channel_id"] for c in money["capture_channels"] if not c["auto_capture"]]
    captures_done = run_until(
        stack,
        "freshportal_captures",
        {**FAST_OUTCOMES, "manual_capture_channels": channels},
        lambda: _releases_final(stack, scenario),
        out,
    )
    state = _wait_disputes(stack, scenario, timeout=90)
    ok = check_refunds(scenario, state, out)
    ok &= check_disputes(scenario, state, out)
    ok &= check_releases(scenario, state, intents(stack, "release:"), out)
    ok &= check_ledger(stack, scenario, pids, out)
    statuses = Counter(
        ((o.get("payment") or {}).get("payment_status") or "-")
        for o in state["orders"]
        if o["order_number"] in set(money["orders"])
    )
    out(
        "[demo] payment status on the money-case orders now: "
        + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))
    )
    if not refunds_done or not captures_done:
        ok = False
        out("[demo] not every refund request / release reached its final outcome within the runs")
    out(
        f"[demo] {'every refund, dispute and release ends as the scenario expects' if ok else 'MISMATCH'} "
        f"({time.monotonic() - started:.0f}s)"
    )
    return ok
