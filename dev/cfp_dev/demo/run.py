"""``make demo``: both jobs end to end; ``make up-distributed``: the same on the Celery topology.

``make demo``'s warehouse is ``.demo/warehouse.sqlite``; ``cfp demo --distributed``'s is a
PostgreSQL database (``cfp_dev.distributed.settings``). Either is handed to every process as
``CFP_WAREHOUSE_URL`` (the library has no default of its own) and migrated first by the deploy
step ``cfp db upgrade``. Builds one shared scenario (``sandbox/shared_scenario.py``) and starts,
on loopback, the Checkout.com and FreshPortal sandboxes loading it, Airflow (standalone, or its
components on the CeleryExecutor with two workers) with that warehouse and every Connection in
its environment, and the webhook sidecar. Then, one section each (``story.py``):

1. **ingestion**: triggers ``checkout_ingest`` through the REST API like an operator would and
   prints what landed beside what the scenario holds;
2. **near real time** (``flow``): payment links for the open orders, simulated customers
   paying, signed webhooks -> sidecar -> ``checkout_events`` -> FreshPortal, and the
   FreshPortal payment-status distribution beside the scenario's expected one;
3. **money** (``money``): the scenario's disputes played as webhooks, ``freshportal_refunds``
   and ``freshportal_captures`` triggered until every request and release is answered, and
   each outcome beside the one the scenario expects;
4. **reconciliation** (``recon``): the warehouse brought up to date, the ``reconciliation`` DAG,
   its headline figures and the report's path;
5. distributed only: which worker ran which task instances (``cfp_dev.distributed.workers``).

Exit status 0 only if every part agrees (and, distributed, both workers ran tasks).
Docs: docs/demo.md, docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import requests
import sqlalchemy as sa

from cfp_dev.demo.landed import compare_with_scenario, landed_summary
from cfp_dev.demo.lock import StackBusyError, exclusive
from cfp_dev.demo.procs import Managed
from cfp_dev.demo.stack import FROZEN_CLOCK, DemoStack
from cfp_dev.demo.story import Story
from cfp_dev.paths import DEMO_DIR
from checkout_freshportal.money import to_major

if TYPE_CHECKING:
    from cfp_dev.distributed.settings import DistributedSettings

__all__ = ["FROZEN_CLOCK", "DemoResult", "demo", "run_demo"]


@dataclass
class DemoResult:
    """What a run checked, the report it made, who ran what, and every process it started."""

    checks: dict[str, bool] = field(default_factory=dict)
    report: Path | None = None
    workers: dict[str, Counter[str]] = field(default_factory=dict)
    processes: list[Managed] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    completed: bool = False
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    @property
    def exit_code(self) -> int:
        """0 only for a run that got to its verdict and passed; 130 when Ctrl-C cut it short."""
        if not self.completed:
            return 130 if self.interrupted else 1
        return 0 if self.ok else 1


def _reset_warehouse(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _shown(row: dict[str, Any], value: Any) -> str:
    """Counts as they are; money in major units of its currency, exactly (no rounding)."""
    currency = row["what"].rsplit(" ", 1)[-1]
    if isinstance(value, int) and len(currency) == 3 and currency.isupper():
        return f"{to_major(value, currency):,}"
    if isinstance(value, str):
        return f"{Decimal(value):,}"
    return f"{value:,}"


def _print_comparison(rows: list[dict[str, Any]]) -> None:
    width = max(len(r["what"]) for r in rows)
    print(f"\n{'what':<{width}}  {'scenario':>20}  {'warehouse':>20}  ok")
    print("-" * (width + 48))
    for r in rows:
        mark = "yes" if r["ok"] else "NO"
        print(f"{r['what']:<{width}}  {_shown(r, r['expected']):>20}  {_shown(r, r['landed']):>20}  {mark}")
    print("(money in major units of each currency, to the minor unit; report amounts to 8 decimals)")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISMATCH"


def _scenario(seed: int, scenario_file: str | None, size: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The generated shared scenario (``size``: days, payments_per_day, open_orders), or a
    file's moved to the wall clock (ages kept)."""
    from datetime import UTC, datetime

    from cfp_dev.sandbox.planted import rebase
    from cfp_dev.sandbox.shared_scenario import build_shared_scenario
    from cfp_dev.sandbox.shared_scenario_check import read_scenario

    if scenario_file is None:
        return build_shared_scenario(seed, **dict(size or {}))
    scenario = read_scenario(scenario_file)
    return rebase(scenario, datetime.now(UTC)) if "now" in scenario else scenario


def _fresh_state(home: Path, distributed: DistributedSettings | None) -> str:
    """Empty warehouse, Airflow metadata and reports; the warehouse URL.

    A fresh metadata database: one left by an earlier demo may hold DAGs serialized with their
    schedules on, whose due runs the scheduler would start before re-parsing.
    """
    home.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "airflow", "reports"):
        shutil.rmtree(home / sub, ignore_errors=True)
    if distributed is not None:
        distributed.reset()
        return distributed.warehouse_url
    warehouse_file = home / "warehouse.sqlite"
    _reset_warehouse(warehouse_file)
    return f"sqlite:///{warehouse_file}"


def _ingestion(stack: DemoStack, engine: sa.Engine, started: float) -> bool:
    """``checkout_ingest`` through the REST API, then what landed beside the sandbox's summary."""
    airflow = stack.airflow
    airflow.wait_dag("checkout_ingest")
    # The sandbox's history runs up to this second and it has no index lag, so the demo
    # asks for no settle margin; production keeps the 2-minute default.
    run_id = airflow.trigger("checkout_ingest", conf={"settings": {"settle_hours": 0}})
    print(f"[demo] triggered checkout_ingest run {run_id}; waiting ...")
    run = airflow.wait_run("checkout_ingest", run_id)
    states = airflow.task_states("checkout_ingest", run_id)
    print(f"[demo] run {run['state']}: " + ", ".join(f"{k}={v}" for k, v in sorted(states.items())))
    for task_id in sorted(states):
        out = airflow.xcom("checkout_ingest", run_id, task_id)
        if isinstance(out, dict):
            shown = ("fetched", "inserted", "updated", "files_loaded", "watermark")
            keep = {k: out[k] for k in shown if k in out}
            print(f"        {task_id}: {keep}")
    if run["state"] != "success":
        print(f"[demo] FAILED: see {airflow.home}/logs and the Airflow UI")
        return False
    summary = requests.get(f"{stack.checkout_url}/_sandbox/summary", timeout=10).json()
    rows = compare_with_scenario(summary, landed_summary(engine))
    _print_comparison(rows)
    ok = all(r["ok"] for r in rows)
    print(
        f"\n[demo] {'everything the scenario holds landed' if ok else 'MISMATCH'} "
        f"in {time.monotonic() - started:.0f}s"
    )
    return ok


def _start(stack: DemoStack, distributed: DistributedSettings | None) -> None:
    """Deploy step, Airflow (launched first: it takes the longest), sandboxes, sidecar."""
    airflow = stack.airflow
    # The deploy step comes first, as in any deployment: tasks and the sidecar only check
    # that the schema is at head and refuse to run otherwise.
    print(f"[demo] deploy step `cfp db upgrade`: {stack.migrate()}")
    if distributed is None:
        print("[demo] starting Airflow standalone (scheduler, dag-processor, api-server, triggerer) ...")
    else:
        print(
            "[demo] starting Airflow on the CeleryExecutor: init job `airflow db migrate`, then "
            f"api-server, scheduler, dag-processor, triggerer and workers {', '.join(distributed.workers)}"
        )
        shown = distributed.shown
        print(
            f"[demo] metadata {shown(distributed.metadata_url)}, broker {shown(distributed.redis_url)}, "
            f"results {shown(distributed.result_backend_url)}"
        )
    stack.launch_airflow()
    stack.start_sandboxes()
    stack.start_sidecar()
    print(f"[demo] webhook sidecar on {stack.sidecar_url} (logs in {stack.logs})")
    stack.wait_airflow()
    print(f"[demo] Airflow on {airflow.base_url} (user admin, password in {airflow.home}/passwords.json)")


def _pipeline(stack: DemoStack, scenario: dict[str, Any], story: Story, result: DemoResult) -> None:
    """Every part in order; each part's verdict lands in ``result.checks`` as soon as it is known."""
    from cfp_dev.demo.flow import run_flow
    from cfp_dev.demo.money import run_money
    from cfp_dev.demo.recon import run_reconciliation_step
    from checkout_freshportal.warehouse.engine import make_engine

    story.section("ingestion")
    engine = make_engine(stack.warehouse_url)
    try:
        result.checks["ingestion"] = _ingestion(stack, engine, result.started)
    finally:
        engine.dispose()
    if not result.checks["ingestion"]:
        return
    result.checks["payment status"] = run_flow(stack, scenario, mark=story.section)
    story.section("refunds and disputes")
    if scenario["demo"].get("money"):
        print("[demo] refunds, disputes and captures: FreshPortal requests -> Checkout.com -> answers")
        result.checks["refunds/disputes/captures"] = run_money(stack, scenario)
    else:
        print("[demo] the scenario has no refund, dispute or capture cases")
    story.section("reconciliation")
    print("[demo] warehouse brought up to date, then the reconciliation DAG")
    result.checks["reconciliation"], result.report = run_reconciliation_step(stack, scenario)


def _stay_up(stack: DemoStack, pid_file: Path) -> None:
    """Until Ctrl-C or ``make down`` (SIGTERM to the pid in ``pid_file``)."""
    airflow = stack.airflow
    pid_file.write_text(f"{os.getpid()}\n")
    print(
        f"\n[demo] still running. Airflow UI {airflow.base_url}  user admin  password {airflow.password}\n"
        f"       Checkout.com sandbox {stack.checkout_url}, FreshPortal sandbox {stack.freshportal_url}, "
        f"sidecar {stack.sidecar_url}\n"
        "       stop: Ctrl-C here, or `make down` from another terminal",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    finally:
        pid_file.unlink(missing_ok=True)


def _sigterm_as_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def demo(
    seed: int = 42,
    keep_running: bool = False,
    scenario_file: str | None = None,
    *,
    distributed: DistributedSettings | None = None,
    size: Mapping[str, int] | None = None,
    home: Path = DEMO_DIR,
    tty: bool | None = None,
) -> DemoResult:
    """The whole run; every process it started is stopped before it returns (also on failure,
    Ctrl-C or SIGTERM). StackBusyError, before anything is touched, while another run uses ``home``
    or, distributed, the same databases or Redis database (from another folder or checkout)."""
    with contextlib.ExitStack() as held:
        held.enter_context(exclusive(home))
        for name in distributed.lock_names() if distributed is not None else ():
            held.enter_context(exclusive(Path(tempfile.gettempdir()) / "cfp-dist-locks" / name))
        return _demo(seed, keep_running, scenario_file, distributed, size, home, tty)


def _demo(
    seed: int,
    keep_running: bool,
    scenario_file: str | None,
    distributed: DistributedSettings | None,
    size: Mapping[str, int] | None,
    home: Path,
    tty: bool | None,
) -> DemoResult:
    result = DemoResult()
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    story = Story(tty=tty)
    stack: DemoStack | None = None
    try:
        with story:
            story.section("scenario generated")
            # One scenario for both sandboxes: FreshPortal order number = Checkout.com payment reference.
            stack, scenario = _prepare(seed, scenario_file, size, home, distributed)
            story.section("stack started")
            _start(stack, distributed)
            _pipeline(stack, scenario, story, result)
            story.section("report")
            _conclude(stack, distributed, result)
            story.finish()
        if keep_running:
            _stay_up(stack, home / "up.pid")
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        # A second SIGTERM (`make down` again) must not cut the stop short and leave processes.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if stack is not None:
            result.processes = stack.processes()
            result.ports = _ports(stack)
            stack.stop()
        signal.signal(signal.SIGTERM, previous)
    return result


def _prepare(
    seed: int,
    scenario_file: str | None,
    size: Mapping[str, int] | None,
    home: Path,
    distributed: DistributedSettings | None,
) -> tuple[DemoStack, dict[str, Any]]:
    from cfp_dev.sandbox.shared_scenario import write_scenario

    scenario = _scenario(seed, scenario_file, size)
    warehouse_url = _fresh_state(home, distributed)
    scenario_path = write_scenario(scenario, home / "shared-scenario.json")
    # The sandbox clock is frozen so the scenario cannot move between the ingestion and the
    # comparison (with the clock running, an authorization could be captured in between).
    stack = DemoStack(
        home=home, scenario_path=scenario_path, warehouse_url=warehouse_url, distributed=distributed
    )
    print(f"[demo] Checkout.com sandbox ({scenario_file or f'seed {seed}'}) on {stack.checkout_url}")
    print(
        f"[demo] FreshPortal sandbox on {stack.freshportal_url}: {len(scenario['freshportal']['orders'])} "
        f"orders ({scenario['demo']['history_orders']} from before go-live, "
        f"{len(scenario['demo']['customers'])} open); shared scenario {scenario_path}"
    )
    return stack, scenario


def _conclude(stack: DemoStack, distributed: DistributedSettings | None, result: DemoResult) -> None:
    if distributed is not None:
        from cfp_dev.distributed.workers import check_workers

        print("[demo] which worker ran which task instances (REST API: task instances' hostname)")
        result.checks["both workers"], result.workers = check_workers(stack.airflow, distributed.workers)
    verdicts = ", ".join(f"{name} {_verdict(ok)}" for name, ok in result.checks.items())
    print(
        f"\n[demo] {'every job agrees with the scenario' if result.ok else 'MISMATCH'} ({verdicts}) "
        f"in {time.monotonic() - result.started:.0f}s"
    )
    print(f"[demo] report: {result.report}")
    result.completed = True


def _ports(stack: DemoStack) -> list[int]:
    return [stack.checkout_port, stack.freshportal_port, stack.sidecar_port, stack.airflow.port]


def run_demo(
    seed: int = 42,
    keep_running: bool = False,
    scenario_file: str | None = None,
    *,
    distributed: DistributedSettings | None = None,
    size: Mapping[str, int] | None = None,
) -> int:
    """``cfp demo``'s exit status: 0 only if every check passed (130: interrupted before the verdict).

    The distributed run keeps its files in ``.demo/distributed/``, apart from ``make demo``'s.
    """
    home = DEMO_DIR if distributed is None else DEMO_DIR / "distributed"
    try:
        result = demo(seed, keep_running, scenario_file, distributed=distributed, size=size, home=home)
    except StackBusyError as exc:
        print(f"[demo] {exc}")
        return 2
    return result.exit_code
