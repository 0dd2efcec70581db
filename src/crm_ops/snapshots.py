"""The current snapshots a state file points at, read as polars frames by system and entity (what the
polars engine checks and matches), and the pull behind each (a plan's header).

``split_frames`` leaves out the tables too large to hold whole: an entity outside ``whole`` (an activity
table, say: ``crm_ops.engines.profile_snapshots`` keeps whole what matching reads) whose snapshot has more
than ``chunk_rows`` rows comes back as its snapshot's files (``crm_ops.layered``), which the rules read a
chunk at a time (``crm_ops.rules.chunks``) and a plan reads only the columns it counts from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from crm_ops.config import Profile
from crm_ops.config_tables import CHUNK_ROWS
from crm_ops.errors import ConfigError
from crm_ops.layered import Snapshot
from crm_ops.schema.entities import ENTITY_NAMES
from crm_ops.state import State


@dataclass(frozen=True)
class Snapshots:
    """The current snapshots: ``frames`` held in memory, ``large`` (their files) read a chunk at a time."""

    frames: dict[str, dict[str, pl.DataFrame]]
    large: dict[str, dict[str, Snapshot]] = field(default_factory=dict)


def split_frames(
    state: State, *, whole: frozenset[str] = frozenset(ENTITY_NAMES), chunk_rows: int = CHUNK_ROWS
) -> Snapshots:
    """The current snapshots, those of entities outside ``whole`` with more than ``chunk_rows`` rows left
    on disk (``Snapshots.large``), the others read."""
    out = Snapshots({}, {})
    for c in state.all_current():
        if c.entity not in whole and (c.rows or 0) > chunk_rows:
            out.large.setdefault(c.system, {})[c.entity] = c.snapshot
        else:
            out.frames.setdefault(c.system, {})[c.entity] = c.snapshot.read()
    return out


def current_frames(state: State) -> dict[str, dict[str, pl.DataFrame]]:
    """The current snapshot of every pulled entity in a state file, by system."""
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for c in state.all_current():
        frames.setdefault(c.system, {})[c.entity] = c.snapshot.read()
    return frames


def snapshot_versions(state: State) -> dict[str, str]:
    """The pull id behind each current snapshot (``system.Entity`` -> pull id), for a plan's header."""
    return {f"{c.system}.{c.entity}": c.pull_id for c in state.all_current()}


def snapshot_frames(profile: Profile) -> dict[str, dict[str, pl.DataFrame]]:
    """The current snapshot of every pulled entity, by system."""
    return read_snapshots(profile, lambda state: Snapshots(current_frames(state))).frames


def read_snapshots(profile: Profile, read: Callable[[State], Snapshots]) -> Snapshots:
    """``read`` of the profile's state file, or a ``ConfigError`` when nothing was pulled yet."""
    state_file = profile.state_dir / "state.sqlite"
    if not state_file.exists():
        raise ConfigError(f"{profile.state_dir}: nothing pulled yet; run `crm-ops pull` first")
    state = State(state_file)
    try:
        found = read(state)
    finally:
        state.close()
    if not found.frames and not found.large:
        raise ConfigError(f"{profile.state_dir}: nothing pulled yet; run `crm-ops pull` first")
    return found
