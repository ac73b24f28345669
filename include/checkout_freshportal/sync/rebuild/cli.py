"""``cfp replay webhooks`` and ``cfp rebuild staging`` (docs/replay-and-rebuild.md).

The project's CLI wires these in with ``add_replay_parser(sub)`` and ``add_rebuild_parser(sub)``.
Building the parsers imports nothing heavy, so ``cfp --help`` answers at once. ``rebuild
staging`` constructs no Checkout.com client at all; ``replay webhooks`` constructs one only to
read ``GET /payments/{id}`` where the events leave a payment's status open, as the DAG does
(``--no-api``: none).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from checkout_freshportal.logsafe import json_safe, safe

_REBUILDABLE = "stg_payments, stg_payment_actions, stg_disputes, stg_financial_actions, " + (
    "stg_financial_action_payouts, stg_payouts"
)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_", required=True, help="range start, ISO 8601 (no offset: UTC)")
    p.add_argument("--to", required=True, help="range end, ISO 8601, exclusive (no offset: UTC)")
    p.add_argument("--dry-run", action="store_true", help="show what would happen; change nothing")
    p.add_argument("--json", action="store_true", help="the result as one JSON object")
    p.add_argument("--url", help="warehouse URL (default CFP_WAREHOUSE_URL); must be at head")


def add_replay_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``replay`` (with ``webhooks``) on an ``add_subparsers()`` object."""
    p = subparsers.add_parser("replay", help="apply stored raw inputs again")
    sub = p.add_subparsers(dest="replay_command", required=True)
    wh = sub.add_parser(
        "webhooks",
        help="re-apply stored webhook events of a time range through the events service",
        description="Stored raw_webhook_events of [--from, --to) through the checkout_events code "
        "path, idempotently (docs/replay-and-rebuild.md).",
    )
    _common(wh)
    wh.add_argument("--event-type", action="append", default=[], help="only this type (repeatable)")
    wh.add_argument(
        "--by",
        choices=("received", "occurred"),
        default="received",
        help="select by when the sidecar received the event (default) or when Checkout.com created it",
    )
    wh.add_argument("--no-api", action="store_true", help="never call GET /payments/{id}")
    wh.add_argument("--mapping", help="tenant status mapping file (default CFP_FRESHPORTAL_MAPPING)")
    wh.set_defaults(func=run_replay)
    return p


def add_rebuild_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``rebuild`` (with ``staging``) on an ``add_subparsers()`` object."""
    p = subparsers.add_parser("rebuild", help="rebuild derived tables from the raw layer")
    sub = p.add_subparsers(dest="rebuild_command", required=True)
    st = sub.add_parser(
        "staging",
        help="rebuild staged tables from raw API objects and report files (no Checkout.com call)",
        description="Staged rows of the raw items stored in [--from, --to), staged again through "
        "ingestion's mappers, loader and upserts (docs/replay-and-rebuild.md).",
    )
    _common(st)
    st.add_argument("--tables", help=f"comma-separated subset of: {_REBUILDABLE} (default: all)")
    st.add_argument("--settings-file", help="ingest settings file (report time zones), as for cfp ingest")
    st.set_defaults(func=run_rebuild)
    return p


def _out(line: str) -> None:
    """One line of the command's output (stdout; the logs go to stderr)."""
    sys.stdout.write(line + "\n")


def _json(value: Any) -> Any:
    """A result for ``--json``: structure kept, every leaf as ``logsafe.json_safe`` renders it."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return json_safe(value)


def _engine(prog: str, args: argparse.Namespace) -> Any:
    from checkout_freshportal.config import WAREHOUSE_ENV, warehouse_url
    from checkout_freshportal.warehouse.engine import make_engine
    from checkout_freshportal.warehouse.migrate import check_current
    from checkout_freshportal.warehouse.url_errors import reported_as_exit

    url, setting = (args.url, "--url") if args.url else (warehouse_url(), WAREHOUSE_ENV)
    with reported_as_exit(prog, url, setting):
        engine = make_engine(url)
        check_current(engine, source=setting)
    return engine


def _range(prog: str, args: argparse.Namespace) -> Any:
    from checkout_freshportal.sync.rebuild.ranges import RangeError, parse_range

    try:
        return parse_range(args.from_, args.to)
    except RangeError as exc:
        raise SystemExit(f"{prog}: {exc}") from None


def run_replay(args: argparse.Namespace) -> int:
    prog = "cfp replay webhooks"
    from checkout_freshportal.freshportal import load_mapping
    from checkout_freshportal.settings_base import SettingsError
    from checkout_freshportal.sync.events.settings import EventsSettings
    from checkout_freshportal.sync.rebuild.webhooks import replay_webhooks

    rng = _range(prog, args)
    try:  # as the checkout_events DAG reads them: CFP_EVENTS_* over CFP_EVENTS_SETTINGS_FILE
        events_settings = EventsSettings.load()
    except SettingsError as exc:
        raise SystemExit(f"{prog}: {exc}") from None
    engine = _engine(prog, args)
    checkout = None
    if not (args.no_api or args.dry_run):
        from checkout_freshportal.checkout.client import CheckoutClient
        from checkout_freshportal.config import checkout_settings_from_env

        try:
            settings = checkout_settings_from_env()
        except SystemExit as exc:
            engine.dispose()
            raise SystemExit(
                f"{prog}: {exc.code}; or pass --no-api to derive from the events alone"
            ) from None
        checkout = CheckoutClient(settings)
    try:
        result = replay_webhooks(
            engine,
            checkout,
            load_mapping(args.mapping),
            rng,
            event_types=args.event_type,
            by=args.by,
            dry_run=args.dry_run,
            settings=events_settings,
        )
    finally:
        engine.dispose()
    out = result.as_dict()
    if args.json:
        _out(json.dumps(_json(out), sort_keys=True))
    else:
        _print_replay(out)
    return 1 if result.failed or result.unmapped else 0


def _print_replay(out: dict[str, Any]) -> None:
    for note in out["notes"]:
        _out(f"note: {note}")
    head = "dry run: would replay" if out["dry_run"] else "replayed"
    _out(f"{head} {out['selected']} event(s) {out['range']['from']} .. {out['range']['to']} (by {out['by']})")
    _out(
        f"  before: {out['previously_processed']} processed, {out['previously_unprocessed']} not "
        f"({out['poison_retried']} poison, retried); {out['payments']} payment(s)"
    )
    for kind, n in out["by_type"].items():
        _out(f"  {safe(kind)}: {n}")
    if not out["dry_run"]:
        _out(f"  applied {out['applied']}, unchanged {out['unchanged']}, failed {out['failed']}")
        _out(f"  payments changed {out['payments_changed']}, outbox rows queued {out['outbox_rows']}")
        for ev in out["failed_events"]:
            _out(f"  failed {ev['event_id']}: {ev['reason']}")
        for entry in out["unmapped"]:
            _out(f"  no FreshPortal mapping: {safe(entry)}")


def run_rebuild(args: argparse.Namespace) -> int:
    prog = "cfp rebuild staging"
    from checkout_freshportal.settings_base import SettingsError
    from checkout_freshportal.sync.ingest.settings import IngestSettings
    from checkout_freshportal.sync.rebuild.staging import UnknownTableError, rebuild_staging, resolve_tables

    rng = _range(prog, args)
    names = None
    if args.tables is not None:  # an empty list (an unset shell variable) must not mean "all"
        names = [t.strip() for t in args.tables.split(",") if t.strip()]
        if not names:
            raise SystemExit(f"{prog}: --tables names no table (leave it out to rebuild every table)")
    try:
        resolve_tables(names)
        zones = IngestSettings.load(None, file=args.settings_file).time_zones()
    except (UnknownTableError, SettingsError) as exc:
        raise SystemExit(f"{prog}: {exc}") from None
    engine = _engine(prog, args)
    try:
        result = rebuild_staging(engine, rng, names, time_zones=zones, dry_run=args.dry_run)
    finally:
        engine.dispose()
    out = result.as_dict()
    if args.json:
        _out(json.dumps(_json(out), sort_keys=True))
        return 0
    for note in out["notes"]:
        _out(f"note: {note}")
    head = "dry run (rolled back)" if out["dry_run"] else "rebuilt"
    _out(f"{head}: raw items stored {out['range']['from']} .. {out['range']['to']}")
    for t in out["tables"]:
        _out(
            f"  {t['table']}: {t['selected']} selected, {t['deleted']} deleted, restaged "
            f"{t['inserted']} new / {t['updated']} updated / {t['unchanged']} unchanged; compared with "
            f"before: {t['same']} same, {t['changed']} changed, {t['added']} added, {t['removed']} removed"
        )
        if t["unmappable"]:
            _out(f"    {t['unmappable']} stored version(s) ingestion could not stage either (quarantined)")
        if t["quarantined"]:
            _out(f"    {t['quarantined']} version(s) of items still quarantined: not staged")
        if t["kept_webhook_rows"]:
            _out(f"    {t['kept_webhook_rows']} row(s) last written by a webhook kept as they are")
    return 0
