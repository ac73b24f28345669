"""``cfp reconcile`` and ``cfp exceptions list|show|explain|reopen`` (docs/runbook-reconciliation.md).

``cfp reconcile`` is the ``reconciliation`` DAG's first two steps outside Airflow: matching and
exceptions (reconcile/service.py), then the data-quality suite (reconcile/quality/); it prints
both results as JSON and exits 1 when a critical data-quality check failed, after printing, so a
script sees the figures and the failure. ``cfp exceptions`` is what finance and the person on
call use between runs: read the exceptions, mark one explained (note and author kept in the
audit trail), withdraw an explanation. An exception is named by its ``exc_...`` id or its key
(``missing_payment:order:5001``). Ids, details and notes may carry API text: printed escaped,
free text masked (e-mail addresses, card numbers) and every other column's e-mail addresses
masked (:func:`_addresses_masked`: an order number or a payment reference has held a customer's
address; ids keep their digits). Building the parser imports no SQLAlchemy, so ``cfp --help``
answers at once.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import Any

from checkout_freshportal.cli_args import row_limit
from checkout_freshportal.logsafe import json_safe, mask_emails, safe, safe_masked
from checkout_freshportal.reconcile.kinds import KINDS

#: Columns of an exception holding free text, which may quote a payload (a FreshPortal status, a
#: person's note): masked like the exports mask them (e-mail addresses, card numbers).
FREE_TEXT = frozenset({"detail", "explanation", "explained_by", "note_error"})


_STATUSES = ("open", "resolved", "explained")
_URL_HELP = "warehouse URL (default CFP_WAREHOUSE_URL)"


def add_reconcile_parser(subparsers: Any) -> None:
    """Register ``reconcile`` and ``exceptions`` on an ``add_subparsers()`` object."""
    rc = subparsers.add_parser(
        "reconcile",
        help="run reconciliation and the data-quality suite once, outside Airflow",
        description="Match orders to payments, find exceptions, check data quality; prints JSON.",
    )
    rc.add_argument("--full", action="store_true", help="a full run (default: incremental when allowed)")
    rc.add_argument(
        "--as-of", help="the instant due times are measured at (ISO 8601 with offset; default now)"
    )
    rc.add_argument("--settings", help="JSON of reconciliation settings, e.g. '{\"payment_due_days\": 5}'")
    rc.add_argument("--url", help=_URL_HELP)
    rc.set_defaults(func=run_reconcile)

    p = subparsers.add_parser(
        "exceptions",
        help="reconciliation exceptions: list, show, explain, reopen",
        description="Exceptions found by reconciliation (docs/runbook-reconciliation.md).",
    )
    sub = p.add_subparsers(dest="exceptions_command", required=True)
    ls = sub.add_parser("list", help="exceptions, highest severity and oldest first")
    ls.add_argument("--status", choices=_STATUSES, action="append", help="only this status (repeatable)")
    ls.add_argument(
        "--kind",
        choices=sorted(KINDS),
        metavar="KIND",
        action="append",
        help="only this kind (repeatable), e.g. missing_payment; one of: " + ", ".join(sorted(KINDS)),
    )
    ls.add_argument("--order", help="only exceptions of this order number")
    ls.add_argument("--limit", type=row_limit, default=200)
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ls.add_argument("--url", help=_URL_HELP)
    ls.set_defaults(func=run_list)
    sh = sub.add_parser("show", help="one exception with its audit trail")
    sh.add_argument("exception", help="exc_... id or exception key")
    sh.add_argument("--url", help=_URL_HELP)
    sh.set_defaults(func=run_show)
    for name, helptext in (
        ("explain", "mark an exception explained (note and author go to the audit trail)"),
        ("reopen", "withdraw an explanation: the exception is open again"),
    ):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("exception", help="exc_... id or exception key")
        c.add_argument("--note", required=True, help="why (kept in the audit trail; no personal data)")
        c.add_argument("--author", help="who (default: $CFP_USER, else the OS user)")
        c.add_argument("--url", help=_URL_HELP)
        c.set_defaults(func=run_change, change=name)


def default_author() -> str:
    """``$CFP_USER`` (a shared host's real person), else the OS account name."""
    return os.environ.get("CFP_USER", "").strip() or getpass.getuser()


def _engine(args: argparse.Namespace, command: str) -> Any:
    from checkout_freshportal.warehouse.url_errors import engine_at_head

    return engine_at_head(command, args.url)


def run_reconcile(args: argparse.Namespace) -> int:
    from checkout_freshportal.reconcile.quality import DataQualityFailed, run_quality
    from checkout_freshportal.reconcile.service import run_reconciliation
    from checkout_freshportal.reconcile.settings import ReconcileSettings
    from checkout_freshportal.settings_base import SettingsError
    from checkout_freshportal.timeutil import TimestampError, format_ts, parse_ts, utcnow

    try:
        as_of = parse_ts(args.as_of) if args.as_of else utcnow()
        overrides = json.loads(args.settings) if args.settings else None
        if overrides is not None and not isinstance(overrides, dict):
            raise SystemExit("cfp reconcile: --settings must be a JSON object")
        settings = ReconcileSettings.load(overrides)
    except (TimestampError, SettingsError) as exc:
        raise SystemExit(f"cfp reconcile: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(
            f"cfp reconcile: --settings is not JSON ({exc.msg} at character {exc.pos})"
        ) from None
    assert as_of is not None
    run_id = f"cli__{format_ts(as_of)}"
    engine = _engine(args, "cfp reconcile")
    try:
        recon = run_reconciliation(
            engine, settings, run_id=run_id, as_of=as_of, full=True if args.full else None
        )
        quality = run_quality(engine, run_id=run_id, as_of=as_of)
    finally:
        engine.dispose()
    out = {"run_id": run_id, "reconciliation": recon.as_dict(), "data_quality": quality.as_dict()}
    sys.stdout.write(json.dumps(out, indent=2, default=str) + "\n")
    try:
        quality.raise_for_critical()
    except DataQualityFailed as exc:
        sys.stderr.write(f"cfp reconcile: {exc}\n")
        return 1
    return 0


def _amount(minor: int | None, currency: str | None) -> str:
    from checkout_freshportal.money import MoneyError, format_major

    if minor is None:
        return "-"
    try:
        return safe(format_major(int(minor), currency or ""))
    except MoneyError:
        return f"{minor} (minor units) {safe(currency or '')}"


def _addresses_masked(row: dict[str, Any]) -> dict[str, Any]:
    """An exception as read, every text column but the free text (masked more strictly where it
    is printed) with its e-mail addresses masked: the one step before anything is printed."""
    return {k: mask_emails(v) if isinstance(v, str) and k not in FREE_TEXT else v for k, v in row.items()}


def run_list(args: argparse.Namespace) -> int:
    from checkout_freshportal.reconcile.explain import list_exceptions

    engine = _engine(args, "cfp exceptions")
    try:
        rows = list_exceptions(
            engine,
            statuses=args.status or (),
            kinds=args.kind or (),
            order_number=args.order,
            limit=args.limit,
        )
    finally:
        engine.dispose()
    rows = [_addresses_masked(r) for r in rows]
    if args.json:
        for r in rows:
            _out(json.dumps({k: json_safe(v, 500, masked=k in FREE_TEXT) for k, v in r.items()}))
        return 0
    if not rows:
        _out("no exceptions match")
        return 0
    for r in rows:
        _out(
            f"{safe(r['exception_id'])}  {safe(r['kind']):20} {safe(r['severity']):6} {safe(r['status']):9} "
            f"order {safe(r['order_number'] or '-')}  "
            f"expected {_amount(r['expected_minor'], r['currency'])}  "
            f"actual {_amount(r['actual_minor'], r['currency'])}  since {r['first_seen_at']:%Y-%m-%d}"
        )
    return 0


def run_show(args: argparse.Namespace) -> int:
    from checkout_freshportal.reconcile.explain import events, find

    engine = _engine(args, "cfp exceptions")
    try:
        with engine.connect() as conn:
            exc = find(conn, args.exception)
            trail = events(conn, exc["exception_id"]) if exc else []
    finally:
        engine.dispose()
    if exc is None:
        sys.stderr.write(f"cfp exceptions: no exception with id or key {safe(args.exception)}\n")
        return 1
    exc = _addresses_masked(exc)
    for key in ("exception_id", "exception_key", "kind", "severity", "status", "order_number", "order_id"):
        _out(f"{key:18} {json_safe(exc[key], 500) if exc[key] is not None else '-'}")
    for key in ("payment_id", "payout_id", "action_id", "dispute_id", "refund_request_id"):
        if exc[key] is not None:
            _out(f"{key:18} {json_safe(exc[key], 500)}")
    _out(f"{'expected':18} {_amount(exc['expected_minor'], exc['currency'])}")
    _out(f"{'actual':18} {_amount(exc['actual_minor'], exc['currency'])}")
    for key in ("detail", "first_seen_at", "last_seen_at", "resolved_at", "explained_at", "explained_by"):
        if exc[key] is not None:
            _out(f"{key:18} {json_safe(exc[key], 500, masked=key in FREE_TEXT)}")
    if exc["explanation"]:
        _out(f"{'explanation':18} {json_safe(exc['explanation'], 500, masked=True)}")
    _out(
        f"{'state_version':18} {exc['state_version']} (noted in FreshPortal: {exc['notified_version'] or 0})"
    )
    if exc["note_error"]:  # "undeliverable: ..." (handled, never noted) or the last transient error
        _out(f"{'note_error':18} {json_safe(exc['note_error'], 500, masked=True)}")
    _out("audit trail:")
    for ev in trail:
        _out(
            f"  {ev['at']:%Y-%m-%d %H:%M:%S}Z {safe(ev['action']):11} {safe(ev['from_status'] or '-')} -> "
            f"{safe(ev['to_status'])} by {safe_masked(ev['actor'])}"
            + (f": {safe_masked(ev['note'], 500)}" if ev["note"] else "")
        )
    return 0


def run_change(args: argparse.Namespace) -> int:
    from checkout_freshportal.reconcile import explain as ex

    author = args.author or default_author()
    engine = _engine(args, "cfp exceptions")
    try:
        change = getattr(ex, args.change)(engine, args.exception, note=args.note, author=author)
    except ex.ExplainError as exc:
        sys.stderr.write(f"cfp exceptions {args.change}: {exc}\n")
        return 1
    finally:
        engine.dispose()
    _out(
        f"{safe(change.exception_id)} ({safe(change.kind)}): {change.from_status} -> {change.to_status} "
        f"by {safe(change.actor)}, state version {change.state_version}"
    )
    return 0


def _out(line: str) -> None:
    """Command output goes to stdout (logs go to stderr)."""
    sys.stdout.write(line + "\n")
