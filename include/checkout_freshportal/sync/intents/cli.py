"""``cfp intents list`` and ``cfp intents summary``: the money movements, for the person on call.

Read-only: refunds, voids and captures as ``sync_money_intents`` records them -- what is in
doubt, what waits for its outcome, what FreshPortal has not been told yet
(docs/runbook-money.md). Ids, codes and errors came from the APIs, so they are printed escaped.
Building the parser imports no SQLAlchemy, so ``cfp --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from checkout_freshportal.cli_args import row_limit
from checkout_freshportal.logsafe import json_safe, safe

COMMAND = "cfp intents"
_KINDS = ("refund", "void", "capture")
_STATES = ("pending", "sending", "accepted", "succeeded", "declined", "rejected", "failed", "cancelled")
_COLUMNS = (
    "intent_id",
    "kind",
    "request_key",
    "order_number",
    "payment_id",
    "currency",
    "amount_minor",
    "state",
    "reason_code",
    "action_id",
    "attempts",
    "writeback_status",
    "written_back_status",
    "writeback_claimed_at",
    "updated_at",
    "last_error",
)


def add_intents_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``intents`` (with ``list`` and ``summary``) on an ``add_subparsers()`` object."""
    p = subparsers.add_parser(
        "intents",
        help="refunds, voids and captures: in doubt, waiting, unanswered",
        description="The money-movement outbox sync_money_intents (docs/runbook-money.md).",
    )
    sub = p.add_subparsers(dest="intents_command", required=True)
    ls = sub.add_parser("list", help="intents, most recently changed first")
    ls.add_argument("--kind", choices=_KINDS, action="append", help="only this kind (repeatable)")
    ls.add_argument("--state", choices=_STATES, action="append", help="only this state (repeatable)")
    ls.add_argument("--in-doubt", action="store_true", help="only intents left in doubt (sending)")
    ls.add_argument("--unanswered", action="store_true", help="only answers FreshPortal has not got")
    ls.add_argument("--limit", type=row_limit, default=100)
    ls.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    ls.add_argument("--url", help="warehouse URL (default CFP_WAREHOUSE_URL)")
    ls.set_defaults(func=run_list)
    sm = sub.add_parser("summary", help="counts by kind and state, in doubt and unanswered")
    sm.add_argument("--url", help="warehouse URL (default CFP_WAREHOUSE_URL)")
    sm.set_defaults(func=run_summary)
    return p


def _select(args: argparse.Namespace) -> Any:
    import sqlalchemy as sa

    from checkout_freshportal.sync.intents import store

    t = store.T
    q = sa.select(*[t.c[c] for c in _COLUMNS])
    if args.kind:
        q = q.where(t.c.kind.in_(args.kind))
    if args.state:
        q = q.where(t.c.state.in_(args.state))
    if args.in_doubt:
        q = q.where(t.c.state == store.SENDING)
    if args.unanswered:
        q = q.where(
            t.c.writeback_status.is_not(None),
            sa.or_(t.c.written_back_status.is_(None), t.c.written_back_status != t.c.writeback_status),
        )
    return q.order_by(t.c.updated_at.desc(), t.c.intent_id).limit(max(1, args.limit))


def run_list(args: argparse.Namespace) -> int:
    from checkout_freshportal.warehouse.url_errors import engine_at_head

    engine = engine_at_head(COMMAND, args.url)
    try:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(_select(args))]
    finally:
        engine.dispose()
    if args.json:
        for r in rows:
            _out(json.dumps({k: json_safe(v) for k, v in r.items()}))
        return 0
    if not rows:
        _out("no intents match")
        return 0
    for r in rows:
        _out(
            f"{safe(r['kind']):8} {safe(r['state']):10} {safe(r['request_key'])}  "
            f"{safe(r['order_number'] or '-')}  {r['amount_minor']} {safe(r['currency'])}  "
            f"payment {safe(r['payment_id'] or '-')}  action {safe(r['action_id'] or '-')}  "
            f"attempts {r['attempts']}  answered {safe(r['written_back_status'] or '-')}"
            f"/{safe(r['writeback_status'] or '-')}"
            + (f"  reason {safe(r['reason_code'])}" if r["reason_code"] else "")
            + (
                f"  note claimed {r['writeback_claimed_at']:%Y-%m-%d %H:%M:%S}Z"
                if r["writeback_claimed_at"]
                else ""
            )
            + (f"\n           last error: {safe(r['last_error'])}" if r["last_error"] else "")
        )
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from checkout_freshportal.sync.intents import store
    from checkout_freshportal.warehouse.url_errors import engine_at_head

    engine = engine_at_head(COMMAND, args.url)
    try:
        with engine.connect() as conn:
            out = {kind: store.summary(conn, kinds=(kind,)) for kind in store.KINDS}
    finally:
        engine.dispose()
    for kind, counts in out.items():
        shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        _out(f"{kind:8} {shown or 'none'}")
    return 0


def _out(line: str) -> None:
    """Command output goes to stdout (logs go to stderr)."""
    sys.stdout.write(line + "\n")
