"""A burst of 10,000 Checkout.com events on the demo stack: DAG runs caused, time to right statuses.

The stack is the one ``make demo`` runs (``DemoStack``, see ``bench_freshness``). The events are
real ones: the Checkout.com sandbox plays 2,500 payments for 2,500 FreshPortal orders, four
events each, along three paths (all amounts in minor units, captures land at once):

* authorize, capture 60 % (NonFinal), capture the rest (Final), refund 30 %  -> Partially Refunded
* authorize + auto-capture, refund half, refund the rest                    -> Refunded
* authorize + auto-capture, refund 10 %, refund 20 %                        -> Partially Refunded

Its workflow delivers them, signed with the sidecar's key, to a collector in this process
(nothing reaches the sidecar yet). Then the burst: the 10,000 deliveries, exact bytes and
``Cko-Signature`` as the sandbox sent them, in the order it sent them, are posted to the
sidecar over 32 keep-alive connections as fast as it acknowledges them. Measured from the first
POST:

* the sidecar's acknowledgement of all 10,000 (its own part, the same-run baseline for intake);
* **DAG runs caused**: ``checkout_events`` runs created from then on (REST
  ``GET /api/v2/dags/checkout_events/dagRuns``), goal <= 20;
* **time until every status is right** in FreshPortal: its changed-orders feed shows each of the
  2,500 orders with the status its Checkout.com payment ends in, goal <= 60 s.

Also in the same run: a bare ``checkout_events`` run with nothing to do (the Airflow floor).
``--quick``: 250 payments, 1,000 events.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from cfp_dev.demo.flow import StatusWatcher, dag_runs, sidecar_metrics
from cfp_dev.demo.stack import DemoStack, free_port
from cfp_dev.sandbox.shared_scenario import APPROVE_CARD, build_shared_scenario

from .bench_freshness import bare_runs, bench_stack, iso_now, load_avg, pct, warehouse_kind

GOAL_RUNS = 20
GOAL_SECONDS = 60.0
EVENTS_PER_PAYMENT = 4
CONNECTIONS = 32
#: path -> FreshPortal status it ends in (default mapping)
PATHS = {
    "split_capture_partial_refund": "partially_refunded",
    "full_refund_in_two": "refunded",
    "two_partial_refunds": "partially_refunded",
}


# --------------------------------------------------------------------------- the collector
class Collector:
    """A webhook receiver on loopback that keeps every delivery (body bytes + signature), in order."""

    def __init__(self) -> None:
        self.items: list[tuple[bytes, str]] = []
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with collector.lock:
                    collector.items.append((body, self.headers.get("Cko-Signature") or ""))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self) -> int:
        with self.lock:
            return len(self.items)


def register(stack: DemoStack, url: str) -> str:
    body = {
        "name": "burst collector",
        "actions": [
            {"type": "webhook", "url": url, "signature": {"method": "HMACSHA256", "key": stack.signature_key}}
        ],
    }
    with stack.checkout_session() as s:
        r = s.post(f"{stack.checkout_url}/workflows", json=body, timeout=10)
    r.raise_for_status()
    return str(r.json()["id"])


# --------------------------------------------------------------------------- the payments
class Merchant:
    """Plays one payment along one path through the Checkout.com API (secret key)."""

    def __init__(self, stack: DemoStack) -> None:
        self.base = stack.checkout_url
        self.local = threading.local()
        self.stack = stack

    def session(self) -> requests.Session:
        s = getattr(self.local, "s", None)
        if s is None:
            s = self.local.s = self.stack.checkout_session()
        return s

    def post(self, path: str, body: dict[str, Any], expect: int) -> dict[str, Any]:
        for _ in range(200):
            r = self.session().post(f"{self.base}{path}", json=body, timeout=30)
            if r.status_code == expect:
                return r.json()
            if r.status_code in (403, 409, 429):  # previous action not landed yet / rate limit
                time.sleep(0.02)
                continue
            break
        raise RuntimeError(f"POST {path}: HTTP {r.status_code} {r.text[:200]}")

    def play(self, order: dict[str, Any], path: str) -> str:
        amount, number = int(order["amount_minor"]), order["order_number"]
        card = {"type": "card", "number": APPROVE_CARD, "expiry_month": 12, "expiry_year": 2030}
        split = path == "split_capture_partial_refund"
        pay = self.post(
            "/payments",
            {
                "source": card,
                "amount": amount,
                "currency": order["currency"],
                "reference": number,
                "capture": not split,
                "metadata": {"freshportal_order_id": str(order["order_id"])},
            },
            201,
        )
        pid = pay["id"]
        if split:
            first = max(1, amount * 60 // 100)
            self.post(f"/payments/{pid}/captures", {"amount": first, "capture_type": "NonFinal"}, 202)
            self.post(f"/payments/{pid}/captures", {"amount": amount - first, "capture_type": "Final"}, 202)
            self.post(f"/payments/{pid}/refunds", {"amount": max(1, amount * 30 // 100)}, 202)
        elif path == "full_refund_in_two":
            half = max(1, amount // 2)
            self.post(f"/payments/{pid}/refunds", {"amount": half}, 202)
            self.post(f"/payments/{pid}/refunds", {"amount": amount - half}, 202)
        else:
            self.post(f"/payments/{pid}/refunds", {"amount": max(1, amount * 10 // 100)}, 202)
            self.post(f"/payments/{pid}/refunds", {"amount": max(1, amount * 20 // 100)}, 202)
        return pid


# --------------------------------------------------------------------------- the burst
async def _blast(port: int, items: list[tuple[bytes, str]], conns: int) -> dict[str, Any]:
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    statuses: dict[int, int] = {}
    last_ack = 0.0

    async def conn_loop() -> None:
        nonlocal last_ack
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                try:
                    body, sig = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                writer.write(
                    (
                        f"POST /webhooks/checkout HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                        f"Content-Type: application/json; charset=utf-8\r\nCko-Signature: {sig}\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n"
                    ).encode()
                    + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                lower = head.lower()
                i = lower.find(b"content-length:")
                n = int(lower[i + 15 : lower.find(b"\r\n", i)]) if i >= 0 else 0
                if n:
                    await reader.readexactly(n)
                statuses[status] = statuses.get(status, 0) + 1
                last_ack = time.time()
        finally:
            writer.close()

    await asyncio.gather(*(conn_loop() for _ in range(conns)))
    return {"statuses": statuses, "last_ack": last_ack}


def _wait_runs_idle(stack: DemoStack, since: str, timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        runs = dag_runs(stack.airflow, "checkout_events", since)
        if all(r["state"] in {"success", "failed"} for r in runs) or time.monotonic() > deadline:
            return runs
        time.sleep(1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    load_start = load_avg()
    payments = 250 if quick else 2500
    scenario = build_shared_scenario(9, days=1, payments_per_day=10, open_orders=payments, mix=(("pay", 1),))
    open_numbers = {c["order_number"] for c in scenario["demo"]["customers"]}
    orders = [o for o in scenario["freshportal"]["orders"] if o["order_number"] in open_numbers]
    rng = random.Random(9)
    plan = [(o, rng.choice(sorted(PATHS))) for o in orders]
    expected = {o["order_number"]: PATHS[path] for o, path in plan}

    with bench_stack("burst", scenario) as stack, Collector() as collector:
        # FreshPortal orders into the warehouse (no links: nothing is confirmed after 2100)
        conf = {"settings": {"confirmed_after": "2100-01-01T00:00:00Z", "orders_page_size": 500}}
        run_id = stack.airflow.trigger("freshportal_payment_requests", conf=conf)
        if stack.airflow.wait_run("freshportal_payment_requests", run_id, timeout=600)["state"] != "success":
            raise RuntimeError("staging the orders failed")
        bare = bare_runs(stack, 3)
        print(f"   bare checkout_events runs: {', '.join(f'{b:.1f}s' for b in bare)}")

        # the events: real payments, delivered to the collector
        register(stack, f"http://127.0.0.1:{collector.port}/webhooks")
        requests.post(
            f"{stack.checkout_url}/_sandbox/faults", json={"read_rps": 0, "write_rps": 0}, timeout=10
        ).raise_for_status()
        merchant = Merchant(stack)
        t0 = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: merchant.play(*item), plan))
        want = payments * EVENTS_PER_PAYMENT
        deadline = time.monotonic() + 120
        while collector.count() < want and time.monotonic() < deadline:
            time.sleep(0.2)
        items = list(collector.items)
        if len(items) != want:
            raise RuntimeError(f"collected {len(items)} deliveries, expected {want}")
        print(
            f"   {payments:,} payments played, {len(items):,} events collected "
            f"in {time.monotonic() - t0:.0f}s"
        )

        # the burst
        watcher = StatusWatcher(stack.freshportal_url).start()
        try:
            since = iso_now()
            start = time.time()
            blast = asyncio.run(_blast(stack.sidecar_port, items, CONNECTIONS))
            acked_s = blast["last_ack"] - start
            done = watcher.wait_for(expected, 600)
            right_s = (done - start) if done is not None else None
            wrong = watcher.wrong(expected) if done is None else {}
        finally:
            watcher.stop()
        runs = _wait_runs_idle(stack, since)
        metrics = sidecar_metrics(stack.sidecar_url)
        kind = warehouse_kind(stack.warehouse_url)

    ok_2xx = sum(v for k, v in blast["statuses"].items() if 200 <= k < 300)
    run_seconds = [
        (_ts(r["end_date"]) - _ts(r["start_date"])) for r in runs if r.get("start_date") and r.get("end_date")
    ]
    run_seconds_by_start = [
        _ts(r["end_date"]) - _ts(r["start_date"])
        for r in sorted(runs, key=lambda r: r.get("start_date") or "")
        if r.get("start_date") and r.get("end_date")
    ]
    failed_runs = [r["dag_run_id"] for r in runs if r["state"] != "success"]
    runs_met = len(runs) <= GOAL_RUNS
    time_met = right_s is not None and right_s <= GOAL_SECONDS
    table = [
        {
            "what": "baseline: bare checkout_events run, trigger -> success (p50)",
            "value": round(pct(bare, 50), 2),
            "unit": "s",
        },
        {
            "what": f"sidecar acknowledged the burst ({ok_2xx:,} x 2xx of {len(items):,})",
            "value": round(acked_s, 2),
            "unit": "s",
        },
        {
            "what": "sidecar intake rate during the burst",
            "value": round(len(items) / acked_s),
            "unit": "events/s",
        },
        {"what": "checkout_events runs caused", "value": len(runs), "unit": f"runs (goal <= {GOAL_RUNS})"},
        {
            "what": "run durations (start -> end, in start order)",
            "value": ", ".join(f"{x:.1f}" for x in run_seconds_by_start) or "-",
            "unit": "s",
        },
        {
            "what": f"every one of {payments:,} statuses right in FreshPortal",
            "value": round(right_s, 1) if right_s is not None else "not within 600 s",
            "unit": f"s after the first POST (goal <= {GOAL_SECONDS:g})",
        },
    ]
    summary = [
        f"warehouse {kind}; {len(items):,} events for {payments:,} payments, "
        f"burst over {CONNECTIONS} connections",
        f"DAG runs caused: {len(runs)} (goal <= {GOAL_RUNS}: {'met' if runs_met else 'NOT met'})"
        + (f"; failed runs: {failed_runs}" if failed_runs else ""),
        f"every status right in FreshPortal after {right_s:.1f} s (goal <= {GOAL_SECONDS:g} s: "
        f"{'met' if time_met else 'NOT met'})"
        if right_s is not None
        else f"statuses NOT right after 600 s: {len(wrong)} wrong, e.g. {list(wrong.items())[:5]}",
        f"baseline (same run): bare checkout_events run p50 {pct(bare, 50):.2f} s; sidecar intake "
        f"{len(items) / acked_s:,.0f} events/s",
    ]
    summary.append(f"load average at start / end: {load_start} / {load_avg()}")
    return {
        "table": table,
        "summary": summary,
        "load_average": {"start": load_start, "end": load_avg()},
        "warehouse": kind,
        "events": len(items),
        "payments": payments,
        "sidecar_ack_seconds": acked_s,
        "http_statuses": blast["statuses"],
        "dag_runs": len(runs),
        "dag_run_ids": [r["dag_run_id"] for r in runs],
        "dag_run_seconds": run_seconds,
        "failed_runs": failed_runs,
        "seconds_until_statuses_right": right_s,
        "baseline_bare_run_s": {"p50": pct(bare, 50), "all": bare},
        "goals": {"runs": GOAL_RUNS, "seconds": GOAL_SECONDS, "runs_met": runs_met, "seconds_met": time_met},
        "sidecar_metrics": {k: v for k, v in metrics.items() if k.endswith("_total")},
    }


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()
