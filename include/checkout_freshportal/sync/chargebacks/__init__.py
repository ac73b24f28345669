"""Chargebacks: the dispute signal on the FreshPortal order, evidence-deadline notes (docs/chargebacks.md)."""
