"""``cfp``: the command line of the integration (warehouse, ingestion and its quarantine, sidecar,
the money movements' intents).

Imports are lazy per sub-command so ``cfp --help`` answers at once. Other installed packages add
sub-commands through the ``checkout_freshportal.cli`` entry-point group: the development package
(dev/) adds ``sandbox`` and ``demo``, so a production install has neither.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from checkout_freshportal.logsafe import safe


def _warehouse(args: argparse.Namespace) -> tuple[str, str]:
    """The URL to use and the setting it came from (named when it turns out malformed or unreachable)."""
    from checkout_freshportal.config import WAREHOUSE_ENV, warehouse_url

    return (args.url, "--url") if args.url else (warehouse_url(), WAREHOUSE_ENV)


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    """The deploy step: the only command (besides ``sidecar serve --upgrade``) that migrates."""
    from alembic.util.exc import CommandError

    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import current_revision, head_revision, upgrade
    from checkout_freshportal.warehouse.url_errors import reported_as_exit

    url, setting = _warehouse(args)
    with reported_as_exit("cfp db upgrade", url, setting):
        engine = make_engine(url)
        try:
            try:
                upgrade(engine, args.revision)
            except CommandError as exc:  # an unknown revision: said, not a traceback
                raise SystemExit(
                    f"cfp db upgrade: {safe(str(exc))} (this release's head is {head_revision()})"
                ) from None
            where = engine.url.render_as_string(hide_password=True)
            print(f"warehouse at revision {current_revision(engine)} ({where})")
        finally:
            engine.dispose()
    return 0


def _cmd_db_current(args: argparse.Namespace) -> int:
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import current_revision, sqlite_file_missing
    from checkout_freshportal.warehouse.url_errors import reported_as_exit

    url, setting = _warehouse(args)
    with reported_as_exit("cfp db current", url, setting):
        engine = make_engine(url)  # does not connect
        try:
            if sqlite_file_missing(engine):
                # Asking must not create: connecting would leave an empty database file behind.
                where = Path(engine.url.database or "").expanduser()
                print(
                    f"cfp db current: no warehouse at {where} (create it with `cfp db upgrade`)",
                    file=sys.stderr,
                )
                return 1
            print(current_revision(engine) or "(empty)")
        finally:
            engine.dispose()
    return 0


def _ingest_settings(args: argparse.Namespace) -> Any:
    """``--settings`` JSON over ``CFP_INGEST_*`` over ``--settings-file`` (docs/settings.md)."""
    from checkout_freshportal.settings_base import SettingsError
    from checkout_freshportal.sync.ingest.settings import IngestSettings

    try:
        overrides = json.loads(args.settings) if args.settings else None
        if overrides is not None and not isinstance(overrides, dict):
            raise SystemExit("cfp ingest: --settings must be a JSON object")
        return IngestSettings.load(overrides, file=args.settings_file)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"cfp ingest: --settings is not JSON ({exc.msg} at character {exc.pos})") from None
    except SettingsError as exc:
        raise SystemExit(f"cfp ingest: {exc}") from None


def _cmd_ingest(args: argparse.Namespace) -> int:
    from checkout_freshportal.checkout.client import CheckoutClient
    from checkout_freshportal.config import checkout_settings_from_env
    from checkout_freshportal.sync.ingest import service as ingest
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import check_current
    from checkout_freshportal.warehouse.url_errors import reported_as_exit

    try:  # a bad or empty backfill window is the caller's to fix: said first, not a traceback
        window = ingest.Window.parse(args.from_, args.to) if (args.from_ or args.to) else None
    except ValueError as exc:
        raise SystemExit(f"cfp ingest: --from/--to: {safe(str(exc))}") from None
    url, setting = _warehouse(args)
    # Only the connection and the schema check: an error during the run itself is not the URL's.
    with reported_as_exit("cfp ingest", url, setting):
        engine = make_engine(url)
        check_current(engine, source=setting)
    settings = _ingest_settings(args)
    client = CheckoutClient(checkout_settings_from_env())
    try:
        out = ingest.run_all(client, engine, settings, window=window, run_id="cli")
    except ingest.QuarantinedItemsError as exc:
        # Everything else landed: show what did, then fail naming what did not (exit status 1).
        print(json.dumps(exc.results, indent=2, default=str))
        raise SystemExit(f"cfp ingest: {exc}") from None
    print(json.dumps(out, indent=2, default=str))
    return 0


#: Entry-point group of packages that add ``cfp`` sub-commands: each entry is a callable that
#: takes the sub-parsers object and registers its commands there.
PLUGIN_GROUP = "checkout_freshportal.cli"


def _add_plugins(sub: Any) -> None:
    for entry in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        entry.load()(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cfp", description="Checkout.com <-> FreshPortal payment sync")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="warehouse schema").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply migrations (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    up.add_argument("--url", help="SQLAlchemy URL (default: CFP_WAREHOUSE_URL, which is then required)")
    up.set_defaults(func=_cmd_db_upgrade)
    cur = db.add_parser("current", help="show the applied revision")
    cur.add_argument("--url", help="SQLAlchemy URL (default: CFP_WAREHOUSE_URL)")
    cur.set_defaults(func=_cmd_db_current)

    from checkout_freshportal.sidecar.cli import add_sidecar_parser

    add_sidecar_parser(sub)

    ing = sub.add_parser("ingest", help="run the Checkout.com ingestion once, outside Airflow")
    ing.add_argument("--from", dest="from_", help="backfill window start (ISO 8601); watermarks stay put")
    ing.add_argument("--to", help="backfill window end (ISO 8601)")
    ing.add_argument(
        "--url", help="warehouse URL (default CFP_WAREHOUSE_URL); must be at head (cfp db upgrade)"
    )
    ing.add_argument("--settings", help="JSON of ingest settings, e.g. '{\"rewalk_days\": 1}'")
    ing.add_argument("--settings-file", help="JSON or YAML file of ingest settings (--settings wins)")
    ing.set_defaults(func=_cmd_ingest)

    from checkout_freshportal.sync.ingest.quarantine_cli import add_quarantine_parser

    add_quarantine_parser(sub)

    from checkout_freshportal.sync.intents.cli import add_intents_parser

    add_intents_parser(sub)

    from checkout_freshportal.reconcile.cli import add_reconcile_parser

    add_reconcile_parser(sub)

    from checkout_freshportal.reports.trace_cli import add_trace_parser

    add_trace_parser(sub)

    from checkout_freshportal.reports.cli import add_report_parser

    add_report_parser(sub)

    from checkout_freshportal.sync.rebuild.cli import add_rebuild_parser, add_replay_parser

    add_replay_parser(sub)
    add_rebuild_parser(sub)

    _add_plugins(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    _refuse_non_utf8(argv)
    args = build_parser().parse_args(argv)
    from checkout_freshportal.observability import configure_logging
    from checkout_freshportal.settings_base import SettingsError

    try:  # CFP_LOG_FORMAT (json by default) and CFP_LOG_LEVEL; docs/observability.md
        configure_logging(level="debug" if args.verbose else None)
    except SettingsError as exc:
        sys.exit(f"cfp: {exc}")
    if args.verbose:
        logging.getLogger("alembic").setLevel(logging.NOTSET)
    from checkout_freshportal.config import WarehouseNotConfiguredError
    from checkout_freshportal.warehouse.migrate import SchemaNotCurrentError

    try:
        status = args.func(args)
    except (WarehouseNotConfiguredError, SchemaNotCurrentError) as exc:
        # Configuration, not a bug: the message says what to do, a traceback would bury it.
        sys.exit(f"cfp {args.command}: {exc}")
    sys.exit(status)


def _refuse_non_utf8(argv: Sequence[str]) -> None:
    """Exit 2 (a usage error, as argparse's) on an argument that is not UTF-8: order numbers,
    notes, run ids and folders are text the warehouse stores or compares as UTF-8, and such an
    argument failed deep inside a command (``cfp report --out`` after writing the report)."""
    from checkout_freshportal.logsafe import is_utf8, safe

    for arg in argv:
        if not is_utf8(arg):
            sys.stderr.write(
                f"cfp: error: argument {safe(arg, 200)} is not UTF-8 text (the bytes shown as \\udcXX "
                "are not); give it in UTF-8\n"
            )
            sys.exit(2)


if __name__ == "__main__":
    main()
