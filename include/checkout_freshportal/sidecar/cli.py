"""``cfp sidecar serve`` and ``cfp sidecar poison``.

The project's CLI wires this in with ``add_sidecar_parser(sub)`` (``sub`` being the object
``add_subparsers()`` returned) and calls ``args.func(args)``. It also runs on its own:
``python -m checkout_freshportal.sidecar serve --port 8795``. Nothing here imports Airflow.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from checkout_freshportal.cli_args import int_within, row_limit

from .logsafe import safe

DEFAULT_PORT = 8795

log = logging.getLogger("checkout_freshportal.sidecar")


def add_sidecar_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sidecar`` (with ``serve`` and ``poison``) on an ``add_subparsers()`` object."""
    p = subparsers.add_parser(
        "sidecar",
        help="webhook receiver for Checkout.com (its own process)",
        description="Webhook sidecar; settings from CFP_* environment variables (docs/sidecar.md).",
    )
    add_commands(p.add_subparsers(dest="sidecar_command", required=True))
    return p


def add_commands(sub: Any) -> None:
    """``serve`` and ``poison`` on ``sub`` (under ``cfp sidecar``, or top level for ``-m``)."""
    serve = sub.add_parser("serve", help="receive webhooks and trigger the checkout_events DAG")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument(
        "--port", type=int_within(1, 65_535), default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--workers",
        type=int_within(1, 64),
        default=1,
        help="worker processes (default 1, at most 64; one trigger loop leads)",
    )
    serve.add_argument(
        "--upgrade",
        action="store_true",
        help="migrate the warehouse to head at start (demo, development); default: check it only",
    )
    # The former opt-out: checking without migrating is now the default, so it changes nothing.
    serve.add_argument("--no-upgrade", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs throughput)"
    )
    serve.add_argument(
        "--log-level",
        default=None,
        choices=["debug", "info", "warning", "error"],
        help="default CFP_LOG_LEVEL (info); the format is CFP_LOG_FORMAT (json or text)",
    )
    # uvicorn has no header-read timeout (docs/sidecar.md, "Slow clients"): these two bound what
    # slow or idle clients can hold; the header timeout itself belongs to the proxy in front.
    serve.add_argument(
        "--timeout-keep-alive",
        type=int,
        default=5,
        metavar="SECONDS",
        help="close an idle kept-alive connection after this long (default 5)",
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="per worker: answer 503 beyond N open connections and requests (default: no limit)",
    )
    serve.set_defaults(func=run_serve)

    poison = sub.add_parser("poison", help="list (masked) or acknowledge poison webhook events")
    poison.add_argument("--url", help="warehouse URL (default CFP_WAREHOUSE_URL)")
    poison.add_argument("--all", action="store_true", help="include acknowledged ones")
    poison.add_argument("--limit", type=row_limit, default=100)
    poison.add_argument("--preview", action="store_true", help="show a masked, truncated body preview")
    poison.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    poison.add_argument(
        "--ack", nargs="+", metavar="EVENT_ID", help="acknowledge these events (sets processed_at)"
    )
    poison.set_defaults(func=run_poison)


def _settings() -> Any:
    from checkout_freshportal.config import WarehouseNotConfiguredError

    from .settings import SidecarSettings, SidecarSettingsError

    try:
        return SidecarSettings.from_env()
    except (SidecarSettingsError, WarehouseNotConfiguredError) as exc:
        raise SystemExit(f"cfp sidecar: {exc}") from None


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    log_settings = _log_settings()
    level = args.log_level or log_settings.level
    _prepare_schema(settings.warehouse_url, upgrade=args.upgrade and not args.no_upgrade)
    common: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "access_log": args.access_log,
        "log_level": level,
        "lifespan": "on",
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        "timeout_keep_alive": args.timeout_keep_alive,
        "limit_concurrency": args.limit_concurrency,
        "log_config": _log_config(level, log_settings.format),
    }
    log.info(
        "sidecar on http://%s:%d (workers=%d, keys=%d, authorization=%s, trigger=%s)",
        args.host,
        args.port,
        args.workers,
        len(settings.signature_keys),
        "on" if settings.authorization else "off",
        "on" if settings.trigger_enabled else "off",
    )
    if args.workers > 1:
        from .orphans import SUPERVISOR_PID_ENV

        # Read by every worker (spawned, so it inherits the environment): a worker whose
        # supervisor is SIGKILLed stops instead of serving the port as an orphan (orphans.py).
        os.environ[SUPERVISOR_PID_ENV] = str(os.getpid())
        uvicorn.run(
            "checkout_freshportal.sidecar.app:create_app_from_env",
            factory=True,
            workers=args.workers,
            **common,
        )
    else:
        from .app import SidecarApp

        uvicorn.run(SidecarApp(settings), **common)
    return 0


def _prepare_schema(url: str, *, upgrade: bool) -> None:
    """Refuse to start on a warehouse that is not at head, unless told to migrate it.

    The sidecar is a long-running service, restarted and scaled on its own schedule: migrating
    at start would change the schema whenever a replica happens to restart, under live traffic,
    racing the deployment's own ``cfp db upgrade``. Like the Airflow tasks it checks and stops
    with what to run; ``--upgrade`` is for the embedded demo and development only.
    """
    from checkout_freshportal.config import WAREHOUSE_ENV
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import SchemaNotCurrentError, check_current
    from checkout_freshportal.warehouse.migrate import upgrade as migrate
    from checkout_freshportal.warehouse.url_errors import WAREHOUSE_URL_ERRORS, reported_as_exit, shown_url

    with reported_as_exit("cfp sidecar", url, WAREHOUSE_ENV):
        engine = make_engine(url)
        try:
            if upgrade:
                migrate(engine)
            else:
                check_current(engine, source=WAREHOUSE_ENV)
        except SchemaNotCurrentError as exc:
            raise SystemExit(f"cfp sidecar: {exc}") from None
        except Exception as exc:
            if isinstance(exc, WAREHOUSE_URL_ERRORS):
                raise  # the URL's problem: reported_as_exit names the setting
            doing = "migrate" if upgrade else "check the schema of"
            raise SystemExit(
                f"cfp sidecar: cannot {doing} the warehouse ({shown_url(url)}): {type(exc).__name__}: "
                f"{safe(exc, 300)}"
            ) from None
        finally:
            engine.dispose()


def _log_settings() -> Any:
    from checkout_freshportal.observability.settings import LogSettings
    from checkout_freshportal.settings_base import SettingsError

    try:
        return LogSettings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"cfp sidecar: {exc}") from None


def _log_config(level: str, fmt: str = "json") -> dict[str, Any]:
    """uvicorn's logging plus the sidecar's own loggers, applied in every worker process.

    With ``--workers N`` the workers are fresh processes: without this their warnings (a failed
    commit, Airflow down) would only reach Python's last-resort handler. uvicorn's own lines
    (errors, the access log) go through the same handler: one format, masked, per process
    (docs/observability.md).
    """
    import copy

    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["handlers"]["cfp"] = {"()": "checkout_freshportal.observability.logs.make_handler", "fmt": fmt}
    cfg["loggers"]["uvicorn"]["handlers"] = ["cfp"]
    cfg["loggers"]["uvicorn.access"]["handlers"] = ["cfp"]
    cfg["loggers"]["checkout_freshportal"] = {"handlers": ["cfp"], "level": level.upper(), "propagate": False}
    cfg["loggers"]["alembic"] = {"level": "WARNING"}
    return cfg


def run_poison(args: argparse.Namespace) -> int:
    from checkout_freshportal.config import WAREHOUSE_ENV, WarehouseNotConfiguredError, warehouse_url
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.url_errors import reported_as_exit

    from .poison import acknowledge, list_poison

    try:
        url, setting = (args.url, "--url") if args.url else (warehouse_url(), WAREHOUSE_ENV)
    except WarehouseNotConfiguredError as exc:
        raise SystemExit(f"cfp sidecar poison: {exc}") from None
    with reported_as_exit("cfp sidecar poison", url, setting):
        engine = make_engine(url)
        try:
            if args.ack:
                with engine.begin() as conn:
                    n = acknowledge(conn, args.ack)
                _out(f"acknowledged {n} of {len(args.ack)} poison event(s)")
                return 0 if n == len(args.ack) else 1
            with engine.connect() as conn:
                events = list_poison(
                    conn, include_acknowledged=args.all, limit=args.limit, preview=args.preview
                )
        finally:
            engine.dispose()
    if args.json:
        for e in events:
            _out(json.dumps(e.as_json(), ensure_ascii=False))
        return 0
    if not events:
        _out("no poison events" + ("" if args.all else " awaiting acknowledgement"))
        return 0
    for e in events:
        ack = f"  acknowledged {e.acknowledged_at:%Y-%m-%d %H:%M:%S}" if e.acknowledged_at else ""
        # ids and reasons of rows stored before ids were validated may hold anything
        when = f"{e.received_at:%Y-%m-%d %H:%M:%S}Z"
        _out(f"{when}  {safe(e.event_id)}  {e.size_bytes} B  {safe(e.reason, 200)}{ack}")
        if e.preview is not None:
            _out(f"    {e.preview}")
    return 0


def _out(line: str) -> None:
    """Command output goes to stdout (logs go to stderr)."""
    sys.stdout.write(line + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m checkout_freshportal.sidecar")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    from checkout_freshportal.observability import configure_logging

    _log_settings()  # a refused CFP_LOG_* value: a one-line exit, not a traceback
    configure_logging()
    sys.exit(args.func(args))
