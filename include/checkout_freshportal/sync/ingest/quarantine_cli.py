"""``cfp quarantine list`` and ``cfp quarantine requeue``: what ingestion could not read.

The project's CLI wires this in with ``add_quarantine_parser(sub)`` and calls ``args.func(args)``.
Both commands only read and write ``ops_quarantine`` (SQLite or PostgreSQL); a re-queued item is
retried by the next ``checkout_ingest`` run (docs/runbook-ingest.md#quarantine). Ids and reasons
came from an API or a file, so they are printed escaped; a payload is printed with e-mail
addresses and card-number-like digits masked (it stays verbatim in the warehouse).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from checkout_freshportal.cli_args import row_limit
from checkout_freshportal.logsafe import mask_text, safe, safe_masked

COMMAND = "cfp quarantine"
# Spelled out here (and checked against the modules' own lists when a command runs): building
# the parser must not import SQLAlchemy, so that `cfp --help` answers at once.
_SOURCES = "checkout.payments, checkout.disputes, checkout.reports, checkout.report_files"
_STATES = "quarantined, parked, requeued, resolved"


def add_quarantine_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``quarantine`` (with ``list`` and ``requeue``) on an ``add_subparsers()`` object."""
    p = subparsers.add_parser(
        "quarantine",
        help="list or re-queue what ingestion could not read",
        description="Items of checkout_ingest kept aside (docs/runbook-ingest.md#quarantine).",
    )
    sub = p.add_subparsers(dest="quarantine_command", required=True)

    ls = sub.add_parser("list", help="quarantined items, newest failure first")
    ls.add_argument("--source", help=f"only this source ({_SOURCES})")
    ls.add_argument(
        "--state",
        action="append",
        help=f"only this state ({_STATES}; repeatable; default: every state but resolved)",
    )
    ls.add_argument("--all", action="store_true", help="resolved items too")
    ls.add_argument("--limit", type=row_limit, default=200)
    ls.add_argument(
        "--json",
        action="store_true",
        help="JSON lines (with the stored payload, e-mails and card numbers masked) instead of a table",
    )
    ls.add_argument("--url", help="warehouse URL (default CFP_WAREHOUSE_URL)")
    ls.set_defaults(func=run_list)

    rq = sub.add_parser("requeue", help="have the next run retry items, parked ones included")
    rq.add_argument("source", nargs="?", help=f"the item's source ({_SOURCES})")
    rq.add_argument("item_id", nargs="?", help="the item's id (as `list` shows it)")
    rq.add_argument("--all", action="store_true", help="every open item (of SOURCE, if given)")
    rq.add_argument("--source", dest="only_source", help="with --all: only this source")
    rq.add_argument("--url", help="warehouse URL (default CFP_WAREHOUSE_URL)")
    rq.set_defaults(func=run_requeue)
    return p


def _engine_for(args: argparse.Namespace) -> Any:
    """The engine, checked to be at head; a bad URL or schema exits with what to do."""
    from checkout_freshportal.warehouse.url_errors import engine_at_head

    return engine_at_head(COMMAND, args.url)


def _check_names(args: argparse.Namespace) -> None:
    """Unknown sources or states are refused by name, with what is allowed."""
    from checkout_freshportal.sync.ingest.quarantine import SOURCES
    from checkout_freshportal.warehouse.quarantine import STATES

    if args.source is not None and args.source not in SOURCES:
        raise SystemExit(f"{COMMAND}: unknown source {safe(args.source)!r} (one of {', '.join(SOURCES)})")
    for state in getattr(args, "state", None) or ():
        if state not in STATES:
            raise SystemExit(f"{COMMAND}: unknown state {safe(state)!r} (one of {', '.join(STATES)})")


def run_list(args: argparse.Namespace) -> int:
    from checkout_freshportal.warehouse import quarantine as store

    _check_names(args)
    states = args.state or (None if args.all else [s for s in store.STATES if s != store.RESOLVED])
    engine = _engine_for(args)
    try:
        with engine.connect() as conn:
            items = store.list_items(
                conn, source=args.source, states=states, with_payload=args.json, limit=args.limit
            )
    finally:
        engine.dispose()
    if args.json:
        # ASCII only: the payload is an API's or a file's text, and JSON escapes C0 controls but
        # would print C1 controls (a terminal's CSI), line separators and bidi overrides as they are.
        for item in items:
            shown = item.as_json()
            shown["payload"], shown["reason"] = masked(shown["payload"]), mask_text(shown["reason"])
            _out(json.dumps(shown, ensure_ascii=True, default=str))
        return 0
    if not items:
        _out("no quarantined items" + ("" if args.all or args.state else " open"))
        return 0
    for i in items:
        parent = f" (report {safe(i.parent_id)})" if i.parent_id else ""
        _out(
            f"{i.last_failed_at:%Y-%m-%d %H:%M:%S}Z  {i.state:<11} {i.attempts:>2}x  {i.source}  "
            f"{safe(i.item_id)}{parent}  raw: {i.raw_location}"
        )
        _out(f"    {safe_masked(i.reason, 300)}")
    return 0


def run_requeue(args: argparse.Namespace) -> int:
    from checkout_freshportal.warehouse import quarantine as store

    if args.only_source:
        if not args.all or (args.source and args.source != args.only_source):
            raise SystemExit(f"{COMMAND} requeue: --source goes with --all (one item: SOURCE ITEM_ID)")
        args.source = args.only_source
    if args.all == bool(args.item_id):
        raise SystemExit(f"{COMMAND} requeue: give SOURCE ITEM_ID, or --all [SOURCE]")
    if not args.all and not args.source:
        raise SystemExit(f"{COMMAND} requeue: give the item's SOURCE before its id")
    _check_names(args)
    engine = _engine_for(args)
    try:
        with engine.begin() as conn:
            if args.all:
                n = store.requeue_all(conn, args.source)
                _out(f"re-queued {n} item(s){f' of {args.source}' if args.source else ''}")
                return 0
            try:
                item = store.requeue(conn, args.source, args.item_id)
            except store.UnknownQuarantineItemError as exc:
                raise SystemExit(f"{COMMAND} requeue: {safe(str(exc), 300)}") from None
    finally:
        engine.dispose()
    _out(
        f"re-queued {item.source} {safe(item.item_id)} (attempts so far: {item.attempts}); "
        "the next run retries it"
    )
    return 0


def masked(value: Any) -> Any:
    """``value`` (a stored payload) with e-mail addresses and card-number-like digit runs masked
    in every text, key and long integer: what the command prints ends up in terminals, tickets
    and chats, while the warehouse keeps the payload verbatim for the retry and for audits."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        shown = mask_text(text)
        return value if shown == text else shown  # a card number sent as a JSON number
    if isinstance(value, dict):
        return {mask_text(str(k)): masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def _out(line: str) -> None:
    """Command output goes to stdout (logs go to stderr)."""
    sys.stdout.write(line + "\n")
