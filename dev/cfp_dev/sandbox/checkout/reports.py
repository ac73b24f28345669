"""Report files as Checkout.com writes them, and the pre-signed storage URLs they come from.

The shapes are those of docs/checkout-com.md#reports: both financial-actions report types share
one 35-column header (``FA_COLUMNS``) plus the optional columns asked for (``Fee Detail``, on by
``report_fee_detail``); one action may carry several lines of one breakdown type, identical ones
included; lines of no card payment and of the entity itself are there; timestamps are
``2022-11-11 12:08:07`` in the entity's settlement time zone with no offset; amounts are signed
balance effects in major units with trailing zeros dropped (``110``, ``-1.6``); lines end in
CRLF and about half the files end without a final line break; a file without lines is the
header alone (or 0 bytes, ``empty_report_files="empty"``). Payouts files carry
``Reporting Start Date`` / ``Reporting End Date`` and ``Pay To Cards``.

``GET /reports/{id}/files/{file_id}`` answers 302 to ``/_storage/...?expires=&sig=`` (decision
3): the signature is an HMAC over file id and expiry, valid 10 minutes of wall-clock time (read from
``SimClock.wall_time``, so ``/_sandbox/advance`` ages URLs too), and
the storage refuses any request that carries ``Authorization`` -- as S3 does -- so a client that
forwards its bearer token on the redirect fails loudly.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from checkout_freshportal.money import to_major

from .fees import balance_amount, format_decimal
from .model import FinancialAction, Report
from .render import amount_text
from .settlement import fas_between, held_back, zone
from .world import World

#: The columns both financial-actions report types share, in file order.
FA_COLUMNS = (
    "Client Entity ID",
    "Client Entity Name",
    "Sub Entity ID",
    "Sub Entity Name",
    "Processing Channel ID",
    "Merchant Category Code",
    "Currency Account ID",
    "Currency Account Name",
    "Currency Account Custom ID",
    "Action Type",
    "Action ID",
    "Payment ID",
    "Requested On",
    "Processed On",
    "Processing Currency",
    "FX Rate Applied",
    "Holding Currency",
    "FX Trade ID",
    "Payout ID",
    "Reference",
    "Payment Method",
    "Card Type",
    "Card Category",
    "Issuer Country",
    "Entity Country",
    "Region",
    "MID",
    "Response Code",
    "Response Description",
    "Breakdown Type",
    "Processing Currency Amount",
    "Holding Currency Amount",
    "Entity Country Tax Currency",
    "Tax Fx Rate",
    "Tax Currency Amount",
)
#: Optional columns, appended after ``FA_COLUMNS`` when asked for.
FA_OPTIONAL_COLUMNS = ("Fee Detail",)
#: Payouts columns; the documented list up to ``Card Payment Scheme Fees``, then the simulator's
#: ``Processing Fees`` (every other line of the payout; an assumption, see the docs).
PAYOUT_COLUMNS = (
    "Client Entity ID",
    "Client Entity Name",
    "Sub Entity ID",
    "Sub Entity Name",
    "Currency Account ID",
    "Currency Account Name",
    "Holding Currency",
    "Payout ID",
    "Payout Date",
    "Reporting Start Date",
    "Reporting End Date",
    "Payout Amount",
    "Merchant Payout Fees",
    "Payments",
    "Refunds",
    "Chargebacks",
    "Pay To Cards",
    "Card Payment Interchange Fees",
    "Card Payment Scheme Fees",
    "Processing Fees",
)
ENTITY_NAME = "FreshPortal Demo"
SUB_ENTITY_NAME = "FreshPortal Demo NL"
URL_TTL_SECONDS = 600


class StorageSigner:
    def __init__(self, secret: bytes, wall_time: Callable[[], float]) -> None:
        self._secret = secret
        self._wall_time = wall_time

    def _sig(self, file_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, base: str, file_id: str, filename: str) -> str:
        expires = int(self._wall_time()) + URL_TTL_SECONDS
        sig = self._sig(file_id, expires)
        return f"{base}/_storage/reports/{file_id}/{quote(filename)}?expires={expires}&sig={sig}"

    def check(self, file_id: str, expires: str | None, sig: str | None) -> bool:
        if not expires or not sig or not expires.isdigit():
            return False
        if int(expires) < self._wall_time():
            return False
        return hmac.compare_digest(self._sig(file_id, int(expires)), sig)


def local_ts(world: World, dt: datetime | None) -> str:
    """``2022-11-11 12:08:07``: wall time in the settlement time zone, whole seconds, no offset."""
    return "" if dt is None else f"{dt.astimezone(zone(world)):%Y-%m-%d %H:%M:%S}"


def fa_header(world: World) -> tuple[str, ...]:
    return FA_COLUMNS + (FA_OPTIONAL_COLUMNS if world.config.report_fee_detail else ())


def _rows_fa(world: World, fas: list[FinancialAction]) -> Iterator[list[str]]:
    acc = world.account
    sign = world.config.fee_sign
    fee_detail = world.config.report_fee_detail
    names = {v: f"{k} account" for k, v in acc.currency_accounts.items()}
    for fa in fas:
        card = bool(fa.card_type)  # lines of a card payment carry card, MID and response fields
        head = [
            acc.client_entity_id,
            ENTITY_NAME,
            acc.sub_entity_id,
            SUB_ENTITY_NAME,
            acc.processing_channel_id,
            acc.mcc,
            fa.currency_account_id,
            names.get(fa.currency_account_id, ""),
            "",
            fa.action_type,
            fa.action_id,
            fa.payment_id,
            local_ts(world, fa.requested_on),
            local_ts(world, fa.processed_on),
            fa.processing_currency,
            format_decimal(fa.fx_rate),
            fa.holding_currency,
            "",
            fa.payout_id or "",
            fa.reference or "",
            fa.payment_method,
            fa.card_type,
            fa.card_category,
            fa.issuer_country,
            acc.merchant_country,
            fa.region,
            acc.mid if card else "",
            "10000" if card else "",
            "Approved" if card else "",
        ]
        for line in fa.lines:
            row = [
                *head,
                _gross_label(fa) if line.breakdown_type == "Gross" else line.breakdown_type,
                format_decimal(balance_amount(line.processing_amount, line.is_fee, sign)),
                format_decimal(balance_amount(line.holding_amount, line.is_fee, sign)),
                "",
                "",
                "",
            ]
            if fee_detail:
                row.append(line.fee_detail or "")
            yield row


def _gross_label(fa: FinancialAction) -> str:
    """Reports name the gross line after its action (``Capture``, ``Refund``), not ``Gross``."""
    return fa.action_type


def _rows_payouts(world: World, report: Report) -> Iterator[list[str]]:
    acc = world.account
    names = {v: f"{k} account" for k, v in acc.currency_accounts.items()}
    for p in world.payouts:
        if p.date != report.payout_date:
            continue
        c = p.currency
        yield [
            acc.client_entity_id,
            ENTITY_NAME,
            acc.sub_entity_id,
            SUB_ENTITY_NAME,
            p.currency_account_id,
            names.get(p.currency_account_id, ""),
            c,
            p.id,
            local_ts(world, p.created_on),
            local_ts(world, report.from_),
            local_ts(world, report.to - timedelta(seconds=1)),
            amount_text(to_major(p.amount, c), c),
            amount_text(-to_major(p.merchant_fee, c), c),
            amount_text(p.payments, c),
            amount_text(p.refunds, c),
            amount_text(p.chargebacks, c),
            amount_text(to_major(0, c), c),
            amount_text(p.interchange_fees, c),
            amount_text(p.scheme_fees, c),
            amount_text(p.processing_fees, c),
        ]


def by_payout_fas(world: World, report: Report) -> list[FinancialAction]:
    """The payout's lines and, without its id, the held-back lines of its account and day."""
    payout = world.payouts_by_id[report.payout_id or ""]
    fas = [world.fa_by_action[a] for a in payout.financial_action_ids] + held_back(world, payout)
    return sorted(fas, key=lambda fa: fa.processed_on)


def report_fas(world: World, report: Report) -> list[FinancialAction]:
    """The financial actions a financial-actions report lists (its lines are theirs, in order)."""
    if report.type == "FinancialActionsByPayoutId":
        return by_payout_fas(world, report)
    return fas_between(world, report.from_, report.to)


@dataclass(frozen=True, slots=True)
class FileShape:
    """How a file's bytes end: real files vary, so the loader must take every form."""

    final_newline: bool = True
    empty_when_no_rows: bool = False


def file_shape(world: World, report: Report) -> FileShape:
    """Financial-actions files end without a final line break about half the time (by file id,
    so a file is the same at every download); Payouts files always end with one."""
    first = report.files[0].id if report.files else report.id
    final = report.type == "Payouts" or hashlib.sha256(first.encode()).digest()[0] % 2 == 0
    return FileShape(final_newline=final, empty_when_no_rows=world.config.empty_report_files == "empty")


class ReportLines(list[list[str]]):
    """The rows of one file, carrying how its bytes end (``csv_chunks`` reads ``shape``)."""

    shape: FileShape = FileShape()


def report_rows(world: World, report: Report) -> tuple[tuple[str, ...], list[list[str]]]:
    """Header and rows of a report's (only) file; call with the world lock held."""
    if report.type == "Payouts":
        rows = ReportLines(_rows_payouts(world, report))
        header = PAYOUT_COLUMNS
    else:
        rows = ReportLines(_rows_fa(world, report_fas(world, report)))
        header = fa_header(world)
    rows.shape = file_shape(world, report)
    return header, rows


def csv_chunks(
    header: tuple[str, ...], rows: list[list[str]], chunk_rows: int = 2000, shape: FileShape | None = None
) -> Iterator[bytes]:
    """CSV bytes (CRLF) in chunks so a large file streams instead of being built in one string;
    the file's end follows ``shape`` (by default the one ``report_rows`` attached to ``rows``)."""
    if shape is None:
        shape = rows.shape if isinstance(rows, ReportLines) else FileShape()
    if not rows and shape.empty_when_no_rows:
        yield b""
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for i, row in enumerate(rows, 1):
        writer.writerow(row)
        if i % chunk_rows == 0 and i < len(rows):
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    text = buf.getvalue()
    if rows and not shape.final_newline:
        text = text[:-2]
    yield text.encode("utf-8")
