"""Stored webhook events → payment status: fold each payment's events through the status machine.

``service`` applies a batch (DAG ``checkout_events``) and refreshes the status outbox.
"""
