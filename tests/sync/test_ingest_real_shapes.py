"""The whole ingestion against the simulator answering as Checkout.com does.

One world, served twice: tidy (every balance stated, Title Case, ``approved`` on actions) and
in the real shapes of Checkout.com's recorded answers (``real_shapes``: lower-case search
statuses and types, three of seven balances, actions with ``status``, pseudo-actions with broken
timestamps, ``GET /payments/{id}`` without balances, slim dispute items, offset-less report
times, ``next`` equal to ``self``). What lands from the real shapes must be what lands from the
tidy ones, except that a balance the API did not state is NULL -- and a real search page must not
cost one ``/actions`` call per payment.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from cfp_dev.sandbox.checkout import SandboxServer
from checkout_freshportal.checkout import statuses
from checkout_freshportal.sync.ingest import service as ingest
from checkout_freshportal.sync.ingest.explain import actions_explain_balances
from checkout_freshportal.sync.ingest.settings import IngestSettings
from checkout_freshportal.timeutil import parse_ts
from checkout_freshportal.warehouse import schema

from ingest_fixtures import client_for, migrated_engine, sandbox_config

#: Balance columns a real search result leaves out (it states authorized, captured, refunded).
UNSTATED = ("total_voided", "available_to_void", "available_to_capture", "available_to_refund")
SETTINGS = IngestSettings(settle=timedelta(0))
#: Both servers build the same world only from the same end of history.
NOW = "2026-03-02T12:00:00Z"


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SandboxServer]]:
    tidy_config, real_config = sandbox_config(now=NOW), sandbox_config(now=NOW, real_shapes=True)
    with SandboxServer(tidy_config) as tidy, SandboxServer(real_config) as real:
        yield {"tidy": tidy, "real": real}


def _now(server: SandboxServer) -> datetime:
    now = parse_ts(requests.get(f"{server.base_url}/_sandbox/clock", timeout=10).json()["now"])
    assert now is not None
    return now


def _ingest(server: SandboxServer, url: str) -> tuple[sa.Engine, dict[str, Any], Any]:
    engine = migrated_engine(url)
    client = client_for(server)
    out = ingest.run_all(client, engine, SETTINGS, now=_now(server), run_id="r1")
    return engine, out, client


def _rows(engine: sa.Engine, table: sa.Table, key: str) -> dict[str, dict[str, Any]]:
    drop = {"first_seen_at", "updated_at", "run_id", "source"}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table)).mappings().all()
    return {r[key]: {k: v for k, v in r.items() if k not in drop} for r in rows}


def test_real_shapes_land_like_tidy_ones_with_unknown_balances_null(servers, warehouse_factory) -> None:
    tidy_engine, _, _ = _ingest(servers["tidy"], warehouse_factory())
    engine, out, client = _ingest(servers["real"], warehouse_factory())

    # the reports step read offset-less created_on values and moved its watermark
    assert out["ingest_reports"]["fetched"] > 0
    assert out["ingest_reports"]["watermark"] is not None

    # no /actions call for the search pages: status-only actions explained the stated totals
    assert out["ingest_payments"]["actions_fetched_for"] == 0
    assert client.stats.count("payments.actions") == out["refresh_referenced_payments"]["actions_fetched_for"]

    tidy = _rows(tidy_engine, schema.stg_payments, "payment_id")
    real = _rows(engine, schema.stg_payments, "payment_id")
    assert real.keys() == tidy.keys()
    assert len(real) > 200
    for pid, row in real.items():
        assert row["status"] in statuses.PAYMENT_STATUSES  # Title Case, not search's lower case
        assert row["payment_type"] in statuses.PAYMENT_TYPES
        for name in UNSTATED:
            assert row[f"{name}_minor"] is None, (pid, name)  # unknown, never 0
        expected = {k: v for k, v in tidy[pid].items() if k not in {f"{n}_minor" for n in UNSTATED}}
        assert {k: v for k, v in row.items() if k in expected} == expected, pid

    # actions: the same gateway actions, approval read from `status`; pseudo-actions (Dispute,
    # Authentication, with timestamps that do not parse) are not staged at all
    tidy_actions = _rows(tidy_engine, schema.stg_payment_actions, "action_id")
    real_actions = _rows(engine, schema.stg_payment_actions, "action_id")
    assert real_actions.keys() == tidy_actions.keys()
    assert {r["status"] for r in real_actions.values()} == {"Approved", "Declined"}
    for action_id, row in tidy_actions.items():
        got = real_actions[action_id]
        assert got["approved"] == row["approved"], action_id
        assert (got["amount_minor"], got["processed_on"], got["response_code"]) == (
            row["amount_minor"],
            row["processed_on"],
            row["response_code"],
        )

    # disputes: the slim list items land; what they leave out is NULL, the rest agrees
    tidy_disputes = _rows(tidy_engine, schema.stg_disputes, "dispute_id")
    real_disputes = _rows(engine, schema.stg_disputes, "dispute_id")
    assert real_disputes.keys() == tidy_disputes.keys()
    assert real_disputes
    slim = {"entity_id", "sub_entity_id", "processing_channel_id", "reason_code", "payment_action_id"}
    slim |= {"is_ce_candidate"}
    for did, row in real_disputes.items():
        assert all(row[c] is None for c in slim), did
        assert {k: v for k, v in row.items() if k not in slim} == {
            k: v for k, v in tidy_disputes[did].items() if k not in slim
        }
    tidy_engine.dispose()
    engine.dispose()


def test_the_client_reads_the_real_detail_views(servers) -> None:
    client = client_for(servers["real"])
    dispute = next(iter(client.list_disputes(limit=5)))
    assert "reason_code" not in dispute
    assert "entity_id" not in dispute
    details = client.get_dispute(dispute["id"])
    assert details["payment"]["id"] == dispute["payment_id"]
    assert details["payment"]["arn"] == dispute["payment_arn"]
    assert details["reason_code"]
    payment = client.get_payment(dispute["payment_id"])
    assert not {"balances", "amount_requested", "processed_on"} & set(payment)
    # a one-page listing whose next link is its own self link ends after one call
    client.stats.reset()
    items = list(client.list_financial_actions(payment_id=dispute["payment_id"], limit=100))
    assert items
    assert all(isinstance(i["response_code"], int) for i in items)
    assert client.stats.count("financial_actions.list") == 1


# ------------------------------------------------------------------ the explain rule, unit
def _payment(balances: dict[str, int] | None, *actions: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "pay_1", "actions": list(actions)}
    if balances is not None:
        out["balances"] = balances
    return out


def _act(kind: str, amount: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"act_{kind}",
        "type": kind,
        "amount": amount,
        "processed_on": "2026-01-01T00:00:00Z",
    } | extra


PSEUDO = {"id": "dsp_1", "type": "Dispute", "processed_on": "2023-08-25T14:15:24.3448464ZZ", "status": "Lost"}


@pytest.mark.parametrize(
    ("payment", "explained"),
    [
        # the search fixture's shape: status instead of approved, three totals, a pseudo-action
        (
            _payment(
                {"total_authorized": 100, "total_captured": 60, "total_refunded": 0},
                PSEUDO,
                _act("Capture", 60, status="Approved"),
                _act("Authorization", 100, status="Approved"),
                _act("Authorization", 100, status="Pending", id="act_p"),
            ),
            True,
        ),
        # a declined refund moves nothing
        (
            _payment(
                {"total_authorized": 100, "total_refunded": 0},
                _act("Authorization", 100, status="approved"),
                _act("Refund", 10, status="Declined"),
            ),
            True,
        ),
        # the totals disagree with the approved actions: ask /actions
        (_payment({"total_captured": 50}, _act("Capture", 60, status="Approved")), False),
        # no total stated at all (GET without balances): nothing to check against
        (_payment(None, _act("Authorization", 100, status="Approved")), False),
        # summary actions carry no amount
        (_payment({"total_authorized": 100}, {"id": "act_1", "type": "Authorization"}), False),
        # neither approved nor a status: /actions has the flag
        (_payment({"total_authorized": 100}, _act("Authorization", 100)), False),
        # the tidy shape still works
        (
            _payment(
                {"total_authorized": 100, "total_voided": 100},
                _act("Void", 100, approved=True),
                _act("Authorization", 100, approved=True),
            ),
            True,
        ),
    ],
)
def test_search_actions_explain_the_balances_they_can(payment: dict[str, Any], explained: bool) -> None:
    assert actions_explain_balances(payment) is explained
