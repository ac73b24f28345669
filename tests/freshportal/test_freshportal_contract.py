"""docs/freshportal-openapi.yaml is the contract: every assumption marked, the simulator conforms."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from cfp_dev.sandbox.freshportal import FreshPortalSandboxConfig, FreshPortalSandboxState

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "freshportal-openapi.yaml"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def _validator(spec: dict[str, Any], schema_name: str) -> Draft202012Validator:
    root = {**spec, "$ref": f"#/components/schemas/{schema_name}"}
    return Draft202012Validator(root)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        out = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        for value in node.values():
            out |= _refs(value)
        return out
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def test_every_operation_and_schema_says_whether_it_is_assumed(spec) -> None:
    assert spec["openapi"].startswith("3.1")
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                assert isinstance(op.get("x-assumption"), bool), f"{method.upper()} {path}"
                assert op.get("description"), f"{method.upper()} {path} explains known vs assumed"
                if op["x-assumption"] is False:
                    assert op.get("x-source"), f"{method.upper()} {path} cites its source"
    for name, schema in spec["components"]["schemas"].items():
        assert isinstance(schema.get("x-assumption"), bool), name
    for ref in _refs(spec):
        node: Any = spec
        for part in ref.removeprefix("#/").split("/"):
            node = node[part]


def test_the_contract_is_valid_openapi(spec) -> None:
    """Checked by an independent validator, not only by the readings of it in this file: tools
    that generate clients or docs from the contract refuse what OpenAPI 3.1 forbids (for example
    an extension beside a response's $ref)."""
    validate_openapi(spec)


def test_the_contract_has_the_operations_the_project_needs(spec) -> None:
    ops = {(m.upper(), p) for p, item in spec["paths"].items() for m in item if m in {"get", "post", "put"}}
    assert ops == {
        ("POST", "/v1/auth"),
        ("GET", "/v1/orders"),
        ("GET", "/v1/orders/{order_id}"),
        ("PUT", "/v1/orders/{order_id}/payment"),
        ("GET", "/v1/orders/{order_id}/notes"),
        ("POST", "/v1/orders/{order_id}/notes"),
        ("GET", "/v1/refund-requests"),
        ("GET", "/v1/refund-requests/{refund_request_id}"),
        ("PUT", "/v1/refund-requests/{refund_request_id}/outcome"),
        ("GET", "/v1/fulfilment-releases"),
        ("GET", "/v1/fulfilment-releases/{release_id}"),
        ("GET", "/v2/export"),
    }
    assert spec["paths"]["/v1/orders/{order_id}/notes"]["post"]["x-idempotent"] is False


def test_the_simulator_answers_in_the_documented_shapes(spec) -> None:
    state = FreshPortalSandboxState(FreshPortalSandboxConfig(seed=3, order_count=25))
    order = next(iter(state.orders.values()))
    state.put_payment(
        order.order_id,
        {
            "payment_status": "partially_refunded",
            "currency_code": order.currency,
            "amount_paid": state.render.amount(order.amount_minor, order.currency),
            "amount_refunded": state.render.amount(1, order.currency),
            "refund_state": "partial",
            "payment_link_url": "https://pay.example/pl_1",
            "psp_payment_id": "pay_1",
            "status_changed_at": "2024-05-06T10:15:00Z",
            "sequence": 2,
        },
    )
    state.create_note(order.order_id, {"text": "x", "external_ref": "r", "category": "payment_exception"})
    rr = next(iter(state.refunds.values()))
    state.put_outcome(rr.refund_request_id, {"status": "failed", "failure_reason": "insufficient_balance"})

    page = state.list_orders(None, 100)
    _validator(spec, "PageEnvelope").validate(page)
    order_schema = _validator(spec, "Order")
    for item in page["data"]:
        order_schema.validate(item)
    refund_schema = _validator(spec, "RefundRequest")
    for item in state.list_refund_requests(None, 100)["data"]:
        refund_schema.validate(item)
    for note in state.list_notes(order.order_id)["data"]:
        _validator(spec, "Note").validate(note)
    _validator(spec, "OrderPayment").validate(state.get_order(order.order_id)["payment"])


def test_export_tables_match_the_documented_columns(spec) -> None:
    state = FreshPortalSandboxState(FreshPortalSandboxConfig(seed=1, order_count=10, refund_request_count=2))
    order = next(iter(state.orders.values()))
    state.put_payment(order.order_id, {"payment_status": "paid"})
    state.create_note(order.order_id, {"text": "x"})
    url = state.create_export("2000-01-01", "http://127.0.0.1")["export_url"]
    export_id = url.split("/exports/")[1].split(".zip")[0]
    blob = state.fetch_export(export_id, url.split("expires=")[1].split("&")[0], url.split("signature=")[1])
    documented = spec["components"]["schemas"]["ExportTables"]["properties"]
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        names = set(zf.namelist())
        assert names == set(documented)
        for name in names:
            assert zf.read(name).decode().splitlines()[0] == documented[name]["const"]


def test_the_client_writes_the_documented_bodies(spec) -> None:
    from datetime import UTC, datetime

    from checkout_freshportal.freshportal import PaymentStatusUpdate, RefundOutcome, load_mapping
    from checkout_freshportal.freshportal.models import note_body, payment_update_body, refund_outcome_body

    m = load_mapping()
    full = PaymentStatusUpdate(
        status="paid",
        currency="KWD",
        amount_paid_minor=12345,
        amount_refunded_minor=0,
        refund_state="none",
        payment_link_id="pl_1",
        payment_link_url="https://pay.example/pl_1",
        payment_id="pay_1",
        payout_reference="po_1",
        status_changed_at=datetime(2024, 5, 6, tzinfo=UTC),
        sequence=1,
    )
    _validator(spec, "OrderPaymentWrite").validate(payment_update_body(full, m))
    _validator(spec, "OrderPaymentWrite").validate(
        payment_update_body(PaymentStatusUpdate(status="declined"), m)
    )
    outcome = RefundOutcome("succeeded", 100, "EUR", refund_id="act_1", processed_at=datetime.now(UTC))
    _validator(spec, "RefundOutcome").validate(refund_outcome_body(outcome, m))
    _validator(spec, "NoteCreate").validate(note_body("text", "cfp:1", "payment_exception", m))
    from jsonschema import ValidationError as SchemaError

    with pytest.raises(SchemaError, match="order_number"):
        _validator(spec, "Order").validate(
            {"id": 1, "status": "draft", "currency_code": "EUR", "total_incl_vat": "1"}
        )


def test_releases_and_chargebacks_follow_the_contract(spec) -> None:
    from datetime import UTC, datetime

    from checkout_freshportal.freshportal import Chargeback, PaymentStatusUpdate, load_mapping
    from checkout_freshportal.freshportal.models import payment_update_body

    state = FreshPortalSandboxState(FreshPortalSandboxConfig(seed=3, order_count=5))
    order = next(iter(state.orders.values()))
    state.admin_create_release(order.order_number, {"amount_minor": 1, "complete": False})
    page = state.list_fulfilment_releases(None, 10)
    _validator(spec, "PageEnvelope").validate(page)
    for item in page["data"]:
        _validator(spec, "FulfilmentRelease").validate(item)
    cb = Chargeback("dsp_1", 1, order.currency, "lost", evidence_required_by=datetime.now(UTC))
    body = payment_update_body(PaymentStatusUpdate(status="chargeback", chargeback=cb), load_mapping())
    _validator(spec, "OrderPaymentWrite").validate(body)
    state.put_payment(order.order_id, body)
    _validator(spec, "OrderPayment").validate(state.get_order(order.order_id)["payment"])
    from jsonschema import ValidationError as SchemaError

    body["chargeback"]["colour"] = "red"
    with pytest.raises(SchemaError):
        _validator(spec, "OrderPaymentWrite").validate(body)
