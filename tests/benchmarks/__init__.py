"""Benchmarks (``make bench`` = ``python -m tests.benchmarks.run``); each ``bench_*.py`` exposes
``run(args) -> dict``. Results land in ``tests/benchmarks/results/<name>.json``."""
