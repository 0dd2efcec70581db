"""PLACEHOLDER (replaced by the purge helper's module at merge)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from crm_ops.state import State


@dataclass(frozen=True)
class Trace:
    """What identifies the erased person in our files."""

    ids: frozenset[str]
    values: frozenset[str]


@dataclass
class Purged:
    """Counts by place."""

    problems: list[str] = field(default_factory=list)


def purge_state(state_dir: Path, state: State, trace: Trace) -> Purged:
    """Placeholder."""
    return Purged()


def find_traces(state_dir: Path, values: Iterable[str]) -> list[str]:
    """Placeholder."""
    return []
