"""Freshness on the demo stack: webhook sent -> FreshPortal payment status updated.

The stack is the one ``make demo`` runs (``DemoStack``): the Checkout.com and FreshPortal
sandboxes loading one shared scenario, the webhook sidecar, standalone Airflow 3 (LocalExecutor)
with the SQLite warehouse (``CFP_BENCH_WAREHOUSE=postgres`` uses a scratch PostgreSQL database).
Setup: ``freshportal_payment_requests`` makes a payment link for every open order and writes it
back; then customers pay those links (``POST /_sandbox/payment-links/{id}/pay``, card 4242, the
capture lands at once).

Per payment, **freshness** = the moment FreshPortal's changed-orders feed first shows the order
as ``paid`` minus the moment the Checkout.com sandbox sent the ``payment_captured`` webhook (its
delivery log's ``real_time``, taken just before the POST). The feed is polled every 0.1 s from a
cursor (``StatusWatcher``), so the figure is exact to about 0.1 s. Each payment's time is split
into: sent -> committed by the sidecar (``received_at``), committed -> applied by the DAG
(``processed_at``), applied -> visible in FreshPortal (the ``push_statuses`` task).

Phases:

* **baseline** (same run): a bare ``checkout_events`` run triggered through the REST API with
  nothing to do, trigger -> ``success``: the floor Airflow puts under every payment;
* **one at a time**: a payment, then wait until FreshPortal shows it (no queueing);
* **steady load**: ``N`` payments at ``RATE`` per second (default 200 at 2/s), the figure the goal
  is about.

Goals (issue 3): p50 <= 5 s, p95 <= 15 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa

from cfp_dev.demo.flow import StatusWatcher, dag_runs, fp_state, links_by_order, sidecar_metrics
from cfp_dev.demo.stack import DemoStack
from cfp_dev.sandbox.shared_scenario import APPROVE_CARD, build_shared_scenario, write_scenario
from checkout_freshportal.warehouse import make_engine, upgrade

from .harness import scratch_database

GOAL_P50 = 5.0
GOAL_P95 = 15.0
RATE = 2.0  # payments per second in the steady phase


# --------------------------------------------------------------------------- shared with bench_burst
def pct(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def load_avg() -> str:
    """The 1-minute load average (the machine may be shared; figures depend on it)."""
    return f"{os.getloadavg()[0]:.1f}"


def iso_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@contextmanager
def bench_stack(name: str, scenario: dict[str, Any], **stack_kw: Any) -> Iterator[DemoStack]:
    """A started DemoStack in a scratch directory: sandboxes, migrated warehouse, Airflow, sidecar."""
    home = Path(tempfile.mkdtemp(prefix=f"cfp-bench-{name}-"))
    ok = False
    with _warehouse(home) as warehouse_url:
        stack = DemoStack(
            home=home,
            scenario_path=write_scenario(scenario, home / "shared-scenario.json"),
            warehouse_url=warehouse_url,
            **stack_kw,
        )
        try:
            t0 = time.monotonic()
            stack.start_sandboxes()
            upgrade(warehouse_url)
            stack.start_airflow()
            stack.start_sidecar()
            stack.live_actions()
            stack.airflow.wait_dag("freshportal_payment_requests")
            stack.airflow.wait_dag("checkout_events")
            print(
                f"   stack up in {time.monotonic() - t0:.0f}s (logs: {stack.logs}, {stack.airflow.home}/logs)"
            )
            yield stack
            ok = True
        finally:
            stack.stop()
            if ok and not os.environ.get("CFP_BENCH_KEEP"):
                shutil.rmtree(home, ignore_errors=True)
            elif not ok:
                print(f"   kept {home} for inspection")


@contextmanager
def _warehouse(home: Path) -> Iterator[str]:
    if os.environ.get("CFP_BENCH_WAREHOUSE", "sqlite").lower() in {"postgres", "postgresql", "pg"}:
        with scratch_database(prefix="cfp_bench_stack") as url:
            yield url
    else:
        yield f"sqlite:///{home / 'warehouse.sqlite'}"


def warehouse_kind(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


def bare_runs(stack: DemoStack, count: int) -> list[float]:
    """Trigger ``checkout_events`` with nothing to do ``count`` times; trigger -> success, seconds."""
    out = []
    for i in range(count):
        t0 = time.monotonic()
        run_id = stack.airflow.trigger("checkout_events", run_id=f"bench_bare__{i}_{time.time_ns()}")
        while True:
            state = stack.airflow.api("GET", f"/dags/checkout_events/dagRuns/{run_id}").json().get("state")
            if state in {"success", "failed"}:
                break
            time.sleep(0.05)
        if state != "success":
            raise RuntimeError(f"bare checkout_events run {run_id} {state}")
        out.append(time.monotonic() - t0)
    return out


def make_links(stack: DemoStack, scenario: dict[str, Any]) -> dict[str, str]:
    """``freshportal_payment_requests`` for the open orders; order number -> link id."""
    conf = {"settings": {"confirmed_after": scenario["demo"]["go_live"], "max_links_per_run": 10_000}}
    run_id = stack.airflow.trigger("freshportal_payment_requests", conf=conf)
    run = stack.airflow.wait_run("freshportal_payment_requests", run_id, timeout=900)
    if run["state"] != "success":
        raise RuntimeError(f"freshportal_payment_requests {run['state']}; see {stack.airflow.home}/logs")
    links = links_by_order(fp_state(stack.freshportal_url))
    missing = [c["order_number"] for c in scenario["demo"]["customers"] if c["order_number"] not in links]
    if missing:
        raise RuntimeError(f"{len(missing)} open orders got no link, e.g. {missing[:5]}")
    return links


def event_rows(warehouse_url: str, event_type: str) -> dict[str, dict[str, Any]]:
    """event id -> subject, received_at, processed_at (epoch seconds) from raw_webhook_events."""
    eng = make_engine(warehouse_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT event_id, subject_id, received_at, processed_at FROM raw_webhook_events "
                    "WHERE event_type = :t"
                ),
                {"t": event_type},
            ).all()
    finally:
        eng.dispose()
    return {r[0]: {"subject": r[1], "received": _epoch(r[2]), "processed": _epoch(r[3])} for r in rows}


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def first_deliveries(checkout_url: str, event_type: str) -> dict[str, float]:
    """event id -> wall-clock time of its first delivery attempt (the sandbox's delivery log)."""
    log = requests.get(f"{checkout_url}/_sandbox/webhooks", params={"event_type": event_type}, timeout=60)
    log.raise_for_status()
    out: dict[str, float] = {}
    for e in log.json()["deliveries"]:
        if e.get("attempt") == 1 and not e.get("duplicate"):
            out.setdefault(e["event_id"], float(e["real_time"]))
    return out


# --------------------------------------------------------------------------- the measurement
def _pay(stack: DemoStack, link_id: str) -> dict[str, Any]:
    r = requests.post(
        f"{stack.checkout_url}/_sandbox/payment-links/{link_id}/pay",
        json={"card_number": APPROVE_CARD},
        timeout=30,
    )
    r.raise_for_status()
    out = r.json()
    if not out.get("approved"):
        raise RuntimeError(f"link {link_id} declined: {out.get('response_code')}")
    return out


def _steady(stack: DemoStack, links: list[tuple[str, str]], rate: float) -> dict[str, str]:
    """Pay ``links`` at ``rate``/s from a scheduler thread; order number -> payment id."""
    paid: dict[str, str] = {}
    errors: list[str] = []
    t0 = time.monotonic()

    def worker(i: int, number: str, link: str) -> None:
        try:
            paid[number] = _pay(stack, link)["id"]
        except Exception as exc:  # reported below
            errors.append(f"{number}: {exc}")

    threads = []
    for i, (number, link) in enumerate(links):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t = threading.Thread(target=worker, args=(i, number, link), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(60)
    if errors:
        raise RuntimeError(f"{len(errors)} payments failed: {errors[:3]}")
    return paid


def _latencies(
    stack: DemoStack, watcher: StatusWatcher, paid: dict[str, str], status: str = "paid"
) -> dict[str, list[float]]:
    sent = first_deliveries(stack.checkout_url, "payment_captured")
    rows = event_rows(stack.warehouse_url, "payment_captured")
    by_payment = {r["subject"]: (eid, r) for eid, r in rows.items()}
    out: dict[str, list[float]] = {"total": [], "ack": [], "apply": [], "push": []}
    for number, payment_id in paid.items():
        eid, row = by_payment.get(payment_id, (None, None))
        seen = watcher.seen(number, status)
        if eid is None or eid not in sent or seen is None:
            raise RuntimeError(f"{number} ({payment_id}): event {eid} sent={eid in sent} seen={seen}")
        t_sent = sent[eid]
        out["total"].append(seen - t_sent)
        if row["received"] is not None:
            out["ack"].append(row["received"] - t_sent)
        if row["received"] is not None and row["processed"] is not None:
            out["apply"].append(row["processed"] - row["received"])
        if row["processed"] is not None:
            out["push"].append(seen - row["processed"])
    return out


def _row(phase: str, values: list[float], runs: int | str = "", parts: dict[str, list[float]] | None = None):
    row: dict[str, Any] = {
        "phase": phase,
        "n": len(values),
        "p50_s": round(pct(values, 50), 2),
        "p95_s": round(pct(values, 95), 2),
        "max_s": round(max(values), 2) if values else float("nan"),
        "dag_runs": runs,
    }
    if parts:
        row["sent->stored p50"] = round(pct(parts["ack"], 50), 3)
        row["stored->applied p50"] = round(pct(parts["apply"], 50), 2)
        row["applied->in FP p50"] = round(pct(parts["push"], 50), 2)
    return row


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = bool(getattr(args, "quick", False))
    load_start = load_avg()
    n = 20 if quick else 200
    one_by_one = 3 if quick else 10
    bare_count = 3 if quick else 5
    scenario = build_shared_scenario(
        5, days=1, payments_per_day=10, open_orders=one_by_one + n, mix=(("pay", 1),)
    )
    numbers = [c["order_number"] for c in scenario["demo"]["customers"]]
    with bench_stack("freshness", scenario) as stack:
        links = make_links(stack, scenario)
        bare = bare_runs(stack, bare_count)
        print(f"   bare checkout_events runs: {', '.join(f'{b:.1f}s' for b in bare)}")
        stack.register_webhooks()
        watcher = StatusWatcher(stack.freshportal_url).start()
        try:
            # one at a time: no queueing, the path's own latency
            since = iso_now()
            single: dict[str, str] = {}
            for number in numbers[:one_by_one]:
                single[number] = _pay(stack, links[number])["id"]
                if watcher.wait_for({number: "paid"}, 120) is None:
                    raise RuntimeError(f"{number} not paid in FreshPortal after 120 s")
                time.sleep(0.5)
            single_runs = len(dag_runs(stack.airflow, "checkout_events", since))
            # steady load
            since = iso_now()
            t0 = time.time()
            steady_links = [(x, links[x]) for x in numbers[one_by_one:]]
            paid = _steady(stack, steady_links, RATE)
            send_s = time.time() - t0
            done = watcher.wait_for({x: "paid" for x in paid}, 300)
            if done is None:
                wrong = watcher.wrong({x: "paid" for x in paid})
                raise RuntimeError(
                    f"{len(wrong)} orders not paid in FreshPortal after 300 s: {list(wrong)[:5]}"
                )
            time.sleep(1.0)
            runs = dag_runs(stack.airflow, "checkout_events", since)
            single_lat = _latencies(stack, watcher, single)
            steady_lat = _latencies(stack, watcher, paid)
            metrics = sidecar_metrics(stack.sidecar_url)
        finally:
            watcher.stop()
        kind = warehouse_kind(stack.warehouse_url)

    table = [
        _row("baseline: bare checkout_events run, trigger -> success", bare, bare_count),
        _row(f"one payment at a time ({one_by_one})", single_lat["total"], single_runs, single_lat),
        _row(f"steady {RATE:g}/s ({n} payments)", steady_lat["total"], len(runs), steady_lat),
    ]
    p50, p95 = pct(steady_lat["total"], 50), pct(steady_lat["total"], 95)
    met50, met95 = p50 <= GOAL_P50, p95 <= GOAL_P95
    run_seconds = [
        (datetime.fromisoformat(r["end_date"]) - datetime.fromisoformat(r["start_date"])).total_seconds()
        for r in runs
        if r.get("start_date") and r.get("end_date")
    ]
    summary = [
        f"warehouse {kind}; webhook sent -> FreshPortal shows 'paid', {n} payments at {RATE:g}/s "
        f"(sent in {send_s:.0f}s): p50 {p50:.2f} s, p95 {p95:.2f} s",
        f"goal p50 <= {GOAL_P50:g} s: {'met' if met50 else 'NOT met'}; "
        f"goal p95 <= {GOAL_P95:g} s: {'met' if met95 else 'NOT met'}",
        f"baseline (same run): a bare checkout_events run takes p50 {pct(bare, 50):.2f} s from trigger to "
        f"success; steady phase: {len(runs)} runs, each p50 {pct(run_seconds, 50):.1f} s start -> end",
    ]
    summary.append(f"load average at start / end: {load_start} / {load_avg()}")
    return {
        "table": table,
        "summary": summary,
        "load_average": {"start": load_start, "end": load_avg()},
        "warehouse": kind,
        "payments": n,
        "rate_per_s": RATE,
        "freshness_s": {"p50": p50, "p95": p95, "max": max(steady_lat["total"])},
        "one_at_a_time_s": {"p50": pct(single_lat["total"], 50), "p95": pct(single_lat["total"], 95)},
        "baseline_bare_run_s": {"p50": pct(bare, 50), "all": bare},
        "steady_parts_p50_s": {k: pct(v, 50) for k, v in steady_lat.items()},
        "steady_runs": len(runs),
        "steady_run_seconds": run_seconds,
        "goals": {"p50_s": GOAL_P50, "p95_s": GOAL_P95, "p50_met": met50, "p95_met": met95},
        "sidecar_metrics": {k: v for k, v in metrics.items() if k.endswith("_total")},
    }
