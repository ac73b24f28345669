"""Run the benchmarks: ``python -m tests.benchmarks.run [--only NAME] [--quick] [--repeat N]``.

Discovers ``bench_*.py`` next to this file; each exposes ``run(args) -> dict`` whose ``"table"``
entry (list of rows) is printed and whose whole result is written, with machine info, timestamp
and git commit, to ``tests/benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import harness

PACKAGE = __package__ or "tests.benchmarks"


def discover() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(here)])
        if m.name.startswith("bench_")
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark (repeatable)")
    p.add_argument("--quick", action="store_true", help="small sizes (for CI and tests)")
    p.add_argument("--repeat", type=int, default=None, help="repetitions (median reported)")
    p.add_argument("--lines", type=int, default=None, help="override the CSV size")
    p.add_argument("--orders", type=int, default=None, help="reconciliation: override the number of orders")
    p.add_argument(
        "--engines",
        type=lambda v: v.split(","),
        default=None,
        help="reconciliation: postgresql,sqlite (default both)",
    )
    p.add_argument("--no-save", action="store_true", help="do not write results/<name>.json")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return p.parse_args(argv)


def print_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _numeric(v: str) -> bool:
    return v.replace(",", "").replace(".", "").replace("-", "").isdigit()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        unknown = [n for n in args.only if n.removeprefix("bench_") not in names]
        if unknown:
            print(f"unknown benchmark(s) {unknown}; available: {names}", file=sys.stderr)
            return 2
        names = [n for n in names if n in {o.removeprefix("bench_") for o in args.only}]
    failed = 0
    for name in names:
        module = importlib.import_module(f"{PACKAGE}.bench_{name}")
        print(f"\n== {name}{' (quick)' if args.quick else ''}")
        t0 = time.perf_counter()
        try:
            result = module.run(args)
        except Exception as exc:
            failed += 1
            print(f"FAILED: {exc.__class__.__name__}: {exc}", file=sys.stderr)
            continue
        result = {
            "benchmark": name,
            "quick": bool(args.quick),
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": harness.git_commit(),
            "machine": harness.machine_info(result.get("pg_server")),
            "wall_seconds": round(time.perf_counter() - t0, 3),
            **result,
        }
        print_table(result.get("table", []))
        for line in result.get("summary", []):
            print(line)
        if not args.no_save:
            harness.RESULTS.mkdir(parents=True, exist_ok=True)
            suffix = "_quick" if args.quick else ""
            if getattr(args, "engines", None):  # a run of some engines keeps the others' file
                suffix += "".join(f"_{e}" for e in args.engines)
            out = harness.RESULTS / f"{name}{suffix}.json"
            tmp = out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
            tmp.replace(out)
            print(f"-> {out.relative_to(harness.REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
