"""``cfp trace ORDER_NUMBER``: one order's money chain on the terminal (docs/runbook-reconciliation.md).

Read-only. Prints :func:`checkout_freshportal.reports.trace.render_text` (escaped; no card data,
the masked e-mail only) or, with ``--json``, :meth:`OrderTrace.to_dict`. An unknown order number
is an error (exit status 1) that says so, so a script never mistakes it for an order without money.
Building the parser imports no SQLAlchemy, so ``cfp --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from checkout_freshportal.logsafe import safe

COMMAND = "cfp trace"


def add_trace_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``trace`` on an ``add_subparsers()`` object."""
    p = subparsers.add_parser(
        "trace",
        help="one order's money chain: link, payments, actions, disputes, fees, payout, exceptions",
        description="Print one FreshPortal order's money chain from the warehouse.",
    )
    p.add_argument("order_number", help="the FreshPortal order number (the payment reference)")
    p.add_argument("--json", action="store_true", help="the trace as JSON instead of text")
    p.add_argument("--url", help="warehouse URL (default CFP_WAREHOUSE_URL)")
    p.set_defaults(func=run_trace)
    return p


def run_trace(args: argparse.Namespace) -> int:
    from checkout_freshportal.reports.trace import render_text, trace_order
    from checkout_freshportal.warehouse.url_errors import engine_at_head

    engine = engine_at_head(COMMAND, args.url)
    try:
        trace = trace_order(engine, args.order_number)
    finally:
        engine.dispose()
    if trace is None:
        sys.stderr.write(f"{COMMAND}: no order with number {safe(args.order_number)} in the warehouse\n")
        return 1
    if args.json:
        sys.stdout.write(json.dumps(trace.to_dict(), indent=2, ensure_ascii=True) + "\n")
    else:
        sys.stdout.write(render_text(trace) + "\n")
    return 0
