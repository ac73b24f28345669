"""Reconciliation: every FreshPortal order tied to its payments, refunds, chargebacks, fees and
payout, to the minor unit; the discrepancies as exceptions kept across runs; data quality.

Read docs/reconciliation.md for the rules in words finance uses.
"""
