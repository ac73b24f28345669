"""Report staging on PostgreSQL: ``load_report_file`` against a plain COPY of the same file.

One generated FinancialActions CSV (1,000,000 lines; 50,000 with ``--quick``), then per repetition,
in a scratch database created and dropped here:

(a) baseline: ``COPY ... FROM STDIN (FORMAT csv, HEADER)`` of the file into an empty table of
    36 text columns (the real 35-column header plus Fee Detail) - the floor for getting these
    bytes into PostgreSQL at all;
(b) ``load_report_file`` into empty tables: raw file (compressed) + validation + staged merge,
    committed;
(c) a second file overlapping (b)'s by 50%, every line carrying a payout id (as a by-payout file
    would): 50% existing lines given a payout id, 50% new lines.

Reported: rows/s of each (median of the repetitions), the ratio (b)/(a) of throughputs (goal >= 0.5)
and the RSS high-water mark of this process during each phase (goal <= 1 GiB), and the medians of
``ReportLoadResult.timings`` (where (b) and (c) spend their time). Every phase starts after a
CHECKPOINT so one phase's WAL flush is not billed to the next.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from checkout_freshportal.warehouse import load_report_file, make_engine, upgrade

from . import gen_financial_actions as gen
from .harness import measure, median, pg_server_url, scratch_database

FULL_LINES = 1_000_000
QUICK_LINES = 50_000
GOAL_RATIO = 0.5
GOAL_RATIO_OVERLAP = 0.35
GOAL_RSS = 1 << 30


def _baseline_copy(engine: sa.Engine, path: Path) -> int:
    cols = [c.strip() for c in gen.HEADER.split(",")]
    ddl = ", ".join(f'"{c}" text' for c in cols)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_baseline")
        conn.exec_driver_sql(f"CREATE TABLE bench_baseline ({ddl})")
    with engine.begin() as conn, conn.connection.driver_connection.cursor() as cur:
        with (
            cur.copy("COPY bench_baseline FROM STDIN (FORMAT csv, HEADER)") as cp,
            path.open("rb") as fh,
        ):
            while chunk := fh.read(1 << 20):
                cp.write(chunk)
        return cur.rowcount


def _load(engine: sa.Engine, path: Path, file_id: str, report_type: str, method: str) -> Any:
    with engine.begin() as conn, path.open("rb") as fh:
        return load_report_file(
            conn,
            report_id=f"rpt_{file_id}",
            report_type=report_type,
            file_id=file_id,
            filename=path.name,
            stream=fh,
            method=method,  # type: ignore[arg-type]
        )


def _reset(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE raw_report_rows, raw_report_file_contents, raw_report_files, stg_financial_actions, "
            "stg_financial_action_payouts"
        )
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_baseline")


def _checkpoint(engine: sa.Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("CHECKPOINT")


def run(args: argparse.Namespace) -> dict[str, Any]:
    n = args.lines or (QUICK_LINES if args.quick else FULL_LINES)
    repeat = args.repeat or 3
    method = getattr(args, "method", None) or "copy"
    load_start = os.getloadavg()
    spec1 = gen.Spec(seed=42)
    spec2 = gen.Spec(seed=42, payout_id="po_bench0000000000000000000000")
    with tempfile.TemporaryDirectory(prefix="cfp_bench_") as tmp:
        f1, f2 = Path(tmp) / "fa_1.csv", Path(tmp) / "fa_2.csv"
        with measure() as g:
            size1 = gen.write_csv(f1, 0, n, spec1)
            start2 = gen.action_at_line(n // 2, spec1)
            size2 = gen.write_csv(f2, start2, n, spec2)
        runs: list[dict[str, Any]] = []
        with scratch_database(pg_server_url()) as url:
            upgrade(url)
            engine = make_engine(url)
            try:
                for i in range(repeat):
                    _reset(engine)
                    _checkpoint(engine)
                    with measure() as a:
                        rows_a = _baseline_copy(engine, f1)
                    _checkpoint(engine)
                    with measure() as b:
                        res_b = _load(engine, f1, f"file_b{i}", "FinancialActions", method)
                    _checkpoint(engine)
                    with measure() as c:
                        res_c = _load(engine, f2, f"file_c{i}", "FinancialActionsByPayoutId", method)
                    assert rows_a == n
                    assert res_b.rows == n
                    assert res_c.rows == n
                    assert res_b.staged_inserted == n, res_b
                    runs.append(
                        {
                            "a_seconds": a.seconds,
                            "b_seconds": b.seconds,
                            "c_seconds": c.seconds,
                            "a_peak_rss": a.peak_rss,
                            "b_peak_rss": b.peak_rss,
                            "c_peak_rss": c.peak_rss,
                            "b_result": _res(res_b),
                            "c_result": _res(res_c),
                        }
                    )
                with engine.connect() as conn:
                    sizes = {
                        t: conn.exec_driver_sql(f"SELECT pg_total_relation_size('{t}')").scalar()
                        for t in ("raw_report_file_contents", "stg_financial_actions", "bench_baseline")
                    }
            finally:
                engine.dispose()
    med = {k: median([r[k] for r in runs]) for k in ("a_seconds", "b_seconds", "c_seconds")}
    peak = {k: max(r[k] for r in runs) for k in ("a_peak_rss", "b_peak_rss", "c_peak_rss")}
    rps = {k[0]: n / med[k] for k in med}
    phases = {
        k: {
            name: median([r[f"{k}_result"]["timings"].get(name, 0.0) for r in runs])
            for name in dict.fromkeys(x for r in runs for x in r[f"{k}_result"]["timings"])
        }
        for k in ("b", "c")
    }
    # Two views of one comparison on a noisy host: the ratio of the median times, and the median
    # of each repetition's own ratio (its baseline ran seconds before it). The verdict takes the
    # lower of the two, so one lucky baseline cannot make a goal look met.
    per_rep = {k: [r["a_seconds"] / r[f"{k}_seconds"] for r in runs] for k in ("b", "c")}
    ratio = min(rps["b"] / rps["a"], median(per_rep["b"]))
    ratio_c = min(rps["c"] / rps["a"], median(per_rep["c"]))
    table = [
        _row("(a) COPY baseline (text table)", n, med["a_seconds"], rps["a"], peak["a_peak_rss"], rps["a"]),
        _row(
            "(b) load_report_file, empty tables", n, med["b_seconds"], rps["b"], peak["b_peak_rss"], rps["a"]
        ),
        _row(
            "(c) load_report_file, 50% overlap", n, med["c_seconds"], rps["c"], peak["c_peak_rss"], rps["a"]
        ),
    ]
    load_end = os.getloadavg()
    last_c = runs[-1]["c_result"]
    summary = [
        f"lines per file: {n:,} ({size1 / 1e6:.1f} MB and {size2 / 1e6:.1f} MB); "
        f"repetitions: {repeat}; method: {method}",
        f"ratio (b)/(a) throughput: {ratio:.3f} (goal >= {GOAL_RATIO}) -> "
        f"{'met' if ratio >= GOAL_RATIO else 'MISSED'}; {_views(rps['b'] / rps['a'], per_rep['b'])}",
        f"ratio (c)/(a) throughput: {ratio_c:.3f} (goal >= {GOAL_RATIO_OVERLAP}) -> "
        f"{'met' if ratio_c >= GOAL_RATIO_OVERLAP else 'MISSED'}; "
        f"{_views(rps['c'] / rps['a'], per_rep['c'])}",
        f"peak RSS: {max(peak.values()) / 2**20:.0f} MiB (goal <= {GOAL_RSS / 2**20:.0f} MiB) -> "
        f"{'met' if max(peak.values()) <= GOAL_RSS else 'MISSED'}",
        f"(c) merge: {last_c['staged_inserted']:,} inserted, "
        f"{last_c['staged_updated']:,} updated, {last_c['staged_unchanged']:,} unchanged, "
        f"{last_c['payouts_assigned']:,} payout ids recorded",
        "phases of (b), median s: " + ", ".join(f"{k} {v:.2f}" for k, v in phases["b"].items()),
        "phases of (c), median s: " + ", ".join(f"{k} {v:.2f}" for k, v in phases["c"].items()),
        f"host load average (1/5/15 min) at start {_fmt_load(load_start)}, at end {_fmt_load(load_end)} "
        f"({os.cpu_count()} CPUs; anything above the benchmark's own ~2 means other work shared them)",
        f"on-disk after a run: raw_report_file_contents {sizes['raw_report_file_contents'] / 2**20:.0f} MiB, "
        f"stg_financial_actions {sizes['stg_financial_actions'] / 2**20:.0f} MiB, "
        f"baseline table {sizes['bench_baseline'] / 2**20:.0f} MiB",
    ]
    return {
        "lines": n,
        "file_bytes": [size1, size2],
        "repeat": repeat,
        "method": method,
        "generate_seconds": g.seconds,
        "median_seconds": med,
        "rows_per_second": rps,
        "phase_median_seconds": phases,
        "ratio_b_over_a": ratio,
        "goal_ratio": GOAL_RATIO,
        "goal_ratio_met": ratio >= GOAL_RATIO,
        "ratio_c_over_a": ratio_c,
        "ratio_per_repetition": per_rep,
        "goal_ratio_overlap": GOAL_RATIO_OVERLAP,
        "goal_ratio_overlap_met": ratio_c >= GOAL_RATIO_OVERLAP,
        "peak_rss_bytes": peak,
        "goal_rss_bytes": GOAL_RSS,
        "goal_rss_met": max(peak.values()) <= GOAL_RSS,
        "relation_bytes": sizes,
        "load_average": {"start": load_start, "end": load_end},
        "runs": runs,
        "pg_server": pg_server_url(),
        "table": table,
        "summary": summary,
    }


def _views(of_medians: float, per_rep: list[float]) -> str:
    reps = "/".join(f"{x:.2f}" for x in per_rep)
    return f"of the medians {of_medians:.3f}, per repetition {reps} (median {median(per_rep):.3f})"


def _fmt_load(avg: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


def _res(r: Any) -> dict[str, Any]:
    return {
        "rows": r.rows,
        "staged_inserted": r.staged_inserted,
        "staged_updated": r.staged_updated,
        "staged_unchanged": r.staged_unchanged,
        "payouts_assigned": r.payouts_assigned,
        "timings": dict(getattr(r, "timings", {}) or {}),
    }


def _row(name: str, n: int, secs: float, rps: float, rss: int, base_rps: float) -> dict[str, Any]:
    return {
        "phase": name,
        "lines": n,
        "median_s": secs,
        "rows_per_s": rps,
        "vs_baseline": rps / base_rps,
        "peak_rss_MiB": rss / 2**20,
    }
