from ingest_fixtures import sandbox  # noqa: F401  (fixture)
