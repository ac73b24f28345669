"""``cfp report``: render the finance report from the warehouse, outside Airflow.

Prints where the report went (the dated folder and ``latest``) and the headline figures.
Building the parser imports nothing heavy, so ``cfp --help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from checkout_freshportal.logsafe import safe

COMMAND = "cfp report"
#: Paths in error messages are shown whole (escaped) up to the longest a Linux path can be.
PATH_LIMIT = 4096


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``report`` on an ``add_subparsers()`` object."""
    p = subparsers.add_parser(
        "report",
        help="render the finance report (HTML, CSV, XLSX) from the warehouse",
        description="Writes <out>/<YYYY-MM-DD>/<HHMMSS>Z-<run>/, refreshes <out>/latest (docs/reports.md).",
    )
    p.add_argument("--out", help="output root (default CFP_REPORT_OUT_DIR, else ./reports)")
    p.add_argument("--url", help="warehouse URL (default CFP_WAREHOUSE_URL); must be at head")
    p.add_argument(
        "--as-of",
        dest="as_of",
        help="figures as of this instant, ISO 8601 (no offset: UTC); default: the run's",
    )
    p.add_argument(
        "--run-id", dest="run_id", help="report this reconciliation run (default: the newest succeeded)"
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run_report)
    return p


def run_report(args: argparse.Namespace) -> int:
    from checkout_freshportal.reports.headline import headline_lines
    from checkout_freshportal.reports.queries import headlines, latest_run
    from checkout_freshportal.reports.render import render_report
    from checkout_freshportal.reports.settings import ReportSettings
    from checkout_freshportal.settings_base import SettingsError
    from checkout_freshportal.timeutil import TimestampError, parse_ts
    from checkout_freshportal.warehouse.url_errors import engine_at_head

    try:
        settings = ReportSettings.load()
        as_of = parse_ts(args.as_of, assume_utc=True) if args.as_of else None
    except (SettingsError, TimestampError) as exc:
        raise SystemExit(f"{COMMAND}: {exc}") from None
    out = Path(args.out or settings.out_dir)
    engine = engine_at_head(COMMAND, args.url)
    try:
        try:
            paths = render_report(engine, out, as_of=as_of, run_id=args.run_id, settings=settings)
        except LookupError as exc:
            raise SystemExit(f"{COMMAND}: {exc}") from None
        except OSError as exc:  # a folder that cannot be made or written: say which, no traceback
            raise SystemExit(
                f"{COMMAND}: cannot write the report under {safe(str(out), PATH_LIMIT)}: "
                f"{safe(exc.strerror or str(exc))}"
                + (f" ({safe(str(exc.filename), PATH_LIMIT)})" if exc.filename else "")
            ) from None
        with engine.connect() as conn:
            rows = headlines(conn, paths.as_of, latest_run(conn, paths.as_of, paths.run_id))
    finally:
        engine.dispose()
    if args.json:
        _out(json.dumps({**paths.as_dict(), "headline": headline_lines(rows)}))
        return 0
    # the folder is the operator's, but a path is still outside text for a terminal (as in the
    # error above): an escape sequence in --out is shown escaped, not interpreted
    _out(f"report: {safe(str(paths.html), PATH_LIMIT)}")
    _out(f"latest: {safe(str(paths.latest / 'report.html'), PATH_LIMIT)}")
    for line in headline_lines(rows):
        _out(line)
    return 0


def _out(line: str) -> None:
    """Command output goes to stdout (logs go to stderr)."""
    sys.stdout.write(line + "\n")
