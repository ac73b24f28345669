"""Report files: CSV content and the pre-signed storage URLs they are downloaded from.

Columns are those of docs/architecture.md ("Report CSV columns"); amounts are major units
written from ``Decimal`` (at least the currency's decimals, at most 8), never via float.
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
from urllib.parse import quote

from checkout_freshportal.money import to_major

from .clock import cko_ts
from .fees import format_decimal
from .model import FinancialAction, Report
from .render import amount_text
from .settlement import fas_between
from .world import World

FA_COLUMNS = (
    "Client Entity ID",
    "Sub Entity ID",
    "Currency Account ID",
    "Processing Channel ID",
    "Payment ID",
    "Action ID",
    "Action Type",
    "Reference",
    "Payment Method",
    "Card Type",
    "Region",
    "Processed On",
    "Requested On",
    "Payout ID",
    "Breakdown Type",
    "Fee Detail",
    "Holding Currency",
    "Holding Currency Amount",
    "Processing Currency",
    "Processing Currency Amount",
    "Transaction Currency",
    "Transaction Currency Amount",
    "FX Rate Applied",
)
PAYOUT_COLUMNS = (
    "Client Entity ID",
    "Sub Entity ID",
    "Currency Account ID",
    "Holding Currency",
    "Payout ID",
    "Payout Date",
    "Payout Amount",
    "Merchant Payout Fees",
    "Payments",
    "Refunds",
    "Chargebacks",
    "Card Payment Interchange Fees",
    "Card Payment Scheme Fees",
    "Processing Fees",
    "Period Start",
    "Period End",
)
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


def _rows_fa(world: World, fas: list[FinancialAction], with_payout: bool) -> Iterator[list[str]]:
    acc = world.account
    for fa in fas:
        payout = (fa.payout_id or "") if with_payout else ""
        for line in fa.lines:
            yield [
                acc.client_entity_id,
                acc.sub_entity_id,
                fa.currency_account_id,
                acc.processing_channel_id,
                fa.payment_id,
                fa.action_id,
                fa.action_type,
                fa.reference or "",
                fa.payment_method,
                fa.card_type,
                fa.region,
                cko_ts(fa.processed_on) or "",
                cko_ts(fa.requested_on) or "",
                payout,
                line.breakdown_type,
                line.fee_detail or "",
                fa.holding_currency,
                amount_text(line.holding_amount, fa.holding_currency),
                fa.processing_currency,
                amount_text(line.processing_amount, fa.processing_currency),
                fa.transaction_currency,
                amount_text(line.transaction_amount, fa.transaction_currency),
                format_decimal(fa.fx_rate),
            ]


def _rows_payouts(world: World, report: Report) -> Iterator[list[str]]:
    acc = world.account
    for p in world.payouts:
        if p.date != report.payout_date:
            continue
        c = p.currency
        yield [
            acc.client_entity_id,
            acc.sub_entity_id,
            p.currency_account_id,
            c,
            p.id,
            cko_ts(p.date) or "",
            amount_text(to_major(p.amount, c), c),
            amount_text(to_major(p.merchant_fee, c), c),
            amount_text(p.payments, c),
            amount_text(p.refunds, c),
            amount_text(p.chargebacks, c),
            amount_text(p.interchange_fees, c),
            amount_text(p.scheme_fees, c),
            amount_text(p.processing_fees, c),
            cko_ts(p.period_start) or "",
            cko_ts(p.period_end) or "",
        ]


def report_rows(world: World, report: Report) -> tuple[tuple[str, ...], list[list[str]]]:
    """Header and rows of a report's (only) file; call with the world lock held."""
    if report.type == "Payouts":
        return PAYOUT_COLUMNS, list(_rows_payouts(world, report))
    if report.type == "FinancialActionsByPayoutId":
        payout = world.payouts_by_id[report.payout_id or ""]
        fas = [world.fa_by_action[a] for a in payout.financial_action_ids]
        return FA_COLUMNS, list(_rows_fa(world, fas, with_payout=True))
    return FA_COLUMNS, list(_rows_fa(world, fas_between(world, report.from_, report.to), with_payout=False))


def csv_chunks(header: tuple[str, ...], rows: list[list[str]], chunk_rows: int = 2000) -> Iterator[bytes]:
    """CSV bytes in chunks so a large file streams instead of being built in one string."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for i, row in enumerate(rows, 1):
        writer.writerow(row)
        if i % chunk_rows == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")
