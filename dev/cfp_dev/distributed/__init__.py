"""``make up-distributed``: the docker-compose topology (CeleryExecutor, two workers) as plain processes.

Docs: docs/distributed.md.
"""
