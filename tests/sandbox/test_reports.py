"""Report files: 302 to pre-signed storage, refusal of Authorization, CSV columns and amounts."""

from __future__ import annotations

import csv
import io
import itertools
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from cfp_dev.sandbox.checkout.reports import FA_COLUMNS, PAYOUT_COLUMNS
from checkout_freshportal.money import to_minor


def _download(api, shared_sandbox, report_type: str) -> tuple[dict, list[dict]]:
    base = shared_sandbox.base_url
    report = next(
        r
        for r in api.get(f"{base}/reports", params={"limit": 100}).json()["data"]
        if r["type"] == report_type
    )
    href = report["files"][0]["_links"]["self"]["href"]
    r = api.get(href, allow_redirects=False)
    assert r.status_code == 302
    got = requests.get(r.headers["Location"])  # no Authorization
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    return report, list(csv.DictReader(io.StringIO(got.text)))


def test_redirect_and_storage_refusals(shared_sandbox, api) -> None:
    base = shared_sandbox.base_url
    report = api.get(f"{base}/reports", params={"limit": 1}).json()["data"][0]
    href = report["files"][0]["_links"]["self"]["href"]
    r = api.get(href, allow_redirects=False)
    location = r.headers["Location"]
    parts = urlsplit(location)
    assert parts.path.startswith("/_storage/")
    assert {"sig", "expires"} <= set(parse_qs(parts.query))
    # following the redirect with the bearer token (the naive client) is refused, as S3 does
    naive = api.get(href)
    assert naive.status_code == 403
    assert b"AccessDenied" in naive.content
    q = parse_qs(parts.query)
    tampered = f"{base}{parts.path}?{urlencode({'expires': q['expires'][0], 'sig': '0' * 64})}"
    assert requests.get(tampered).status_code == 403
    expired_sig = shared_sandbox.state.signer._sig(report["files"][0]["id"], 1000)
    expired = f"{base}{parts.path}?{urlencode({'expires': 1000, 'sig': expired_sig})}"
    assert requests.get(expired).status_code == 403
    assert requests.get(location).status_code == 200
    assert api.get(f"{base}/reports/{report['id']}/files/file_nope").status_code == 404


def test_financial_actions_csv_by_header_with_exact_amounts(shared_sandbox, api) -> None:
    _report, rows = _download(api, shared_sandbox, "FinancialActions")
    assert rows
    assert list(rows[0]) == list(FA_COLUMNS)
    assert all(row["Payout ID"] == "" for row in rows)
    world = shared_sandbox.world
    for row in rows[:200]:
        fa = world.fa_by_action[row["Action ID"]]
        line = next(ln for ln in fa.lines if ln.breakdown_type == row["Breakdown Type"])
        assert Decimal(row["Holding Currency Amount"]) == line.holding_amount
        assert Decimal(row["Transaction Currency Amount"]) == line.transaction_amount
        assert len(row["Holding Currency Amount"].partition(".")[2]) <= 8
    assert len({(r["Action ID"], r["Breakdown Type"]) for r in rows}) == len(rows)


def test_by_payout_file_and_payouts_file_agree(shared_sandbox, api) -> None:
    world = shared_sandbox.world
    report, rows = _download(api, shared_sandbox, "FinancialActionsByPayoutId")
    payout_id = report["tags"][0].split(":", 1)[1]
    assert {r["Payout ID"] for r in rows} == {payout_id}
    payout = world.payouts_by_id[payout_id]
    assert {r["Action ID"] for r in rows} == set(payout.financial_action_ids)
    _, payout_rows = _download(api, shared_sandbox, "Payouts")
    assert list(payout_rows[0]) == list(PAYOUT_COLUMNS)
    for row in payout_rows:
        po = world.payouts_by_id[row["Payout ID"]]
        assert to_minor(row["Payout Amount"], po.currency) == po.amount
        gross = sum(Decimal(row[k]) for k in ("Payments", "Refunds", "Chargebacks"))
        fees = sum(
            abs(Decimal(row[k]))
            for k in (
                "Card Payment Interchange Fees",
                "Card Payment Scheme Fees",
                "Processing Fees",
                "Merchant Payout Fees",
            )
        )
        assert to_minor(gross - fees, po.currency) == po.amount


def test_date_range_reports_overlap_by_a_day(shared_sandbox) -> None:
    fa_reports = sorted(
        (r for r in shared_sandbox.world.reports if r.type == "FinancialActions"), key=lambda r: r.to
    )
    full = [r for r in fa_reports if (r.to - r.from_).days == 2]
    assert len(full) >= 5
    for a, b in itertools.pairwise(full):
        assert b.from_ < a.to  # consecutive files share a day
