"""Hooks: an Airflow Connection in, a library client out (built lazily, cached per hook)."""
