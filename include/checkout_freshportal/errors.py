"""The one question a scheduler asks of any failure: can a retry fix it?

An error is *permanent* when repeating the same work with the same inputs must fail the same
way: the API refused our request (a 4xx other than 409/429), the settings do not validate, an
amount or a timestamp cannot be read exactly, the tenant mapping lacks a status. Retrying those
only burns the rate budget and delays the alert, so the Airflow retry policy
(``plugins/dag_policies.py``) fails the task at once.

The marker is a class attribute ``permanent`` (a ``bool``), not a list of class names: a class
renamed or added keeps its behaviour without touching the policy. HTTP errors set it per status
family (``checkout_freshportal.http.errors``); other errors inherit :class:`PermanentError`.
This module imports nothing, so reading the marker costs a DAG file nothing at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class PermanentError(Exception):
    """Mixin base of errors a retry cannot fix; put it first: ``class X(PermanentError, ValueError)``."""

    permanent: ClassVar[bool] = True


@dataclass(frozen=True)
class Problem:
    """One refused key: ``shown`` is the value as given (or ``<hidden>`` for a secret)."""

    key: str
    shown: str
    allowed: str


class SettingsError(PermanentError, ValueError):
    """A setting was refused (a settings group, a client's settings, a Connection's extras).

    One class for every source, so callers and the retry rule catch configuration mistakes one
    way. The message says which key, the value (never a secret) and what is allowed; ``problems``
    carries the same per key when the typed-settings mechanism found several. Permanent:
    retrying with the same configuration fails the same way. Pickles with its problems (Airflow
    moves exceptions between processes).
    """

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.problems))


def is_permanent(error: BaseException) -> bool:
    """Whether a retry of the work that raised ``error`` is pointless.

    Walks the explicit causes (``raise ... from``) and lets the *nearest* exception that
    declares ``permanent`` decide: a wrapper without the marker (``RuntimeError("step failed")
    from MoneyError(...)``) is transparent, while a transient error raised while handling a
    permanent one (a 503 during cleanup) keeps its own verdict.

    The implicit ``__context__`` is never followed: it only says what was being handled when the
    error happened, not why it happened. A driver's "connection reset" raised inside an
    ``except PermanentError:`` block is as transient as anywhere else, and following the context
    would fail it for good instead of retrying.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        marker = getattr(current, "permanent", None)
        if isinstance(marker, bool):
            return marker
        current = current.__cause__
    return False
