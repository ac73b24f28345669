"""The ``cfp`` sub-commands this package adds: ``cfp sandbox checkout|freshportal`` and ``cfp demo``.

``cfp demo --distributed`` (``make up-distributed``) runs the demo on the docker-compose topology
as plain processes (docs/distributed.md).

Registered through the ``checkout_freshportal.cli`` entry-point group (dev/pyproject.toml), so
the product CLI knows nothing of them and offers them only where this package is installed.
"""

from __future__ import annotations

import argparse
from typing import Any

from checkout_freshportal.cli_args import int_within


def add_sandbox_parser(sub: Any) -> None:
    sandbox = sub.add_parser("sandbox", help="run a simulator of an external API")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    from cfp_dev.sandbox.cli import add_checkout_parser
    from cfp_dev.sandbox.freshportal.cli import add_freshportal_parser

    add_checkout_parser(sandbox_sub)
    add_freshportal_parser(sandbox_sub)


def _cmd_demo(args: argparse.Namespace) -> int:
    from cfp_dev.demo.run import run_demo

    size = {
        name: value
        for name, value in (
            ("days", args.days),
            ("payments_per_day", args.payments_per_day),
            ("open_orders", args.open_orders),
        )
        if value is not None
    }
    distributed = None
    if args.distributed:
        from cfp_dev.distributed.settings import DistributedSettings, UnsafeResetError

        distributed = DistributedSettings.from_env()
        try:
            distributed.guard()
        except UnsafeResetError as exc:
            print(f"[demo] {exc}")  # noqa: T201 - CLI output
            return 2
        reason = distributed.unreachable()
        if reason is not None:
            print(f"[demo] --distributed needs PostgreSQL and Redis: {reason}")  # noqa: T201 - CLI output
            return 2
    if args.scenario is not None:
        from cfp_dev.sandbox.shared_scenario_check import read_scenario

        try:  # checked before anything starts (the demo reads it again, moved to the wall clock)
            read_scenario(args.scenario)
        except ValueError as exc:
            print(f"[demo] --scenario {exc}")  # noqa: T201 - CLI output
            return 2
    return run_demo(
        seed=args.seed,
        keep_running=args.keep_running,
        scenario_file=args.scenario,
        distributed=distributed,
        size=size,
    )


def add_demo_parser(sub: Any) -> None:
    demo = sub.add_parser("demo", help="end-to-end demo: sandboxes -> Airflow -> warehouse -> FreshPortal")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--keep-running", action="store_true", help="leave Airflow and the sandboxes up")
    demo.add_argument(
        "--scenario",
        metavar="FILE",
        help="a shared scenario file to run instead of the generated one (moved to the wall clock), "
        "e.g. examples/scenarios/reconciliation-anomalies.json",
    )
    demo.add_argument(
        "--distributed",
        action="store_true",
        help="Airflow on the CeleryExecutor as separate processes with two workers, PostgreSQL "
        "metadata and warehouse, Redis broker (docs/distributed.md)",
    )
    demo.add_argument(
        "--days", type=int_within(1, 365), help="days of Checkout.com history in the generated scenario (14)"
    )
    demo.add_argument(
        "--payments-per-day",
        type=int_within(1, 10_000),
        help="payments per day in the generated scenario (40)",
    )
    demo.add_argument(
        "--open-orders", type=int_within(0, 10_000), help="open orders awaiting payment links (40)"
    )
    demo.set_defaults(func=_cmd_demo)
