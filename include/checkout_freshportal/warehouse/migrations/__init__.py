"""Alembic migrations of the warehouse, shipped in the package and run by ``migrate.upgrade``."""
