from refunds_fixtures import refund_world  # noqa: F401  (fixture)
