"""The HTML page: one self-contained file from the Jinja2 template in ``templates/``.

Autoescape is on for every value: ids, codes, details and explanations came from APIs or from
people and are shown as text, never as markup. The only markup inserted unescaped is the charts'
SVG, which matplotlib wrote from labels :func:`checkout_freshportal.reports.charts.label` made
safe. The page loads nothing: styles are inline, charts are inline SVG with glyphs as paths, and
there is no script, font, image or stylesheet URL in it (the browser test checks no request
leaves the file).

Every value the template prints goes through :func:`_finalize`, which masks e-mail addresses
(``logsafe.mask_emails``): an id, a reference, a response code or an order number is whatever an
API sent, and a customer's address has turned up in each of them. Free text was masked more
strictly before (``mask_text``); ids keep their digits, amounts have no ``@`` to mask.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from checkout_freshportal.logsafe import escape_controls, mask_emails
from checkout_freshportal.reports.sqlparts import major_display


def _ts(value: datetime | date | str | None) -> str:
    """A time as finance reads it (``2026-03-31 12:00 UTC``); ISO text (trace dicts) too."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value.tzinfo else value.isoformat()
    return value.isoformat()


def _pct(value: Decimal | None) -> str:
    return "-" if value is None else f"{value}%"


def _money(minor: int | None, currency: str | None) -> str:
    return major_display(minor, currency)


def _svg(svg: str) -> Markup:
    """A chart from charts.py (trusted: built from escaped labels by matplotlib)."""
    return Markup(svg)  # noqa: S704 - see the module docstring


def _finalize(value: Any) -> Any:
    """What ``{{ ... }}`` prints, before escaping: one place, so no field can be forgotten.
    Addresses masked, and control, bidi and zero-width characters written as ``\\uNNNN`` (as the
    exports write them): a right-to-left override in an order number reordered what the page
    showed after it, a zero-width space made two different ids look alike."""
    if isinstance(value, str) and not isinstance(value, Markup):  # a chart is ours (_svg)
        return escape_controls(mask_emails(value))
    return value


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("checkout_freshportal.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters.update(ts=_ts, pct=_pct, money=_money, svg=_svg)
    return env


def render_html(context: dict[str, Any]) -> str:
    return environment().get_template("report.html.j2").render(**context)
