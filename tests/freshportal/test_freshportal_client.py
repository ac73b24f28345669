"""FreshPortalClient against the live simulator: auth, feeds, retries, writes, notes, export."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import requests

from checkout_freshportal.freshportal import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PaymentStatusUpdate,
    RefundOutcome,
    ServerError,
    ValidationError,
    load_mapping,
)

from waiting import wait_until


def _state(server) -> dict:
    return requests.get(f"{server.base_url}/_sandbox/state", timeout=5).json()


def _advance_lifetimes(server, seconds: float) -> None:
    """Age the sandbox's tokens and signed URLs instead of sleeping through their lifetime."""
    r = requests.post(f"{server.base_url}/_sandbox/lifetimes/advance", json={"seconds": seconds}, timeout=5)
    assert r.status_code == 200, r.text


# ====================================================================== auth
def test_authenticates_once_and_reuses_the_token(client, sandbox) -> None:
    client.get_orders_page(None, 5)
    client.get_orders_page(None, 5)
    assert client.stats.count("auth") == 1
    assert sandbox.state.counters["auth.tokens_issued"] == 1


def test_reauthenticates_once_after_the_token_expired(client, sandbox) -> None:
    first = client.get_orders_page(None, 3)
    assert requests.post(f"{sandbox.base_url}/_sandbox/tokens/expire", timeout=5).json()["expired"] == 1
    again = client.get_orders_page(None, 3)
    assert [o.order_id for o in again.items] == [o.order_id for o in first.items]
    assert client.stats.token_refreshes == 1
    assert client.stats.count("auth") == 2
    assert client.stats.statuses.get(401) == 1


def test_token_ttl_expiry(make_sandbox, make_client) -> None:
    server = make_sandbox(seed=3, order_count=5, token_ttl_seconds=60)
    client = make_client(server)
    client.get_order(client.get_orders_page(None, 1).items[0].order_id)
    _advance_lifetimes(server, 61)
    assert len(list(client.iter_orders_changed(None))) == 5
    assert client.stats.token_refreshes == 1


def test_wrong_api_key_is_refused_without_echoing_it(sandbox, make_client) -> None:
    client = make_client(sandbox, api_key="fp_wrong_key_123456")
    with pytest.raises(AuthenticationError) as info:
        client.get_orders_page(None)
    assert info.value.status == 401
    assert "fp_wrong_key_123456" not in str(info.value)
    assert "not shown" in str(info.value)
    assert "fp_wrong_key_123456" not in repr(client.settings)


# ====================================================================== change feeds
def test_orders_feed_pages_through_everything_once(client, sandbox) -> None:
    feed = client.iter_orders_changed(None, limit=7)
    orders = list(feed)
    assert feed.pages == 6
    assert feed.exhausted
    state = {o["id"]: o for o in _state(sandbox)["orders"]}
    assert sorted(int(o.order_id) for o in orders) == sorted(state)
    for order in orders:  # money survives the wire exactly, in every currency
        assert order.amount_minor == state[int(order.order_id)]["_sandbox"]["amount_minor"]
    assert {o.currency for o in orders} >= {"EUR", "GBP", "USD", "SEK", "JPY", "KWD"}
    assert all(o.order_number.startswith("FP-1") for o in orders)
    assert sum(o.confirmed for o in orders) == sum(
        o.status in {"confirmed", "picking", "delivered", "invoiced"} for o in orders
    )
    # Resuming from the stored cursor: nothing new.
    assert list(client.iter_orders_changed(feed.next_cursor)) == []


def test_orders_feed_resumes_with_only_the_changed_orders(client, sandbox) -> None:
    feed = client.iter_orders_changed(None)
    orders = {o.order_number: o for o in feed}
    cursor = feed.next_cursor
    draft = next(o for o in orders.values() if o.status == "draft")
    requests.post(
        f"{sandbox.base_url}/_sandbox/orders/{draft.order_number}/confirm", timeout=5
    ).raise_for_status()
    requests.patch(
        f"{sandbox.base_url}/_sandbox/orders/{draft.order_number}", json={"amount_minor": 123456}, timeout=5
    ).raise_for_status()
    changed = list(client.iter_orders_changed(cursor))
    assert [o.order_number for o in changed] == [draft.order_number]
    assert changed[0].confirmed
    assert changed[0].confirmed_at is not None
    assert changed[0].amount_minor == 123456
    assert changed[0].version == draft.version + 2


def test_feed_cursor_only_advances_past_fully_taken_pages(client) -> None:
    feed = client.iter_orders_changed(None, limit=10)
    for _ in range(10):
        next(feed)
    assert feed.next_cursor is None  # page 1 handed out, not yet acknowledged by asking for more
    next(feed)
    page1 = client.get_orders_page(None, 10)
    assert feed.next_cursor == page1.next_cursor


def test_refund_requests_feed_and_outcome(make_sandbox, make_client) -> None:
    orders = [
        {"order_number": f"FP-2000{i}", "currency": cur, "amount_minor": amt, "status": "invoiced"}
        for i, (cur, amt) in enumerate([("EUR", 10000), ("JPY", 14000), ("KWD", 12345)])
    ]
    refunds = [
        {"order_number": "FP-20000", "amount_minor": 2500, "reason": "damaged_goods"},
        {"order_number": "FP-20001", "amount_minor": 14000},
        {"order_number": "FP-20002", "amount_minor": 345},
    ]
    server = make_sandbox(orders=orders, refund_requests=refunds)
    client = make_client(server)
    feed = client.iter_refund_requests_changed(None, limit=2)
    got = list(feed)
    assert feed.pages == 2
    assert [(r.order_number, r.amount_minor, r.currency, r.state) for r in got] == [
        ("FP-20000", 2500, "EUR", "requested"),
        ("FP-20001", 14000, "JPY", "requested"),
        ("FP-20002", 345, "KWD", "requested"),
    ]
    assert all(r.requested_at is not None and r.requested_at.tzinfo is UTC for r in got)
    outcome = RefundOutcome(
        "succeeded", 345, "KWD", payment_id="pay_x", refund_id="act_y", processed_at=datetime.now(UTC)
    )
    updated = client.write_refund_outcome(got[2].refund_request_id, outcome)
    assert updated.state == "succeeded"
    assert updated.outcome is not None
    assert updated.outcome.refunded_amount_minor == 345
    assert updated.outcome.refund_id == "act_y"
    again = client.write_refund_outcome(got[2].refund_request_id, outcome)
    assert again.version == updated.version  # idempotent: the repeat changed nothing
    changed = list(client.iter_refund_requests_changed(feed.next_cursor))
    assert [r.refund_request_id for r in changed] == [got[2].refund_request_id]


def test_invalid_cursor_is_a_validation_error(client) -> None:
    with pytest.raises(ValidationError) as info:
        client.get_orders_page("bm90LWEtY3Vyc29y")
    assert info.value.status == 400
    assert info.value.code == "invalid_cursor"
    assert info.value.request_id


# ====================================================================== retries
def test_feeds_complete_under_injected_429_and_500(make_sandbox, make_client) -> None:
    server = make_sandbox(seed=11, order_count=60, fault_429_share=0.25, fault_500_share=0.15, fault_seed=5)
    client = make_client(server, max_retries=8)
    orders = list(client.iter_orders_changed(None, limit=5))
    assert len({o.order_id for o in orders}) == 60
    refunds = list(client.iter_refund_requests_changed(None, limit=2))
    assert len(refunds) == len(server.state.refunds)
    assert client.stats.retries > 0
    assert client.stats.statuses.get(429, 0) > 0
    assert client.stats.statuses.get(500, 0) > 0


def test_read_timeouts_are_retried(make_sandbox, make_client) -> None:
    server = make_sandbox(seed=2, order_count=4, slow_seconds=0.6)
    client = make_client(server, timeout=(2.0, 0.2))
    client.authenticate()
    server.state.faults.queue("slow", "GET", "/v1/orders")
    assert len(list(client.iter_orders_changed(None))) == 4
    assert client.stats.retries == 1


def test_errors_surface_after_the_retry_budget(make_sandbox, make_client) -> None:
    server = make_sandbox(seed=2, order_count=2)
    client = make_client(server, max_retries=2)
    client.authenticate()
    server.state.faults.queue("500", "GET", "/v1/orders", count=3)
    with pytest.raises(ServerError) as info:
        client.get_orders_page(None)
    assert info.value.status == 500
    assert info.value.request_id
    assert client.stats.count("orders.list") == 3


def test_not_found_is_not_retried(client) -> None:
    with pytest.raises(NotFoundError) as info:
        client.get_order("999999999")
    assert info.value.status == 404
    assert info.value.code == "not_found"
    assert client.stats.count("orders.get") == 1


# ====================================================================== payment status
def _first_confirmed(client):
    return next(o for o in client.iter_orders_changed(None) if o.confirmed)


def test_write_payment_status_is_idempotent(client, sandbox) -> None:
    order = _first_confirmed(client)
    update = PaymentStatusUpdate.for_checkout_status(
        "Captured",
        client.mapping,
        currency=order.currency,
        amount_paid_minor=order.amount_minor,
        amount_refunded_minor=0,
        refund_state="none",
        payment_link_id="pl_123",
        payment_link_url="https://pay.sandbox.checkout.com/link/pl_123",
        payment_id="pay_abc",
        status_changed_at=datetime(2024, 5, 6, 8, 15, tzinfo=UTC),
        sequence=3,
    )
    first = client.write_payment_status(order.order_id, update)
    before = _state(sandbox)
    second = client.write_payment_status(order.order_id, update)
    after = _state(sandbox)
    assert first == second
    view = next(o for o in after["orders"] if str(o["id"]) == order.order_id)
    assert view["payment"] == next(o for o in before["orders"] if str(o["id"]) == order.order_id)["payment"]
    assert view["_sandbox"]["payment_puts"] == 2
    assert len(view["_sandbox"]["payment_history"]) == 1
    assert view["payment"]["payment_status"] == "paid"
    assert view["payment"]["psp_payment_id"] == "pay_abc"
    reread = client.get_order(order.order_id)
    assert reread.payment is not None
    assert reread.payment.amount_paid_minor == order.amount_minor
    assert reread.payment.status_changed_at == datetime(2024, 5, 6, 8, 15, tzinfo=UTC)


def test_write_payment_status_retries_and_refuses_stale_sequence(make_sandbox, make_client) -> None:
    server = make_sandbox(orders=[{"order_number": "FP-300001", "currency": "JPY", "amount_minor": 14000}])
    client = make_client(server)
    order_id = client.get_orders_page(None).items[0].order_id
    server.state.faults.queue("500_after_commit", "PUT", "/payment")
    server.state.faults.queue("429", "PUT", "/payment")
    newer = PaymentStatusUpdate(status="paid", currency="JPY", amount_paid_minor=14000, sequence=5)
    assert client.write_payment_status(order_id, newer).amount_paid_minor == 14000
    assert client.stats.count("orders.payment.put") == 3
    assert len(server.state.orders[int(order_id)].payment_history) == 1
    with pytest.raises(ConflictError) as info:
        client.write_payment_status(order_id, PaymentStatusUpdate(status="authorized", sequence=4))
    assert info.value.status == 409
    assert info.value.code == "stale_sequence"
    assert client.get_order(order_id).payment.status == "paid"


# ====================================================================== notes
def test_create_note_twice_gives_one_note(client, sandbox) -> None:
    order = _first_confirmed(client)
    a = client.create_note(order.order_id, "Payment link expired unpaid", "cfp:exc:link-expired:1")
    b = client.create_note(order.order_id, "Payment link expired unpaid", "cfp:exc:link-expired:1")
    assert a == b
    assert [n.external_ref for n in client.list_notes(order.order_id)] == ["cfp:exc:link-expired:1"]
    assert client.stats.count("notes.create") == 1
    assert client.stats.notes_deduplicated == 1


def test_create_note_not_duplicated_after_500_after_commit(client, sandbox) -> None:
    order = _first_confirmed(client)
    sandbox.state.faults.queue("500_after_commit", "POST", "/notes")
    note = client.create_note(order.order_id, "Refund failed: insufficient balance", "cfp:exc:refund:7")
    notes = [n for n in _state(sandbox)["notes"] if str(n["order_id"]) == order.order_id]
    assert len(notes) == 1
    assert notes[0]["external_ref"] == "cfp:exc:refund:7"
    assert note.note_id == str(notes[0]["id"])
    assert client.stats.count("notes.create") == 1  # the failed POST was not repeated
    assert client.stats.statuses.get(500) == 1


def test_create_note_retries_when_the_500_came_before_commit(client, sandbox) -> None:
    order = _first_confirmed(client)
    sandbox.state.faults.queue("500", "POST", "/notes")
    client.create_note(order.order_id, "Chargeback received", "cfp:exc:cb:1")
    assert len(client.list_notes(order.order_id)) == 1
    assert client.stats.count("notes.create") == 2


def test_create_note_after_timeout_finds_the_stored_note(make_sandbox, make_client) -> None:
    server = make_sandbox(seed=4, order_count=3, slow_seconds=0.5)
    client = make_client(server, timeout=(2.0, 0.2))
    order_id = client.get_orders_page(None).items[0].order_id
    server.state.faults.queue("slow", "POST", "/notes")
    client.create_note(order_id, "Payment declined", "cfp:exc:declined:1")
    # let the slow answer finish before counting
    wait_until(lambda: server.state.counters["fault.slow.answered"] == 1, 5, "the slow answer to be sent")
    assert len(server.state.notes) == 1


def test_create_note_never_posts_blind_when_the_check_fails(client, sandbox, monkeypatch) -> None:
    order = _first_confirmed(client)
    real_find = client.find_note
    calls = {"n": 0}

    def find_then_fail(order_id, ref):
        calls["n"] += 1
        if calls["n"] > 1:
            raise ServerError("look-up failed", status=500)
        return real_find(order_id, ref)

    monkeypatch.setattr(client, "find_note", find_then_fail)
    sandbox.state.faults.queue("500_after_commit", "POST", "/notes")
    with pytest.raises(ServerError):
        client.create_note(order.order_id, "Payout mismatch", "cfp:exc:payout:1")
    assert client.stats.count("notes.create") == 1
    assert len(sandbox.state.notes) == 1


def test_create_note_ignores_a_typed_note_without_order_id(client, sandbox) -> None:
    """A person's note in the listing lacks the order id; our note is still found and not doubled."""
    order = _first_confirmed(client)
    sandbox.state.type_note(order.order_id, "Klant belt terug")
    first = client.create_note(order.order_id, "Payment link expired unpaid", "cfp:exc:typed:1")
    again = client.create_note(order.order_id, "Payment link expired unpaid", "cfp:exc:typed:1")
    assert first == again
    assert first.order_id == order.order_id
    assert client.stats.count("notes.create") == 1


def test_sandbox_accepts_duplicate_creates(client, sandbox) -> None:
    """The quirk the client guards against: the server itself stores duplicates."""
    order_id = client.get_orders_page(None).items[0].order_id
    token_headers = {"Authorization": client._tokens.authorization()}
    for _ in range(2):
        requests.post(
            f"{sandbox.base_url}/v1/orders/{order_id}/notes",
            json={"text": "same", "external_ref": "dup", "category": "payment_info"},
            headers=token_headers,
            timeout=5,
        ).raise_for_status()
    assert len(client.list_notes(order_id)) == 2
    assert client.find_note(order_id, "dup").note_id == min(n.note_id for n in client.list_notes(order_id))


# ====================================================================== export
def test_export_downloads_without_authorization_and_iterates_rows(client, sandbox) -> None:
    with client.export(date(2000, 1, 1)) as export:
        assert export.path is not None
        assert export.path.exists()
        tables = export.tables
        rows = list(export)
        order_rows = list(export.rows("order"))
        path = export.path
    assert not path.exists()  # temp file removed on exit
    assert {"order", "order_line", "debtor"} <= set(tables)
    state = _state(sandbox)
    assert len(order_rows) == len(state["orders"])
    assert sum(1 for t, _ in rows if t == "order_line") == sum(len(o["lines"]) for o in state["orders"])
    first = order_rows[0][1]
    assert set(first) >= {"id", "order_number", "order_date", "total_incl_vat", "currency_code"}
    assert sandbox.state.counters["exports.downloaded"] == 1
    assert client.stats.count("export.download") == 1


def test_signed_export_url_refuses_authorization_and_expires(make_sandbox, make_client) -> None:
    server = make_sandbox(seed=5, order_count=2, export_url_ttl_seconds=60)
    client = make_client(server)
    url = client.get_export_url(date(2000, 1, 1))
    assert "Authorization" not in url
    refused = requests.get(url, headers={"Authorization": "Bearer x"}, timeout=5)
    assert refused.status_code == 400
    assert b"Only one auth mechanism" in refused.content
    assert requests.get(url, timeout=5).status_code == 200
    _advance_lifetimes(server, 62)
    expired = requests.get(url, timeout=5)
    assert expired.status_code == 403
    assert b"expired" in expired.content
    with client.export(date(2000, 1, 1)) as export:  # a fresh URL per download
        assert len(list(export.rows("order"))) == 2


def test_export_since_a_future_day_is_empty(client) -> None:
    with client.export(date(2999, 1, 1)) as export:
        assert export.tables == []
        assert list(export) == []


def test_export_download_retries_storage_errors(client, sandbox) -> None:
    sandbox.state.faults.queue("500", "GET", "/_storage/")
    with client.export(date(2000, 1, 1)) as export:
        assert export.tables
    assert client.stats.count("export.url") == 2
    assert client.stats.count("export.download") == 2


# ====================================================================== tenant formats
def test_minor_int_tenant_is_a_config_change(make_sandbox, make_client, tmp_path) -> None:
    server = make_sandbox(seed=9, order_count=12, amount_format="minor_int")
    path = tmp_path / "tenant.json"
    path.write_text('{"amount_format": "minor_int"}')
    client = make_client(server, mapping=load_mapping(path))
    orders = list(client.iter_orders_changed(None))
    state = {o.order_id: o.amount_minor for o in server.state.orders.values()}
    assert {int(o.order_id): o.amount_minor for o in orders} == state
    order = orders[0]
    client.write_payment_status(
        order.order_id,
        PaymentStatusUpdate(status="paid", currency=order.currency, amount_paid_minor=order.amount_minor),
    )
    assert server.state.orders[int(order.order_id)].payment["amount_paid_minor"] == order.amount_minor
