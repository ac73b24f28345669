"""The quarantine verdict: what each step quarantined, and the loud failure after the data landed.

Runs after every step, whatever they did, so a run that quarantined an item or had a step fail
on its own is never reported complete; the failure is permanent because an Airflow retry would
read the same unreadable items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from checkout_freshportal.errors import PermanentError

#: Items named in a failure message; the rest are counted ("and N more").
MESSAGE_ITEMS = 20


@dataclass
class QuarantineTally:
    """What a step did with the quarantine; part of the step's result (XCom, CLI output)."""

    new: list[dict[str, Any]] = field(default_factory=list)  # quarantined by this run
    failed_again: list[dict[str, Any]] = field(default_factory=list)  # retried and failed
    resolved: list[str] = field(default_factory=list)  # "source item_id"
    retried: int = 0
    deferred: int = 0  # retries put off by a transient failure (attempts untouched)
    open: int = 0  # unresolved after the step, parked included
    parked: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> QuarantineTally:
        """A tally back from a step result's dict (an XCom value); unknown keys are ignored."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (data or {}).items() if k in names})

    def must_fail(self) -> bool:
        return bool(self.new or self.failed_again)

    def failed_items(self) -> list[dict[str, Any]]:
        return [*self.new, *self.failed_again]


class QuarantinedItemsError(PermanentError, RuntimeError):
    """Items were quarantined (or failed again) after everything else landed.

    Permanent: the data that could be read is in, and a retry of the task would read the same
    unreadable items. The message names count, ids and reasons (the first 20); ``items`` has the
    same per item. Pickles (Airflow moves exceptions between processes).
    """

    def __init__(
        self, message: str, items: tuple[dict[str, Any], ...] = (), results: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.items = items
        self.results = results  # the steps' results, for a caller that shows them (the CLI)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.items))


def failure_message(tallies: Mapping[str, QuarantineTally], unfinished: Sequence[str] = ()) -> str | None:
    """The loud message for the steps that must fail, or None when none must. ``unfinished``:
    steps that failed on their own (no result), named so the run never looks complete."""
    items = [i for t in tallies.values() for i in t.failed_items()]
    if not items and not unfinished:
        return None
    lines: list[str] = []
    if items:
        new = sum(len(t.new) for t in tallies.values())
        again = sum(len(t.failed_again) for t in tallies.values())
        steps = ", ".join(name for name, t in tallies.items() if t.must_fail())
        lines.append(
            f"{len(items)} item(s) could not be read and are quarantined ({new} new, {again} failed "
            f"again) in {steps}; everything else landed and the watermarks moved:"
        )
        for i in items[:MESSAGE_ITEMS]:
            lines.append(
                f"  {i['source']} {i['item_id']} [{i['state']}, attempt {i['attempts']}]: {i['reason']}"
            )
        if len(items) > MESSAGE_ITEMS:
            lines.append(f"  and {len(items) - MESSAGE_ITEMS} more")
    if unfinished:
        lines.append(
            f"{len(unfinished)} step(s) did not finish: {', '.join(unfinished)} (their own error is in "
            "their log; what they quarantined before failing is in `cfp quarantine list`)."
        )
    lines.append("See `cfp quarantine list`; docs/runbook-ingest.md#quarantine.")
    return "\n".join(lines)


def raise_for_quarantine(
    tallies: Mapping[str, QuarantineTally],
    *,
    results: dict[str, Any] | None = None,
    unfinished: Sequence[str] = (),
) -> None:
    """Fail loudly (after the data landed) when any step quarantined something or a retry failed,
    or (``unfinished``) a step failed on its own: the verdict must not report a run complete."""
    message = failure_message(tallies, unfinished)
    if message is None:
        return
    items = tuple(i for t in tallies.values() for i in t.failed_items())
    if items:
        raise QuarantinedItemsError(message, items, results)
    raise UnfinishedStepsError(message)


class UnfinishedStepsError(PermanentError, RuntimeError):
    """Steps failed on their own (the network, the database, after their retries); the quarantine
    verdict, which runs anyway, fails too so that the run is not reported complete. Permanent:
    a retry of the verdict would read the same results."""
