"""Progress bars draw on a terminal and stay silent elsewhere (cron, CI, pipes)."""

from __future__ import annotations

import io

from rich.console import Console

from crm_ops.progress import bars


def test_bars_draw_each_task_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with bars(console) as step:
        step("applying plan-1", 0, 10)
        for _ in range(10):
            step("applying plan-1", 1)
        step("pulling salesforce Contact", 500)
    text = out.getvalue()
    assert "applying plan-1" in text
    assert "10/10" in text
    assert "pulling salesforce Contact" in text


def test_bars_are_silent_off_a_terminal() -> None:
    out = io.StringIO()
    with bars(Console(file=out, force_terminal=False)) as step:
        step("applying plan-1", 0, 10)
        step("applying plan-1", 10)
    assert out.getvalue() == ""
