"""The current snapshots a state file points at, read as polars frames by system and entity (what the
polars engine checks and matches), and the pull behind each (a plan's header)."""

from __future__ import annotations

import polars as pl

from crm_ops.config import Profile
from crm_ops.errors import ConfigError
from crm_ops.state import State


def current_frames(state: State) -> dict[str, dict[str, pl.DataFrame]]:
    """The current snapshot of every pulled entity in a state file, by system."""
    frames: dict[str, dict[str, pl.DataFrame]] = {}
    for c in state.all_current():
        frames.setdefault(c.system, {})[c.entity] = pl.read_parquet(c.snapshot)
    return frames


def snapshot_versions(state: State) -> dict[str, str]:
    """The pull id behind each current snapshot (``system.Entity`` -> pull id), for a plan's header."""
    return {f"{c.system}.{c.entity}": c.pull_id for c in state.all_current()}


def snapshot_frames(profile: Profile) -> dict[str, dict[str, pl.DataFrame]]:
    """The current snapshot of every pulled entity, by system."""
    state_file = profile.state_dir / "state.sqlite"
    if not state_file.exists():
        raise ConfigError(f"{profile.state_dir}: nothing pulled yet; run `crm-ops pull` first")
    state = State(state_file)
    try:
        frames = current_frames(state)
    finally:
        state.close()
    if not frames:
        raise ConfigError(f"{profile.state_dir}: nothing pulled yet; run `crm-ops pull` first")
    return frames
