from cap_fixtures import world  # noqa: F401  (fixture)
