"""Rebuilding staged data from the raw layer: ``cfp rebuild staging`` and ``cfp replay webhooks``.

Neither calls Checkout.com to rebuild: staged tables come back from ``raw_api_objects`` and
``raw_report_files`` through ingestion's own mappers, loader and upserts; payment status comes back
from ``raw_webhook_events`` through the events service (docs/replay-and-rebuild.md).
"""
