"""Progress bars for long work when a person watches a terminal; nothing at all otherwise (cron, CI).

``Steps`` is what the library calls back (``advance(label, n)``); the command line decides whether it
draws. Logs stay structlog's: a bar is written to stderr and vanishes when the work ends.
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
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Steps(Protocol):
    """Receives progress: ``n`` more units of the task called ``label`` (``total`` when known)."""

    def __call__(self, label: str, n: int, total: int | None = None) -> None: ...


def _quiet(label: str, n: int, total: int | None = None) -> None:
    """Progress nobody watches."""


@contextmanager
def bars(console: Console | None = None) -> Iterator[Steps]:
    """A ``Steps`` that draws one bar per label on a terminal, and does nothing elsewhere."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield _quiet
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def step(label: str, n: int, total: int | None = None) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            elif total is not None:
                progress.update(tasks[label], total=total)
            progress.advance(tasks[label], n)

        yield step
