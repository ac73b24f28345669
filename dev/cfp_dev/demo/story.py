"""The demo's terminal story: one short section per step and a progress bar over all of them.

On a terminal, ``rich`` draws a bar (step n of N, elapsed time) at the bottom while every line
the steps print scrolls above it, and each section opens with a rule naming the step. When
stdout is not a terminal (CI logs, ``| tee``), there is no bar and no colour: one plain line per
step, so a log stays readable and greppable. The steps print what they always printed; the story
only frames it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

#: The demo's sections, in the order it runs them.
DEMO_STEPS: tuple[str, ...] = (
    "scenario generated",
    "stack started",
    "ingestion",
    "orders confirmed",
    "payment links",
    "payments and webhooks",
    "statuses in FreshPortal",
    "refunds and disputes",
    "reconciliation",
    "report",
)


class Story:
    """Sections of a known list; ``section(title)`` closes the previous one and opens ``title``."""

    def __init__(self, steps: Sequence[str] = DEMO_STEPS, *, tty: bool | None = None) -> None:
        self.steps = list(steps)
        self.tty = sys.stdout.isatty() if tty is None else tty
        self.done = 0
        self.current: str | None = None
        self._console = Console() if self.tty else None
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Story:
        if self._console is not None:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self._console,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("starting", total=len(self.steps))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def section(self, title: str) -> None:
        """Close the open section (the bar advances) and open ``title``."""
        if self.current is not None:
            self.done += 1
        self.current = title
        number = self.steps.index(title) + 1 if title in self.steps else self.done + 1
        if self._progress is not None and self._task is not None and self._console is not None:
            self._progress.update(self._task, completed=self.done, description=title)
            self._console.rule(f"[bold cyan]{number}/{len(self.steps)}  {title}", align="left")
        else:
            print(f"\n[demo] step {number}/{len(self.steps)}: {title}", flush=True)  # noqa: T201 - CLI output

    def finish(self) -> None:
        """Every section done (the bar full); nothing printed in plain mode."""
        if self.current is not None:
            self.done += 1
            self.current = None
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=len(self.steps), description="done")
