"""Checkout.com → warehouse: payments, actions, disputes and report files, incrementally.

``service`` runs the steps (DAG ``checkout_ingest``); ``settings`` holds their knobs.
"""
