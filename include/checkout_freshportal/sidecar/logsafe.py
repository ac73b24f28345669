"""Untrusted text made safe for one sidecar log line.

The function lives in :mod:`checkout_freshportal.logsafe` (the bottom layer, so ingestion can
escape quarantine reasons the same way); this module keeps the sidecar's imports as they were.
"""

from __future__ import annotations

from checkout_freshportal.logsafe import LOG_TEXT_LIMIT, safe

__all__ = ["LOG_TEXT_LIMIT", "safe"]
