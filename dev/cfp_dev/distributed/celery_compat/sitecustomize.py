"""Put back ``celery.backends.database.retry`` for the Celery provider, in the distributed stack only.

apache-airflow-providers-celery 3.26.0 imports ``retry`` from ``celery.backends.database`` at the
top of ``celery_executor_utils`` (it decorates the bulk state fetch from the database result
backend), but Celery 5.7 removed that decorator (the backend retries by itself now). With both
versions from the lock, the scheduler cannot load the CeleryExecutor and ``airflow celery
worker`` does not start. This directory is put on ``PYTHONPATH`` of the distributed stack's
Airflow processes only (``cfp_dev.distributed.airflow``); Python imports it at start-up.

The decorator below is Celery 5.6's, unchanged in behaviour: up to ``max_retries`` (3) tries on a
database error. It is installed only when Celery lacks it, so a lock that pins Celery below 5.7
(the real fix; docs/distributed.md) makes this file inert.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any


def _install() -> None:
    try:
        import celery.backends.database as database
    except ImportError:  # no Celery or no SQLAlchemy: nothing to put back
        return
    if hasattr(database, "retry"):
        return
    from sqlalchemy.exc import DatabaseError, InvalidRequestError
    from sqlalchemy.orm.exc import StaleDataError

    logger = logging.getLogger("celery.backends.database")

    def retry(fun: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fun)
        def _inner(*args: Any, **kwargs: Any) -> Any:
            max_retries = kwargs.pop("max_retries", 3)
            for retries in range(max_retries):
                try:
                    return fun(*args, **kwargs)
                except (DatabaseError, InvalidRequestError, StaleDataError):
                    logger.warning(
                        "Failed operation %s.  Retrying %s more times.",
                        fun.__name__,
                        max_retries - retries - 1,
                        exc_info=True,
                    )
                    if retries + 1 >= max_retries:
                        raise
            return None

        return _inner

    database.retry = retry  # type: ignore[attr-defined]


_install()
