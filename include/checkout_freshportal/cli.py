"""``cfp``: the command line of the integration (warehouse, sandboxes, ingestion, demo).

Imports are lazy per sub-command so ``cfp --help`` answers at once and the sandbox does not load
the warehouse or Airflow.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from checkout_freshportal.config import warehouse_url
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import current_revision, upgrade

    engine = make_engine(args.url or warehouse_url())
    upgrade(engine, args.revision)
    where = engine.url.render_as_string(hide_password=True)
    print(f"warehouse at revision {current_revision(engine)} ({where})")
    return 0


def _cmd_db_current(args: argparse.Namespace) -> int:
    from checkout_freshportal.config import warehouse_url
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import current_revision

    print(current_revision(make_engine(args.url or warehouse_url())) or "(empty)")
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    from checkout_freshportal.checkout.client import CheckoutClient
    from checkout_freshportal.config import checkout_settings_from_env, warehouse_url
    from checkout_freshportal.sync import ingest
    from checkout_freshportal.sync.ingest_settings import IngestSettings
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import upgrade

    engine = make_engine(args.url or warehouse_url())
    upgrade(engine)
    window = ingest.Window.parse(args.from_, args.to) if (args.from_ or args.to) else None
    settings = IngestSettings.from_mapping(json.loads(args.settings) if args.settings else None)
    client = CheckoutClient(checkout_settings_from_env())
    out = ingest.run_all(client, engine, settings, window=window, run_id="cli")
    print(json.dumps(out, indent=2, default=str))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from checkout_freshportal.demo import run_demo

    return run_demo(seed=args.seed, keep_running=args.keep_running)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cfp", description="Checkout.com <-> FreshPortal payment sync")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="warehouse schema").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="apply migrations (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    up.add_argument("--url", help="SQLAlchemy URL (default: CFP_WAREHOUSE_URL or the embedded SQLite file)")
    up.set_defaults(func=_cmd_db_upgrade)
    cur = db.add_parser("current", help="show the applied revision")
    cur.add_argument("--url")
    cur.set_defaults(func=_cmd_db_current)

    sandbox = sub.add_parser("sandbox", help="run a simulator of an external API")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    from checkout_freshportal.sandbox.cli import add_checkout_parser
    from checkout_freshportal.sandbox.freshportal.cli import add_freshportal_parser

    add_checkout_parser(sandbox_sub)
    add_freshportal_parser(sandbox_sub)

    from checkout_freshportal.sidecar.cli import add_sidecar_parser

    add_sidecar_parser(sub)

    ing = sub.add_parser("ingest", help="run the Checkout.com ingestion once, outside Airflow")
    ing.add_argument("--from", dest="from_", help="backfill window start (ISO 8601); watermarks stay put")
    ing.add_argument("--to", help="backfill window end (ISO 8601)")
    ing.add_argument("--url", help="warehouse URL")
    ing.add_argument("--settings", help="JSON of ingest settings, e.g. '{\"rewalk_days\": 1}'")
    ing.set_defaults(func=_cmd_ingest)

    demo = sub.add_parser("demo", help="end-to-end demo: sandbox -> Airflow -> warehouse")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--keep-running", action="store_true", help="leave Airflow and the sandbox up")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)
    sys.exit(args.func(args))


if __name__ == "__main__":
    main()
