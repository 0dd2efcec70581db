"""Progress bars for long work when a person watches a terminal; nothing at all otherwise (cron, CI,
``--quiet``).

``Steps`` is what the library calls back (``advance(label, n)``, with the total when it is known: the
plan's size for apply and undo, Salesforce's ``COUNT()`` for a pull); the command line decides whether
it draws. A task with a total shows a bar, its count and the time left; one without shows a spinner
and the count. Work is sequential, so a task without a total is finished when the next one starts
(its clock stops). Log lines are printed above the bars: while the display is live, rich redirects
stderr, and ``crm_ops.logs`` writes to whatever stderr is at each line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from crm_ops import logs


class Steps(Protocol):
    """Receives progress: ``n`` more units of the task called ``label`` (``total`` when known)."""

    def __call__(self, label: str, n: int, total: int | None = None) -> None: ...


def _quiet(label: str, n: int, total: int | None = None) -> None:
    """Progress nobody watches."""


class _Count(ProgressColumn):
    """``completed/total`` when the total is known, else the count alone."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text(f"{task.completed:,.0f}")
        return MofNCompleteColumn().render(task)


class _Remaining(ProgressColumn):
    """The time left, only where there is a total to measure it by."""

    def render(self, task: Task) -> Text:
        return Text("") if task.total is None else TimeRemainingColumn().render(task)


@contextmanager
def bars(console: Console | None = None) -> Iterator[Steps]:
    """A ``Steps`` that draws one bar per label on a terminal, and does nothing elsewhere."""
    console = console or Console(stderr=True)
    if not console.is_terminal or logs.quiet():
        yield _quiet
        return
    with Progress(
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
        BarColumn(),
        _Count(),
        TimeElapsedColumn(),
        _Remaining(),
        console=console,
        transient=True,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def step(label: str, n: int, total: int | None = None) -> None:
            if label not in tasks:
                for task in progress.tasks:  # sequential work: the one before is over
                    if task.total is None:
                        progress.update(task.id, total=task.completed)
                tasks[label] = progress.add_task(label, total=total)
            elif total is not None:
                progress.update(tasks[label], total=total)
            progress.advance(tasks[label], n)

        yield step
