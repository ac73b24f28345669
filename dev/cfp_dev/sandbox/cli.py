"""``cfp sandbox checkout ...``: run the Checkout.com sandbox in the foreground.

The project's CLI wires this in with::

    sandbox = subparsers.add_parser("sandbox").add_subparsers(dest="sandbox_command", required=True)
    add_checkout_parser(sandbox)
    ...
    return args.func(args)

It also runs on its own: ``python -m cfp_dev.sandbox.cli checkout --port 8790``.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from checkout_freshportal.cli_args import int_within

DEFAULT_PORT = 8790


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a share must be within 0..1, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _add_key_options(p: argparse.ArgumentParser) -> None:
    """Credentials of the user's choosing, so any client (the official SDKs too) can be pointed
    at the sandbox; each replaces its default."""
    p.add_argument(
        "--secret-key",
        default=None,
        metavar="KEY",
        help="accept this secret key instead of the default one (format sk_sbox_ + 27 chars)",
    )
    p.add_argument(
        "--public-key", default=None, metavar="KEY", help="public key to hand to clients (pk_sbox_...)"
    )
    p.add_argument(
        "--oauth-client-id", default=None, metavar="ID", help="OAuth client id instead of the default"
    )
    p.add_argument(
        "--oauth-client-secret", default=None, metavar="SECRET", help="secret of --oauth-client-id"
    )


def add_checkout_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``checkout`` on an ``add_subparsers()`` object; sets ``func=run_checkout``."""
    p = subparsers.add_parser(
        "checkout",
        help="run the Checkout.com sandbox (HTTP, foreground)",
        description="Simulated Checkout.com API with seeded history; see docs/sandbox.md.",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int_within(0, 65_535),
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0 = any free)",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--seed", type=int, default=None, help="seed of the generated history (default 42)")
    source.add_argument("--scenario", metavar="FILE", default=None, help="load a scenario file instead")
    p.add_argument("--days", type=int, default=None, help="days of generated history (default 14)")
    p.add_argument(
        "--payments-per-day", type=int, default=None, help="generated payments per day (default 40)"
    )
    p.add_argument("--now", default=None, help="end of history / clock start, ISO 8601 (default: now)")
    _add_key_options(p)
    p.add_argument(
        "--timestamp-style",
        choices=("z", "offset_ms", "mixed"),
        default="mixed",
        help="timestamps end in Z, in +00:00 with milliseconds, or both (default mixed)",
    )
    p.add_argument("--fault-429", type=_share, default=0.0, metavar="SHARE", help="share of injected 429s")
    p.add_argument("--fault-500", type=_share, default=0.0, metavar="SHARE", help="share of injected 500s")
    p.add_argument("--fault-slow", type=_share, default=0.0, metavar="SHARE", help="share of slow answers")
    p.add_argument("--slow-seconds", type=float, default=2.0, help="delay of a slow answer (default 2)")
    p.add_argument(
        "--lag", type=float, default=0.0, metavar="SECONDS", help="list/search/report visibility lag"
    )
    p.add_argument(
        "--clock-speed", type=_positive, default=1.0, metavar="X", help="simulated seconds per second"
    )
    p.add_argument(
        "--action-delay",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="delay before a 202 capture/refund/void lands (simulated seconds, default 2)",
    )
    p.add_argument("--no-search-next-links", action="store_true", help="search pages without _links.next")
    p.add_argument(
        "--search-actions",
        choices=("full", "summary"),
        default="full",
        help="actions embedded in search items (default full)",
    )
    p.add_argument("--read-rps", type=int, default=100, help="read rate limit per second (<=0: none)")
    p.add_argument("--write-rps", type=int, default=100, help="write rate limit per second (<=0: none)")
    p.add_argument("--fee-sign", type=int, choices=(1, -1), default=1, help="sign of fee breakdown lines")
    p.add_argument("--webhook-duplicate", type=_share, default=0.0, metavar="SHARE")
    p.add_argument("--webhook-reorder", type=_share, default=0.0, metavar="SHARE")
    p.add_argument("--webhook-drop", type=_share, default=0.0, metavar="SHARE")
    p.add_argument("--webhook-delay", type=float, default=0.0, metavar="SECONDS")
    p.add_argument(
        "--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug")
    )
    p.set_defaults(func=run_checkout)
    return p


def _credentials(args: argparse.Namespace) -> dict[str, Any]:
    """Config fields for the key options; an option left out keeps the default credential."""
    from cfp_dev.sandbox.checkout.config import (
        DEFAULT_OAUTH_CLIENT_ID,
        DEFAULT_OAUTH_CLIENT_SECRET,
        oauth_client,
    )

    out: dict[str, Any] = {}
    if args.secret_key is not None:
        out["secret_keys"] = [args.secret_key]
    if args.public_key is not None:
        out["public_keys"] = [args.public_key]
    if args.oauth_client_id is not None or args.oauth_client_secret is not None:
        if args.oauth_client_id is not None and args.oauth_client_secret is None:
            raise ValueError("--oauth-client-id needs --oauth-client-secret")
        client_id = args.oauth_client_id or DEFAULT_OAUTH_CLIENT_ID
        out["oauth_clients"] = oauth_client(
            client_id, args.oauth_client_secret or DEFAULT_OAUTH_CLIENT_SECRET
        )
    return out


def config_from_args(args: argparse.Namespace) -> Any:
    from cfp_dev.sandbox.checkout import SandboxConfig

    kwargs: dict[str, Any] = {
        **_credentials(args),
        "timestamp_style": args.timestamp_style,
        "scenario_path": args.scenario,
        "now": args.now,
        "fault_429_share": args.fault_429,
        "fault_500_share": args.fault_500,
        "fault_slow_share": args.fault_slow,
        "slow_seconds": args.slow_seconds,
        "list_lag_seconds": args.lag,
        "clock_speed": args.clock_speed,
        "action_delay_seconds": args.action_delay,
        "search_next_links": not args.no_search_next_links,
        "search_actions": args.search_actions,
        "read_rps": args.read_rps,
        "write_rps": args.write_rps,
        "fee_sign": args.fee_sign,
        "webhook_duplicate_share": args.webhook_duplicate,
        "webhook_reorder_share": args.webhook_reorder,
        "webhook_drop_share": args.webhook_drop,
        "webhook_delay_seconds": args.webhook_delay,
    }
    for name in ("seed", "days", "payments_per_day"):
        if getattr(args, name) is not None:
            kwargs[name] = getattr(args, name)
    return SandboxConfig(**kwargs)


def run_checkout(args: argparse.Namespace) -> int:
    """Build the world and serve until Ctrl-C; returns the process exit code."""
    import uvicorn

    from cfp_dev.sandbox.checkout import DEFAULT_SECRET_KEY, ScenarioError, create_app

    try:
        config = config_from_args(args)
    except (ValueError, ScenarioError) as exc:
        sys.stderr.write(f"cfp sandbox checkout: {exc}\n")
        return 2
    host = args.host
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, args.port))  # bound first, so --port 0 knows its port for the links
    except OSError as exc:
        sock.close()
        sys.stderr.write(f"cfp sandbox checkout: cannot listen on {host}:{args.port}: {exc.strerror}\n")
        return 2
    port = sock.getsockname()[1]
    base = f"http://{host}:{port}"
    try:
        app = create_app(config, base_url=base)
    except ScenarioError as exc:
        sock.close()
        sys.stderr.write(f"{exc}\n")
        return 2
    world = app.state.sandbox.world
    key = config.secret_keys[0]
    which = "the default sandbox key: DEFAULT_SECRET_KEY in cfp_dev.sandbox.checkout"
    if key != DEFAULT_SECRET_KEY:
        which = "from --secret-key"
    client_id = next(iter(config.oauth_clients))
    sys.stderr.write(
        f"Checkout.com sandbox on {base}  ({len(world.payments)} payments, {len(world.reports)} reports)\n"
        f"  secret key   {key[:12]}... ({which})\n"
        f"  public key   {config.public_keys[0][:12]}...\n"
        f"  OAuth client {client_id} -> {base}/connect/token\n"
        f"  admin        {base}/_sandbox/summary  (docs: {base}/_sandbox/docs)\n"
    )
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=args.log_level, access_log=args.log_level == "debug", lifespan="on")
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cfp_dev.sandbox.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_checkout_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
