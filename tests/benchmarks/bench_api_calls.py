"""Read calls to the Checkout.com API per 1,000 payments in a steady-state hourly run.

A sandbox account with several days of history at a steady hourly volume is ingested once
(bootstrap). Then, repeatedly, the sandbox advances one hour of new activity (new payments,
captures and refunds on older ones, disputes, a day's reports when midnight passes) and one
scheduled run of the ingestion is made, counting the API calls the client sent.

Two configurations in the same run:

* ``full actions`` (the project's assumption, docs/architecture.md decision 2): search results
  carry each payment's actions, so changed payments need no per-payment call;
* ``summary actions`` (the pessimistic case): search items carry action summaries only, so the
  ingestion must call ``GET /payments/{id}/actions`` for every new or changed payment. This is
  the same-run baseline: what the design costs when its assumption does not hold.

Per run it reports read calls (GETs and search POSTs; token calls excluded), payments read
(every payment the run's search windows returned, the re-walk included), new payments, and
calls per 1,000 of each. The goal (<= 3 per 1,000 payments ingested) is checked against calls
per 1,000 payments read, the median over the hourly runs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY, SandboxConfig, SandboxServer
from checkout_freshportal.checkout.client import CheckoutClient
from checkout_freshportal.checkout.settings import CheckoutSettings
from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.timeutil import parse_ts
from checkout_freshportal.warehouse import make_engine, upgrade

GOAL = 3.0
FULL = {"days": 4, "payments_per_hour": 400, "hours": 4}
QUICK = {"days": 2, "payments_per_hour": 60, "hours": 2}


def _read_calls(stats: Any) -> tuple[int, dict[str, int]]:
    snap = stats.snapshot()
    by_kind = {k: v for k, v in snap["calls"].items() if not k.endswith(" token")}
    return sum(by_kind.values()), by_kind


def _scenario(mode: str, size: dict[str, int], workdir: Path) -> dict[str, Any]:
    config = SandboxConfig(
        seed=11,
        days=size["days"],
        payments_per_day=size["payments_per_hour"] * 24,
        clock_speed=1e-9,  # only /_sandbox/advance moves time: each run sees one exact hour
        search_actions=mode,
        read_rps=10_000,
        write_rps=10_000,
    )
    engine = make_engine(f"sqlite:///{workdir / f'bench-{mode}.sqlite'}")
    upgrade(engine)
    settings = IngestSettings(settle=timedelta(0))
    runs: list[dict[str, Any]] = []
    with SandboxServer(config) as sandbox:
        # The limiter is lifted: this benchmark counts calls, it does not time them.
        unlimited = {"read_rps": 10_000, "write_rps": 10_000}
        client = CheckoutClient(
            CheckoutSettings(base_url=sandbox.base_url, secret_key=DEFAULT_SECRET_KEY, **unlimited)
        )

        def sandbox_now() -> Any:
            return parse_ts(requests.get(f"{sandbox.base_url}/_sandbox/clock", timeout=10).json()["now"])

        boot = ingest.run_all(client, engine, settings, now=sandbox_now(), run_id="bootstrap")
        boot_calls, _ = _read_calls(client.stats)
        for hour in range(size["hours"]):
            requests.post(
                f"{sandbox.base_url}/_sandbox/advance",
                json={"hours": 1, "payments_per_hour": size["payments_per_hour"]},
                timeout=120,
            ).raise_for_status()
            client.stats.reset()
            out = ingest.run_all(client, engine, settings, now=sandbox_now(), run_id=f"hour-{hour}")
            calls, by_kind = _read_calls(client.stats)
            read = out["ingest_payments"]["fetched"] + out["refresh_referenced_payments"]["fetched"]
            new = out["ingest_payments"]["inserted"]
            runs.append(
                {
                    "calls": calls,
                    "payments_read": read,
                    "new_payments": new,
                    "changed_payments": out["ingest_payments"]["updated"],
                    "per_1000_read": 1000 * calls / read if read else float("inf"),
                    "per_1000_new": 1000 * calls / new if new else float("inf"),
                    "by_kind": by_kind,
                }
            )
    engine.dispose()
    return {
        "mode": mode,
        "bootstrap": {"payments": boot["ingest_payments"]["fetched"], "calls": boot_calls},
        "runs": runs,
        "median_per_1000_read": statistics.median(r["per_1000_read"] for r in runs),
        "median_per_1000_new": statistics.median(r["per_1000_new"] for r in runs),
        "median_calls": statistics.median(r["calls"] for r in runs),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    size = dict(QUICK if args.quick else FULL)
    if args.repeat:
        size["hours"] = args.repeat
    with tempfile.TemporaryDirectory(prefix="cfp-bench-calls-") as tmp:
        results = [_scenario(mode, size, Path(tmp)) for mode in ("full", "summary")]
    table = [
        {
            "search actions": r["mode"],
            "hourly runs": len(r["runs"]),
            "calls/run (median)": r["median_calls"],
            "payments read/run": statistics.median(x["payments_read"] for x in r["runs"]),
            "new payments/run": statistics.median(x["new_payments"] for x in r["runs"]),
            "calls per 1k read": round(r["median_per_1000_read"], 2),
            "calls per 1k new": round(r["median_per_1000_new"], 1),
        }
        for r in results
    ]
    full, summary = results
    ok = full["median_per_1000_read"] <= GOAL
    return {
        "size": size,
        "goal_calls_per_1000_read": GOAL,
        "goal_met": ok,
        "results": results,
        "table": table,
        "summary": [
            f"steady state, {size['payments_per_hour']} payments/hour over {size['days']} days of history, "
            f"3-day re-walk: {full['median_per_1000_read']:.2f} read calls per 1,000 payments read "
            f"(goal <= {GOAL}: {'met' if ok else 'MISSED'}); "
            f"{full['median_per_1000_new']:.1f} per 1,000 new payments",
            f"baseline in the same run, summary-only search actions: "
            f"{summary['median_per_1000_read']:.2f} per 1,000 read, "
            f"{summary['median_per_1000_new']:.1f} per 1,000 new "
            f"({summary['median_calls'] / max(full['median_calls'], 1):.1f}x the calls)",
        ],
    }
