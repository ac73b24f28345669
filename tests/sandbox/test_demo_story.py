"""The demo's story: plain numbered lines without a terminal, a rich bar and rules with one."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from cfp_dev.demo.story import DEMO_STEPS, Story


def test_without_a_terminal_one_plain_line_per_step(capsys: pytest.CaptureFixture[str]) -> None:
    with Story(tty=False) as story:
        for title in DEMO_STEPS:
            story.section(title)
            print(f"inside {title}")
        story.finish()
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # no colour, no cursor movement
    steps = [line for line in out.splitlines() if line.startswith("[demo] step ")]
    assert steps == [f"[demo] step {n}/{len(DEMO_STEPS)}: {t}" for n, t in enumerate(DEMO_STEPS, 1)]
    assert out.index("step 3/10: ingestion") < out.index("inside ingestion") < out.index("step 4/10")
    assert story.done == len(DEMO_STEPS)


def test_on_a_terminal_a_rule_per_section_and_the_bar_counts_them() -> None:
    buffer = io.StringIO()
    story = Story(tty=True)
    story._console = Console(file=buffer, force_terminal=True, width=100)
    with story:
        story.section("scenario generated")
        story.section("stack started")
        assert story._progress is not None
        assert story._task is not None
        assert story._progress.tasks[0].completed == 1
        story.finish()
        assert story._progress.tasks[0].completed == len(DEMO_STEPS)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buffer.getvalue())
    assert "1/10  scenario generated" in text
    assert "2/10  stack started" in text
