"""Charts of the report, drawn by matplotlib (Agg, no display) as inline SVG.

Each chart is a self-contained ``<svg>`` element: text is drawn as glyph paths (no font file is
ever fetched), ids are salted per chart so two charts on one page never share an id, and the
date metadata is left out so the same data draws the same bytes. Chart heights go through
``float`` for drawing only; every figure finance reads exactly is in the table beside the chart.

Labels that came from outside (response codes, card types) are cut short and have ``$`` escaped
(matplotlib would read ``$...$`` as math); matplotlib escapes the rest of the XML itself.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from checkout_freshportal.logsafe import mask_emails
from checkout_freshportal.money import UnknownCurrencyError, exponent
from checkout_freshportal.reports.queries import KindSummary, MatchRatePoint
from checkout_freshportal.reports.queries_money import CashPosition, Declines, PayoutRow
from checkout_freshportal.reports.sqlparts import BUCKET_LABELS

#: Colour-blind-safe palette (Okabe-Ito), then greys.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
    "#999999",
    "#666666",
    "#BBBBBB",
    "#444444",
)
AGE_COLOURS = {"0-2": "#56B4E9", "3-7": "#E69F00", "8-30": "#D55E00", ">30": "#7F0000"}
_XML_HEAD = re.compile(r"^.*?(?=<svg)", re.S)


def label(text: object, limit: int = 32) -> str:
    """Outside text made safe for a matplotlib label: e-mail addresses masked (before it is cut:
    a cut address is no longer one the page's masking recognises), short, no math mode, and never
    starting with "_" (matplotlib leaves such a label out of the legend: a response code "_x"
    drew a bar no legend entry named)."""
    s = mask_emails(str(text)).replace("\n", " ")
    s = s if len(s) <= limit else s[: limit - 1] + "…"
    s = s.replace("$", r"\$")
    return " " + s if s.startswith("_") else s


def _major(minor: int, currency: str) -> float:
    """For drawing only (see the module docstring)."""
    try:
        return minor / 10 ** exponent(currency)
    except UnknownCurrencyError:
        return float(minor)


def _figure(width: float = 8.0, height: float = 3.6) -> Figure:
    fig = plt.figure(figsize=(width, height), dpi=96)
    return fig


def to_svg(fig: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element (no XML prologue), ids salted with ``name``."""
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"cfp-{name}", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    svg = _XML_HEAD.sub("", buf.getvalue(), count=1)
    return svg.replace("<svg ", f'<svg class="chart" data-chart="{html.escape(name)}" role="img" ', 1)


def _empty(fig: Figure, text: str) -> None:
    """A short panel saying there is nothing to draw (still a chart: the page's layout stays)."""
    fig.set_size_inches(fig.get_figwidth(), 1.2)
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="#555555")
    ax.set_axis_off()


def match_rate_chart(points: Sequence[MatchRatePoint]) -> str:
    fig = _figure()
    if not points:
        _empty(fig, "No reconciliation run yet")
        return to_svg(fig, "match-rate")
    ax = fig.add_subplot()
    by_ccy: dict[str, list[MatchRatePoint]] = {}
    for p in points:
        by_ccy.setdefault(p.currency, []).append(p)
    for i, (ccy, pts) in enumerate(sorted(by_ccy.items())):
        colour = PALETTE[i % len(PALETTE)]
        xs: list[Any] = [p.as_of for p in pts]
        by_amount = [_percent_position(p.rate_amount) for p in pts]
        by_count = [_percent_position(p.rate_count) for p in pts]
        ax.plot(xs, by_amount, marker="o", color=colour, label=f"{label(ccy)} by amount")
        ax.plot(
            xs, by_count, marker="s", linestyle="--", color=colour, alpha=0.6, label=f"{label(ccy)} by count"
        )
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of confirmed orders matched")
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    first, last = min(p.as_of for p in points), max(p.as_of for p in points)
    if last - first < timedelta(days=2):  # one run (or a few close ones): a readable two-day window
        ax.set_xlim(mdates.date2num(first - timedelta(days=1)), mdates.date2num(last + timedelta(days=1)))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower left")
    return to_svg(fig, "match-rate")


def exceptions_chart(kinds: Sequence[KindSummary]) -> str:
    rows = [k for k in kinds if k.open]
    fig = _figure(height=max(2.0, 0.4 * len(rows) + 1.0))
    if not rows:
        _empty(fig, "No open exceptions")
        return to_svg(fig, "exceptions-age")
    ax = fig.add_subplot()
    names = [label(k.kind) for k in rows][::-1]
    left = [0] * len(rows)
    for bucket in BUCKET_LABELS:
        vals = [k.open_by_age[bucket] for k in rows][::-1]
        ax.barh(names, vals, left=left, color=AGE_COLOURS[bucket], label=f"{bucket} days")
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_xlabel("open exceptions (count)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, title="age", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", alpha=0.3)
    return to_svg(fig, "exceptions-age")


def payouts_chart(payouts: Sequence[PayoutRow], currency: str, categories: Sequence[str]) -> str:
    """Stacked bars per payout of one currency: positive categories up, negative down."""
    name = f"payouts-{label(currency, 3).lower()}"
    rows = [p for p in payouts if p.currency == currency][::-1]  # oldest left
    fig = _figure(height=3.8)
    if not rows:
        _empty(fig, f"No {label(currency)} payouts")
        return to_svg(fig, name)
    ax = fig.add_subplot()
    xs = list(range(len(rows)))  # positions, not labels: two payouts may share a label
    pos, neg = [0.0] * len(rows), [0.0] * len(rows)
    used = [c for c in categories if any(p.by_category.get(c) for p in rows)]
    for i, cat in enumerate(used):
        vals = [_major(p.by_category.get(cat, 0), currency) for p in rows]
        base = [pos[j] if v >= 0 else neg[j] for j, v in enumerate(vals)]
        ax.bar(xs, vals, bottom=base, width=0.6, color=PALETTE[i % len(PALETTE)], label=label(cat))
        pos = [pos[j] + max(v, 0) for j, v in enumerate(vals)]
        neg = [neg[j] + min(v, 0) for j, v in enumerate(vals)]
    paid = [_major(p.payout_minor, currency) for p in rows]
    ax.plot(xs, paid, "kD", label="paid out")
    lo, hi = min([0.0, *neg, *paid]), max([0.0, *pos, *paid])
    pad = (hi - lo) * 0.08 or 1.0
    ax.set_ylim(lo - (pad if lo < 0 else 0), hi + pad)  # room above the tallest bar and diamond
    ax.axhline(0, color="#333333", linewidth=0.8)
    ax.set_xlim(-0.6, max(len(rows), 6) - 0.4)  # a lone payout stays a bar, not a wall
    ax.set_xticks(xs, [f"{p.payout_date.isoformat()}\n{label(p.payout_id, 14)}" for p in rows])
    ax.set_ylabel(f"{label(currency)} (major units)")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, ncol=3, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    return to_svg(fig, name)


def cash_chart(positions: Sequence[CashPosition]) -> str:
    """One small panel per currency (own scale): captured, not yet paid out, by capture age."""
    rows = [c for c in positions if c.captures]
    fig = _figure(height=max(2.2, 1.2 * len(rows) + 0.6))
    if not rows:
        _empty(fig, "Every capture is in a payout")
        return to_svg(fig, "cash")
    axes: Any = fig.subplots(len(rows), 1, squeeze=False)
    for ax, cp in zip(axes[:, 0], rows, strict=True):
        vals = [_major(cp.by_age_minor[b], cp.currency) for b in BUCKET_LABELS]
        ys = list(range(len(BUCKET_LABELS)))  # positions: matplotlib would parse "0-2" as a date
        ax.barh(ys, vals, color=[AGE_COLOURS[b] for b in BUCKET_LABELS])
        ax.set_yticks(ys, [f"{b} days" for b in BUCKET_LABELS])
        ax.set_title(f"{label(cp.currency)}: not yet paid out, by capture age", fontsize=9, loc="left")
        ax.tick_params(labelsize=8)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.subplots_adjust(hspace=0.9)  # room for each panel's title (tight_layout would draw twice)
    return to_svg(fig, "cash")


def declines_chart(declines: Declines, top: int = 6) -> str:
    """Declines per day, stacked by response code (the ``top`` most frequent, the rest as other)."""
    fig = _figure()
    if not declines.by_day_code:
        _empty(fig, "No declines in the period")
        return to_svg(fig, "declines")
    ax = fig.add_subplot()
    codes = [c for c, _, _ in declines.by_code[:top]]
    days = sorted({d for d, _, _ in declines.by_day_code})
    series: dict[str, dict[str, int]] = {c: {} for c in [*codes, "other"]}
    for day, code, n in declines.by_day_code:
        key = code if code in codes else "other"
        series[key][day] = series[key].get(day, 0) + n
    bottom = [0] * len(days)
    xs = list(range(len(days)))  # positions labelled with the days (not parsed as dates)
    for i, (code, per_day) in enumerate(series.items()):
        vals = [per_day.get(d, 0) for d in days]
        if not any(vals):
            continue
        ax.bar(xs, vals, bottom=bottom, width=0.8, color=PALETTE[i % len(PALETTE)], label=label(code, 20))
        bottom = [a + b for a, b in zip(bottom, vals, strict=True)]
    ax.set_ylabel("declines per day")
    step = max(1, len(days) // 15)
    ax.set_xticks(xs[::step], days[::step])
    ax.set_xlim(-0.6, max(len(days), 7) - 0.4)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.legend(fontsize=8, title="response code", title_fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return to_svg(fig, "declines")


def _percent_position(share: Decimal | None) -> float:
    """A match rate in percent as a point's height on the chart's axis: matplotlib places points
    by floats. Only this drawing position is a float; the figure shown in the table beside the
    chart stays the exact Decimal. A run with no orders in the currency is NaN: a gap in the line."""
    return float("nan") if share is None else float(share)
