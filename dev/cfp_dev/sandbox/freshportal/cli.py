"""``cfp sandbox freshportal``: run the FreshPortal simulator in the foreground.

:func:`add_freshportal_parser` registers the sub-command on the ``cfp sandbox`` sub-parsers;
``cfp`` calls ``args.func(args)`` and exits with its return code.
"""

from __future__ import annotations

import argparse
from typing import Any

from checkout_freshportal.cli_args import int_within

from .config import DEFAULT_API_KEY, DEFAULT_PORT, FreshPortalSandboxConfig

#: Where to read the default key: printed, it would be a configured secret in the demo's logs,
#: which the leak scan (docs/security.md) requires to hold none, made-up ones included.
_DEFAULT_KEY_WHERE = "the default (DEFAULT_API_KEY in cfp_dev/sandbox/freshportal/config.py)"


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("a share must be within 0..1")
    return value


def add_freshportal_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``freshportal`` on an ``add_subparsers()`` object; sets ``func=run_freshportal_sandbox``."""
    p = subparsers.add_parser(
        "freshportal",
        help="run the FreshPortal simulator (orders, refund requests, notes, export)",
        description="FreshPortal simulator on loopback. Admin endpoints: /_sandbox/state, /_sandbox/orders, "
        "/_sandbox/refund-requests, /_sandbox/faults, /_sandbox/tokens/expire (no auth).",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int_within(0, 65_535), default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    p.add_argument("--seed", type=int, default=42, help="seed of the generated orders and of the faults")
    p.add_argument("--scenario", help="JSON/YAML scenario with 'orders' (top level or under 'freshportal')")
    p.add_argument("--orders", type=int, default=40, dest="order_count", help="generated orders (default 40)")
    p.add_argument("--days", type=int, default=14, help="history spread of generated orders in days")
    p.add_argument("--now", help="end of the generated history (ISO 8601, default: now)")
    p.add_argument("--tenant", default="fp042100")
    p.add_argument("--api-key", action="append", dest="api_keys", help="accepted API key (repeatable)")
    p.add_argument("--token-ttl", type=float, default=3600.0, help="token lifetime in seconds")
    p.add_argument(
        "--export-url-ttl", type=float, default=600.0, help="signed export URL lifetime in seconds"
    )
    p.add_argument("--amount-format", choices=("major_decimal", "minor_int"), default="major_decimal")
    p.add_argument("--fault-429", type=_share, default=0.0, help="share of requests answered 429")
    p.add_argument("--fault-500", type=_share, default=0.0, help="share of requests answered 500")
    p.add_argument(
        "--fault-slow", type=_share, default=0.0, help="share of requests delayed by --slow-seconds"
    )
    p.add_argument(
        "--fault-500-after-commit",
        type=_share,
        default=0.0,
        help="share of writes stored and then answered 500",
    )
    p.add_argument("--slow-seconds", type=float, default=2.0)
    p.add_argument("--fault-seed", type=int, help="seed of the fault draws (default: --seed)")
    p.add_argument("--log-level", default="info")
    p.set_defaults(func=run_freshportal_sandbox)
    return p


def config_from_args(args: argparse.Namespace) -> FreshPortalSandboxConfig:
    options = {
        "seed": args.seed,
        "order_count": args.order_count,
        "days": args.days,
        "now": args.now,
        "tenant": args.tenant,
        "api_keys": args.api_keys or [DEFAULT_API_KEY],
        "token_ttl_seconds": args.token_ttl,
        "export_url_ttl_seconds": args.export_url_ttl,
        "amount_format": args.amount_format,
        "fault_429_share": args.fault_429,
        "fault_500_share": args.fault_500,
        "fault_slow_share": args.fault_slow,
        "fault_500_after_commit_share": args.fault_500_after_commit,
        "slow_seconds": args.slow_seconds,
        "fault_seed": args.fault_seed,
    }
    if args.scenario:
        if args.now is None:
            options.pop("now")  # the scenario's own "now" (if any) applies
        return FreshPortalSandboxConfig.from_scenario(args.scenario, **options)
    return FreshPortalSandboxConfig(**options)


def run_freshportal_sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app

    config = config_from_args(args)
    app = create_app(config)
    state = app.state.sandbox
    print(  # noqa: T201 - the CLI's own output
        f"FreshPortal sandbox for tenant {config.tenant} on http://{args.host}:{args.port} "
        f"({len(state.orders)} orders, {len(state.refunds)} refund requests); "
        f"admin at /_sandbox/state; API key: {'(custom)' if args.api_keys else _DEFAULT_KEY_WHERE}",
        flush=True,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    return 0
