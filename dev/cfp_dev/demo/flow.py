"""The near-real-time half of ``make demo``: orders -> links -> customers pay -> webhooks -> statuses.

Runs on a started :class:`~cfp_dev.demo.stack.DemoStack` whose sandboxes loaded a
shared scenario (``sandbox/shared_scenario.py``):

1. the Checkout.com sandbox gets a workflow that sends every event, signed, to the sidecar;
2. ``freshportal_payment_requests`` is triggered through the REST API with the scenario's
   go-live instant as ``confirmed_after``: each open order gets a payment link, written back to
   the order in FreshPortal;
3. simulated customers open the link FreshPortal shows on their order and pay, decline, decline
   and retry, pay and get a partial refund, or never pay, as the scenario says;
4. the sandbox sends signed webhooks -> the sidecar commits them and triggers ``checkout_events``
   -> the DAG derives each payment's status and writes it to the order in FreshPortal;
5. the FreshPortal payment-status distribution (the sandbox's admin state) is printed next to
   the scenario's expected one; any difference, per order, is a failure.

Nothing here touches the warehouse or Airflow's internals: what is checked is what FreshPortal
shows, as an operator would see it.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests

from cfp_dev.demo.stack import AirflowApi, DemoStack

Printer = Callable[[str], None]


# ------------------------------------------------------------------------------ small helpers
def fp_state(freshportal_url: str) -> dict[str, Any]:
    r = requests.get(f"{freshportal_url}/_sandbox/state", timeout=30)
    r.raise_for_status()
    return r.json()


def fp_statuses(state: dict[str, Any]) -> dict[str, str]:
    """Order number -> FreshPortal payment status (``-`` when none was ever written)."""
    return {
        o["order_number"]: ((o.get("payment") or {}).get("payment_status") or "-") for o in state["orders"]
    }


def links_by_order(state: dict[str, Any]) -> dict[str, str]:
    """Order number -> the payment link id FreshPortal shows on the order."""
    out = {}
    for o in state["orders"]:
        link = (o.get("payment") or {}).get("payment_link_id")
        if link:
            out[o["order_number"]] = link
    return out


def expected_by_order(scenario: dict[str, Any], mapping: Any = None) -> dict[str, str]:
    """Order number -> the FreshPortal payment status the scenario expects after this flow.

    The money-case orders (``demo.money.orders``) are left out: the refunds, disputes and
    captures of ``money.run_money`` move their statuses, and that part checks each case itself.
    """
    if mapping is None:
        from checkout_freshportal.freshportal import load_mapping

        mapping = load_mapping()
    money = set(scenario["demo"].get("money", {}).get("orders", []))
    out = {
        o["order_number"]: "-" for o in scenario["freshportal"]["orders"] if o["order_number"] not in money
    }
    for c in scenario["demo"]["customers"]:
        # ``freshportal_status``: what a FreshPortal user set by hand after the push (a planted
        # status drift, docs/scenario-format.md), else the mapping's status for the outcome.
        out[c["order_number"]] = c.get("freshportal_status") or mapping.payment_status_for(
            c["checkout_status"]
        )
    return out


def dag_runs(airflow: AirflowApi, dag_id: str, since_iso: str | None = None) -> list[dict[str, Any]]:
    """Runs of ``dag_id`` (newest first), optionally only those created at or after ``since_iso``."""
    params: dict[str, Any] = {"limit": 100, "order_by": "-run_after"}
    if since_iso:
        params["run_after_gte"] = since_iso
    runs: list[dict[str, Any]] = []
    offset = 0
    while True:
        r = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={**params, "offset": offset})
        r.raise_for_status()
        page = r.json().get("dag_runs", [])
        runs.extend(page)
        if len(page) < params["limit"]:
            return runs
        offset += len(page)


def sidecar_metrics(sidecar_url: str) -> dict[str, float]:
    text = requests.get(f"{sidecar_url}/metrics", timeout=10).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("cfp_sidecar_") and "{" not in line and " " in line:
            name, value = line.rsplit(" ", 1)
            try:
                out[name] = float(value)
            except ValueError:
                continue
    return out


def _api_session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


class StatusWatcher:
    """Follows FreshPortal's changed-orders feed and notes when each order first shows a status.

    Every write-back bumps the order to the end of the feed, so polling the feed from a cursor is
    a cheap, exact way to see changes as they land (unlike the admin state, which renders every
    order). Times are ``time.time()`` right after the page arrived: resolution = ``interval``
    plus one request.
    """

    def __init__(self, freshportal_url: str, interval: float = 0.1) -> None:
        from cfp_dev.sandbox.freshportal.config import DEFAULT_API_KEY
        from checkout_freshportal.freshportal import FreshPortalClient, FreshPortalSettings

        self.client = FreshPortalClient(
            FreshPortalSettings(base_url=freshportal_url, api_key=DEFAULT_API_KEY, page_size=500)
        )
        self.interval = interval
        self.first_seen: dict[tuple[str, str], float] = {}
        self.current: dict[str, str] = {}
        self.polls = 0
        self.errors = 0
        self._cursor: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> bool:
        """One page; True when more pages are waiting."""
        page = self.client.get_orders_page(self._cursor, 500)
        seen = time.time()
        with self._lock:
            self.polls += 1
            for order in page.items:
                status = (order.payment.status if order.payment else None) or "-"
                self.first_seen.setdefault((order.order_number, status), seen)
                self.current[order.order_number] = status
            self._cursor = page.next_cursor
        return page.has_more

    def start(self) -> StatusWatcher:
        while self._poll():  # the feed as it stands: the starting point
            pass
        self._thread = threading.Thread(target=self._run, name="fp-status-watcher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                more = self._poll()
            except Exception:  # a hiccup of the sandbox must not end the measurement
                self.errors += 1
                more = False
            if not more:
                self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def seen(self, order_number: str, status: str) -> float | None:
        with self._lock:
            return self.first_seen.get((order_number, status))

    def wait_for(self, expected: dict[str, str], timeout: float) -> float | None:
        """Wait until every order in ``expected`` shows its status; the time it did, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(self.current.get(n) == st for n, st in expected.items()):
                    return max(self.first_seen[(n, st)] for n, st in expected.items()) if expected else 0.0
            time.sleep(self.interval / 2)
        return None

    def wrong(self, expected: dict[str, str]) -> dict[str, str | None]:
        with self._lock:
            return {n: self.current.get(n) for n, st in expected.items() if self.current.get(n) != st}


# ------------------------------------------------------------------------------ the customers
class Customers:
    """Simulated customers acting on the payment links FreshPortal shows on their orders."""

    def __init__(self, stack: DemoStack, scenario: dict[str, Any]) -> None:
        self.stack = stack
        self.demo = scenario["demo"]
        self.admin = _api_session()
        self.api = stack.checkout_session()

    def pay(self, link_id: str, card: str) -> dict[str, Any]:
        r = self.admin.post(
            f"{self.stack.checkout_url}/_sandbox/payment-links/{link_id}/pay",
            json={"card_number": card},
            timeout=30,
        )
        if r.status_code != 201:
            raise RuntimeError(f"paying link {link_id}: HTTP {r.status_code} {r.text[:200]}")
        return r.json()

    def refund(self, payment_id: str, amount: int, reference: str) -> None:
        """The merchant refunds part of a captured payment (after its capture has landed)."""
        deadline = time.monotonic() + 20
        while True:
            r = self.api.post(
                f"{self.stack.checkout_url}/payments/{payment_id}/refunds",
                json={"amount": amount, "reference": reference},
                timeout=30,
            )
            if r.status_code == 202:
                return
            if r.status_code == 403 and time.monotonic() < deadline:  # capture not landed yet
                time.sleep(0.1)
                continue
            raise RuntimeError(f"refund of {payment_id}: HTTP {r.status_code} {r.text[:200]}")

    def act(self, entry: dict[str, Any], link_id: str) -> str:
        """One customer's behaviour; returns what happened (for the log)."""
        approve, decline = self.demo["approve_card"], self.demo["decline_card"]
        behaviour = entry["behaviour"]
        if behaviour == "never":
            return "never paid"
        if behaviour in ("decline", "decline_then_pay"):
            out = self.pay(link_id, decline)
            if out.get("approved"):
                raise RuntimeError(f"the decline card was approved for {entry['order_number']}")
            if behaviour == "decline":
                return f"declined ({out.get('response_code')})"
        out = self.pay(link_id, approve)
        if not out.get("approved"):
            raise RuntimeError(f"payment of {entry['order_number']} declined: {out.get('response_code')}")
        if behaviour == "pay_then_refund_part":
            self.refund(out["id"], int(entry["refund_minor"]), f"{entry['order_number']}-R1")
            return "paid, then partly refunded"
        return "paid" if behaviour == "pay" else "declined, then paid"


# ------------------------------------------------------------------------------ the flow
def print_distribution(expected: dict[str, int], shown: dict[str, int], out: Printer = print) -> bool:
    rows = sorted(set(expected) | set(shown), key=lambda s: (s == "-", s))
    width = max(len("FreshPortal payment status"), *(len(_label(s)) for s in rows))
    out(f"\n{'FreshPortal payment status':<{width}}  {'scenario':>9}  {'FreshPortal':>11}  ok")
    out("-" * (width + 30))
    ok = True
    for status in rows:
        e, s = expected.get(status, 0), shown.get(status, 0)
        ok &= e == s
        out(f"{_label(status):<{width}}  {e:>9,}  {s:>11,}  {'yes' if e == s else 'NO'}")
    return ok


def _label(status: str) -> str:
    return "- (none: before go-live)" if status == "-" else status


def _no_section(title: str) -> None:
    """Without a story (tests, benchmarks) the steps just print their lines."""


def run_flow(
    stack: DemoStack,
    scenario: dict[str, Any],
    *,
    timeout: float = 120.0,
    out: Printer = print,
    mark: Printer = _no_section,
) -> bool:
    """Steps 1-5 of the module docstring on a started stack; True when FreshPortal shows the scenario.

    ``mark(title)`` opens each of the story's sections (``story.py``) as the flow reaches it.
    """
    airflow = stack.airflow
    demo = scenario["demo"]
    mark("orders confirmed")
    out(
        f"[demo] {len(demo['customers'])} orders confirmed in FreshPortal after go-live ({demo['go_live']}), "
        "none with a payment link yet"
    )
    stack.live_actions()
    workflow = stack.register_webhooks()
    out(f"[demo] webhooks: Checkout.com workflow {workflow} -> sidecar {stack.sidecar_url}/webhooks/checkout")
    airflow.wait_dag("freshportal_payment_requests")
    airflow.wait_dag("checkout_events")
    flow_started = time.time()
    since = _iso_now()

    # 2. payment links for the orders confirmed after go-live
    conf = {"settings": {"confirmed_after": demo["go_live"]}}
    run_id = airflow.trigger("freshportal_payment_requests", conf=conf)
    out(f"[demo] triggered freshportal_payment_requests run {run_id} (confirmed_after {demo['go_live']})")
    mark("payment links")
    run = airflow.wait_run("freshportal_payment_requests", run_id)
    states = airflow.task_states("freshportal_payment_requests", run_id)
    out(f"[demo] run {run['state']}: " + ", ".join(f"{k}={v}" for k, v in sorted(states.items())))
    for task_id in ("sync_orders", "create_payment_links", "write_back_links"):
        result = airflow.xcom("freshportal_payment_requests", run_id, task_id)
        if isinstance(result, dict):
            shown = {k: result[k] for k in ("fetched", "inserted", "counts", "intents") if k in result}
            out(f"        {task_id}: {shown}")
    if run["state"] != "success":
        out(f"[demo] FAILED: freshportal_payment_requests {run['state']}; see {airflow.home}/logs")
        return False

    # 3. the customers
    mark("payments and webhooks")
    links = links_by_order(fp_state(stack.freshportal_url))
    customers = Customers(stack, scenario)
    missing = [c["order_number"] for c in demo["customers"] if c["order_number"] not in links]
    if missing:
        out(f"[demo] FAILED: {len(missing)} open order(s) have no payment link: {missing[:10]}")
        return False
    did: Counter[str] = Counter()
    for entry in demo["customers"]:
        did[customers.act(entry, links[entry["order_number"]])] += 1
    acted = time.time()
    out(
        f"[demo] {len(demo['customers'])} customers with a link: "
        + ", ".join(f"{n} {what}" for what, n in did.most_common())
    )

    # 4./5. wait for FreshPortal to show what the scenario expects
    mark("statuses in FreshPortal")
    expected = expected_by_order(scenario)
    deadline = time.monotonic() + timeout
    while True:
        everything = fp_statuses(fp_state(stack.freshportal_url))
        shown = {n: everything.get(n, "missing") for n in expected}
        if shown == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    settled = time.time()
    runs = _finished_runs(airflow, since, timeout=60)
    metrics = sidecar_metrics(stack.sidecar_url)
    out(
        f"[demo] sidecar: {metrics.get('cfp_sidecar_events_stored_total', 0):.0f} events stored, "
        f"{metrics.get('cfp_sidecar_trigger_calls_total', 0):.0f} DAG run(s) requested; "
        "checkout_events runs: " + ", ".join(f"{r['dag_run_id']}={r['state']}" for r in reversed(runs))
    )
    ok = print_distribution(dict(Counter(expected.values())), dict(Counter(shown.values())), out)
    money_orders = len(scenario["demo"].get("money", {}).get("orders", []))
    if money_orders:
        out(f"(not counted: the {money_orders} money-case orders; refunds, disputes and captures follow)")
    failed = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    if failed:
        ok = False
        out(f"[demo] checkout_events run(s) not successful: {failed}; see {airflow.home}/logs")
    wrong = sorted(n for n in expected if shown.get(n) != expected[n])
    if wrong:
        ok = False
        sample = ", ".join(f"{n}: {shown.get(n)} (expected {expected[n]})" for n in wrong[:10])
        out(f"[demo] {len(wrong)} order(s) differ: {sample}")
    out(
        f"[demo] {'every order shows the status the scenario expects' if ok else 'MISMATCH'}: "
        f"last customer action -> FreshPortal settled in {settled - acted:.1f}s "
        f"(flow {settled - flow_started:.0f}s)"
    )
    return ok


def _finished_runs(airflow: AirflowApi, since: str, timeout: float) -> list[dict[str, Any]]:
    """``checkout_events`` runs since ``since``, once none is queued or running (or at the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = dag_runs(airflow, "checkout_events", since)
        if all(r["state"] in {"success", "failed"} for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def _iso_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
