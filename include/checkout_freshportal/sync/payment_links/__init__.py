"""Confirmed FreshPortal order → one Checkout.com Payment Link per order version, written back.

``service`` runs a pass (DAG ``freshportal_payment_requests``); ``store`` owns the intent rows
(the exactly-once outbox); ``body`` builds the request; ``settings`` and ``errors`` as named.
"""
