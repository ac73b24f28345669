"""Captures on fulfilment release, for manual-capture channels, exactly once (docs/captures.md)."""
