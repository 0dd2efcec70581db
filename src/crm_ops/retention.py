"""Retention (issue 31): the nightly run deletes its own copies of CRM data once they are older than the
profile's ages (``[profiles.P.retention]``, ``crm_ops.config_retention``), and says what it deleted.

What each age prunes, by the time a file or folder was last written (a run folder by its summary):

- ``runs_days``: run folders (``runs/<id>/``: summary, report, log, the run's findings and plan), except
  the ``KEEP_RUNS`` newest and the run pruning them (the next run compares with the last one);
- ``findings_days``: ``findings/<time>.parquet`` (``crm-ops check``) and ``match/<time>/``
  (``crm-ops match``), except the newest of each (``plan`` reads the newest);
- ``plans_days``: plan folders (``plans/<id>/``) and the journal entries of plans whose newest entry is
  older (their old values with them: such a plan can no longer be undone, and undo says so, naming the
  day: ``State.pruned_at``); a plan with a pending entry (an apply killed mid-write, settled by the next
  run) is kept whatever its age;
- ``snapshots_days``: earlier generations of each entity's snapshot, never the current one.

The state file's freed pages are overwritten and its write-ahead log emptied (``State.forget_plan``).
A file that cannot be deleted is named in the result's ``problems``, which the run's summary, report and
webhook carry; the rest is still pruned.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from crm_ops.config_retention import RetentionSettings
from crm_ops.state import State

log = structlog.get_logger("crm_ops.retention")
KEEP_RUNS = 2  # the newest run folders kept whatever their age (new and resolved findings read the last)


@dataclass
class Pruned:
    """What one pruning deleted, by kind, and what it could not."""

    runs: int = 0
    findings: int = 0
    matches: int = 0
    plans: int = 0
    journal_entries: int = 0
    snapshots: int = 0
    kept_pending: list[str] = field(default_factory=list)  # plans past their age kept for a pending entry
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The counts for a run's summary (``retention``)."""
        counts = {
            k: getattr(self, k)
            for k in ("runs", "findings", "matches", "plans", "journal_entries", "snapshots")
        }
        return {**counts, "kept_pending": list(self.kept_pending), "problems": list(self.problems)}

    def notices(self) -> list[str]:
        """The lines a run's report, summary and webhook carry: what could not be deleted, and plans kept
        past their age."""
        out = [f"retention: {p}" for p in self.problems]
        out += [
            f"retention: plan {plan} is past plans_days but has a pending journal entry: kept until it "
            "is settled"
            for plan in self.kept_pending
        ]
        return out


def _written(path: Path) -> datetime:
    """When ``path`` (a file, or a folder by its newest file; an empty one by its own time) was last
    written."""
    stamps = [p.stat().st_mtime for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
    return datetime.fromtimestamp(max(stamps or [path.stat().st_mtime]), tz=UTC)


def _remove(path: Path, pruned: Pruned) -> bool:
    try:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    except OSError as exc:
        pruned.problems.append(f"could not delete {path}: {exc.strerror}")
        return False
    return True


def _older(paths: list[Path], days: int | None, now: datetime, keep_newest: int) -> list[Path]:
    """Those of ``paths`` last written more than ``days`` ago, but the ``keep_newest`` newest."""
    if days is None:
        return []
    newest_first = sorted(paths, key=_written, reverse=True)
    cutoff = now - timedelta(days=days)
    return [p for p in newest_first[keep_newest:] if _written(p) < cutoff]


def prune(
    state_dir: Path,
    state: State,
    settings: RetentionSettings,
    *,
    now: datetime,
    keep: Collection[Path] = (),
) -> Pruned:
    """Delete what ``settings`` says is too old under ``state_dir`` (the profile's) and in ``state``'s
    journal, as of ``now`` (timezone-aware); ``keep``: folders never deleted (the run pruning)."""
    pruned = Pruned()
    kept = {p.resolve() for p in keep}
    runs = [p for p in (state_dir / "runs").glob("*") if p.is_dir() and p.resolve() not in kept]
    for old in _older(runs, settings.runs_days, now, KEEP_RUNS):
        pruned.runs += _remove(old, pruned)
    for old in _older(list((state_dir / "findings").glob("*.parquet")), settings.findings_days, now, 1):
        pruned.findings += _remove(old, pruned)
    matches = [p for p in (state_dir / "match").glob("*") if p.is_dir()]
    for old in _older(matches, settings.findings_days, now, 1):
        pruned.matches += _remove(old, pruned)
    _plans(state_dir, state, settings.plans_days, now, pruned)
    _snapshots(state_dir, state, settings.snapshots_days, now, pruned)
    log.info("retention.pruned", **{k: v for k, v in pruned.summary().items() if v})
    return pruned


def _plans(state_dir: Path, state: State, days: int | None, now: datetime, pruned: Pruned) -> None:
    if days is None:
        return
    cutoff = now - timedelta(days=days)
    plans = state.journal_plans()
    pending = {p["plan_id"] for p in plans if p["pending"]}
    for entry in plans:
        when = entry["updated_at"]
        if when is None or when >= cutoff:
            continue
        if entry["pending"]:
            pruned.kept_pending.append(entry["plan_id"])
            continue
        pruned.journal_entries += state.forget_plan(entry["plan_id"])
    for folder in (p for p in (state_dir / "plans").glob("*") if p.is_dir()):
        if folder.name in pending or _written(folder) >= cutoff:
            continue
        pruned.plans += _remove(folder, pruned)


def _snapshots(state_dir: Path, state: State, days: int | None, now: datetime, pruned: Pruned) -> None:
    if days is None:
        return
    current = {p.resolve() for c in state.all_current() for p in c.snapshot.files()}
    cutoff = now - timedelta(days=days)
    for snapshot in (state_dir / "snapshots").glob("*/*/*.parquet"):
        if snapshot.resolve() not in current and _written(snapshot) < cutoff:
            pruned.snapshots += _remove(snapshot, pruned)
