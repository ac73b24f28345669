"""Matching rules R1-R4: one-to-many, many-to-one (a reference listing invoices), suggestions that
never confirm. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from recon_builders import T, World, exceptions, matches, open_keys, reconcile


def test_reference_metadata_and_split_payments(world: World) -> None:
    world.order("o1", 1000)
    world.payment("pay_1", 1000, reference="ORD-o1")  # R1
    world.order("o2", 1000)
    world.payment("pay_2", 1000, reference="something else", metadata={"order_id": "o2"})  # R2
    world.order("o3", 1000)  # split payment plus a retry that was declined
    world.payment("pay_3a", 600, reference="ORD-o3")
    world.payment("pay_3b", 400, reference="ORD-o3")
    world.payment("pay_3c", 1000, reference="ORD-o3", status="Declined", captured=0)
    result = reconcile(world.engine, "r1")
    assert matches(world.engine) == {
        ("o1", "pay_1", "reference", True, "order:o1"),
        ("o2", "pay_2", "metadata_order_id", True, "order:o2"),
        ("o3", "pay_3a", "reference", True, "order:o3"),
        ("o3", "pay_3b", "reference", True, "order:o3"),
        ("o3", "pay_3c", "reference", True, "order:o3"),
    }
    assert open_keys(world.engine) == set()
    assert result.matches_by_rule == {"reference": 4, "metadata_order_id": 1}
    (eur,) = result.totals
    assert (eur["orders"], eur["orders_matched"], eur["matched_minor"], eur["captured_minor"]) == (
        3,
        3,
        3000,
        3000,
    )


def test_one_payment_for_several_invoices(world: World) -> None:
    world.order("o1", 600, invoices=["INV-1"])
    world.order("o2", 400, invoices=["INV-2", "INV-9"])
    world.payment("pay_x", 1000, reference="INV-1; INV-2")  # pays both invoices at once
    world.order("o3", 500, invoices=["INV-3"])
    world.order("o4", 500, invoices=["INV-4"])
    world.payment("pay_y", 900, reference="INV-3,INV-4")  # 100 short for the two
    world.order("o5", 700, invoices=["INV-5"])
    world.payment("pay_z", 700, reference="INV-5")  # a reference that is one invoice number
    reconcile(world.engine, "r1")
    got = matches(world.engine)
    assert ("o1", "pay_x", "invoice_reference", True, "payment:pay_x") in got
    assert ("o2", "pay_x", "invoice_reference", True, "payment:pay_x") in got
    assert ("o5", "pay_z", "invoice_reference", True, "payment:pay_z") in got
    assert len(got) == 5
    assert open_keys(world.engine) == {"amount_mismatch:order:o3", "amount_mismatch:order:o4"}
    row = exceptions(world.engine)["amount_mismatch:order:o3"]
    assert (row["expected_minor"], row["actual_minor"]) == (1000, 900)  # the group: both orders, one payment
    assert "one payment for 2 orders" in row["detail"]


def test_a_suggestion_never_confirms(world: World) -> None:
    world.order("o1", 1234, email="Ann@Example.com", confirmed_at=T - timedelta(days=5))
    world.payment(
        "pay_1", 1234, reference="typo-ORD-o1", email="ann@example.com", requested_on=T - timedelta(days=4)
    )
    # same customer and currency but another amount: no suggestion
    world.order("o2", 999, email="bob@example.com", confirmed_at=T - timedelta(days=5))
    world.payment(
        "pay_2", 998, reference="typo-2", email="bob@example.com", requested_on=T - timedelta(days=4)
    )
    # same customer and amount, but requested 4 days after the confirmation (window 3 days)
    world.order("o3", 500, email="cy@example.com", confirmed_at=T - timedelta(days=9))
    world.payment(
        "pay_3", 500, reference="typo-3", email="cy@example.com", requested_on=T - timedelta(days=5)
    )
    reconcile(world.engine, "r1")
    assert matches(world.engine) == {("o1", "pay_1", "suggested_customer_amount", False, "order:o1")}
    keys = open_keys(world.engine)
    assert {"missing_payment:order:o1", "orphan_payment:payment:pay_1"} <= keys  # still exceptions
    assert len(keys) == 6
    rows = exceptions(world.engine)
    assert "suggested payment" in rows["missing_payment:order:o1"]["detail"]
    assert "pay_1" in rows["missing_payment:order:o1"]["detail"]
    assert "o1" in rows["orphan_payment:payment:pay_1"]["detail"]
    assert "suggested" not in rows["missing_payment:order:o2"]["detail"]
