"""Use cases, one package each, in the order data flows (docs/architecture.md has the map).

``ingest`` (Checkout.com → warehouse), ``orders`` (FreshPortal orders → warehouse),
``payment_links`` (confirmed order → payment link), ``events`` (webhook events → status via
``status``), ``status_push`` (status → FreshPortal).
"""
