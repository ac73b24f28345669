"""Report files over HTTP: 302 to pre-signed storage, refusal of Authorization, and files that
agree with the simulated account line for line (the shapes themselves: test_report_shapes.py)."""

from __future__ import annotations

import csv
import io
import itertools
from decimal import Decimal
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from cfp_dev.sandbox.checkout.fees import balance_amount
from cfp_dev.sandbox.checkout.reports import FA_COLUMNS, PAYOUT_COLUMNS
from cfp_dev.sandbox.checkout.settlement import held_back
from checkout_freshportal.money import to_minor

#: Signed amount columns of a Payouts line that add up to its ``Payout Amount``.
PAYOUT_PARTS = (
    "Merchant Payout Fees",
    "Payments",
    "Refunds",
    "Chargebacks",
    "Pay To Cards",
    "Card Payment Interchange Fees",
    "Card Payment Scheme Fees",
    "Processing Fees",
)


def _download(api, shared_sandbox, report_type: str, pick=None) -> tuple[dict, bytes, list[dict]]:
    base = shared_sandbox.base_url
    report = next(
        r
        for r in api.get(f"{base}/reports", params={"limit": 100}).json()["data"]
        if r["type"] == report_type and (pick is None or pick(r))
    )
    href = report["files"][0]["_links"]["self"]["href"]
    r = api.get(href, allow_redirects=False)
    assert r.status_code == 302
    got = requests.get(r.headers["Location"])  # no Authorization
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    return report, got.content, list(csv.DictReader(io.StringIO(got.content.decode("utf-8"))))


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


def _expected_lines(world, fas) -> list[tuple[str, str, Decimal]]:
    sign = world.config.fee_sign
    return [
        (
            fa.action_id,
            fa.action_type if ln.breakdown_type == "Gross" else ln.breakdown_type,
            balance_amount(ln.holding_amount, ln.is_fee, sign),
        )
        for fa in fas
        for ln in fa.lines
    ]


def test_financial_actions_file_lists_every_line_of_its_range(shared_sandbox, api) -> None:
    report, raw, rows = _download(api, shared_sandbox, "FinancialActions")
    assert raw.splitlines()[0].decode().split(",")[:35] == list(FA_COLUMNS)
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    world = shared_sandbox.world
    with world.lock:
        r = world.reports_by_id[report["id"]]
        fas = [fa for fa in world.financial_actions if r.from_ <= fa.processed_on < r.to]
        expected = _expected_lines(world, fas)
        paid = {fa.action_id: fa.payout_id or "" for fa in fas}
    got = [(row["Action ID"], row["Breakdown Type"], Decimal(row["Holding Currency Amount"])) for row in rows]
    assert got == expected  # every line, identical ones included, in order
    assert all(row["Payout ID"] == paid[row["Action ID"]] for row in rows)
    assert len(got) > len(set(got))  # some lines are exact duplicates of another line


def test_by_payout_file_and_payouts_file_agree(shared_sandbox, api) -> None:
    world = shared_sandbox.world
    with world.lock:
        listings = {r.payout_date: r.id for r in world.reports if r.type == "Payouts"}
        chosen = next(
            r
            for r in reversed(world.reports)
            if r.type == "FinancialActionsByPayoutId" and r.payout_date in listings
        )
        payout_id = chosen.payout_id or ""
        payout = world.payouts_by_id[payout_id]
        held = {fa.action_id for fa in held_back(world, payout)}
        listing = listings[chosen.payout_date]
    report, _raw, rows = _download(
        api, shared_sandbox, "FinancialActionsByPayoutId", lambda r: r["id"] == chosen.id
    )
    assert report["tags"] == [f"payout_id:{payout_id}"]
    assert {r["Payout ID"] for r in rows} <= {payout_id, ""}
    assert {r["Action ID"] for r in rows if r["Payout ID"]} == set(payout.financial_action_ids)
    assert {r["Action ID"] for r in rows if not r["Payout ID"]} == held
    paid = sum((Decimal(r["Holding Currency Amount"]) for r in rows if r["Payout ID"]), Decimal(0))
    _, _, payout_rows = _download(api, shared_sandbox, "Payouts", lambda r: r["id"] == listing)
    assert list(payout_rows[0]) == list(PAYOUT_COLUMNS)
    for row in payout_rows:
        po = world.payouts_by_id[row["Payout ID"]]
        assert to_minor(row["Payout Amount"], po.currency) == po.amount
        assert to_minor(sum(Decimal(row[k]) for k in PAYOUT_PARTS), po.currency) == po.amount
    # the payout pays out exactly the lines that carry its id, less the merchant payout fee
    fee = next(Decimal(r["Merchant Payout Fees"]) for r in payout_rows if r["Payout ID"] == payout_id)
    assert to_minor(paid + fee, payout.currency) == payout.amount


def test_date_range_reports_overlap_by_a_day(shared_sandbox) -> None:
    fa_reports = sorted(
        (r for r in shared_sandbox.world.reports if r.type == "FinancialActions"), key=lambda r: r.to
    )
    full = [r for r in fa_reports if (r.to - r.from_).days == 2]
    assert len(full) >= 5
    for a, b in itertools.pairwise(full):
        assert b.from_ < a.to  # consecutive files share a day
