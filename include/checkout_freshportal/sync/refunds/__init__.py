"""Refunds requested in FreshPortal, executed at Checkout.com exactly once (docs/refunds.md)."""
