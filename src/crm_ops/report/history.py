"""Earlier runs' files, read so that a damaged one is skipped with a warning instead of failing every later
run until someone edits it: a ``summary.json`` that is not JSON, not an object, lacks a key or holds a
value of the wrong type; a ``findings.parquet`` that is truncated, unreadable or of another schema.

Each skipped file is one ``run.history_skipped`` warning naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from numbers import Real
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops.errors import ConfigError
from crm_ops.rules.model import FINDINGS_SCHEMA

log = structlog.get_logger("crm_ops.report")

# what the report and the index read of a summary, and its type (bool is never a count)
REQUIRED = {"run_id": str, "started_at": str, "exit_code": int}
MAPPINGS = ("scores", "score_counts", "applied", "findings_by_rule")
COUNTS = ("findings", "plan_actions")


def _number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def summary_problem(summary: Any) -> str | None:
    """What makes a parsed summary unusable by the report and the index (None: nothing)."""
    if not isinstance(summary, dict):
        return f"a JSON {type(summary).__name__}, not an object"
    for key, kind in REQUIRED.items():
        if not isinstance(summary.get(key), kind) or isinstance(summary.get(key), bool):
            return f"{key} missing or not a {kind.__name__}"
    for key in MAPPINGS:
        if not isinstance(summary.get(key, {}), dict):
            return f"{key} is not an object"
    for key in COUNTS:
        if not _number(summary.get(key, 0)):
            return f"{key} is not a number"
    numbers = [*summary.get("scores", {}).values(), *summary.get("applied", {}).values()]
    numbers += list(summary.get("findings_by_rule", {}).values())
    for counts in summary.get("score_counts", {}).values():
        if not isinstance(counts, Mapping) or not all(_number(counts.get(k)) for k in ("records", "passed")):
            return "score_counts holds an entry without records and passed"
    if not all(_number(v) for v in numbers):
        return "scores, applied or findings_by_rule holds a value that is not a number"
    return None


def _usable(path: Path, read: Callable[[Path], Any], problem: Callable[[Any], str | None]) -> Any:
    """``read(path)`` when it can be read and ``problem`` finds nothing wrong with it; else None, warned."""
    try:
        value = read(path)
    except OSError as exc:
        why: str | None = f"cannot be read: {exc.strerror}"
    except (ValueError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
        why = f"damaged ({type(exc).__name__}: {str(exc)[:120]})"
    else:
        why = problem(value)
        if why is None:
            return value
    log.warning("run.history_skipped", file=str(path), problem=why, action="left out of the report")
    return None


def summaries(runs: Path, limit: int | None = 30) -> list[dict[str, Any]]:
    """The runs' summaries, oldest first (the last ``limit`` files); a damaged one is skipped, warned."""
    paths = sorted(runs.glob("*/summary.json"))[-limit if limit else 0 :]
    read = [_usable(p, lambda p: json.loads(p.read_bytes()), summary_problem) for p in paths]
    return [s for s in read if s is not None]


def findings_problem(frame: pl.DataFrame) -> str | None:
    """What keeps a findings frame from being compared with this run's (None: nothing)."""
    wrong = [c for c, t in FINDINGS_SCHEMA.items() if frame.schema.get(c) != t]
    return f"columns missing or of another type: {', '.join(wrong)}" if wrong else None


def previous_findings(runs: Path, run_id: str) -> tuple[str | None, pl.DataFrame | None]:
    """The last run before ``run_id`` whose findings can be read, and its findings; a damaged
    ``findings.parquet`` is skipped, warned (a run that left none is passed over quietly)."""
    earlier = (p for p in runs.iterdir() if p.is_dir() and p.name < run_id)
    for folder in sorted(earlier, reverse=True):
        path = folder / "findings.parquet"
        if not path.exists():
            continue
        frame = _usable(path, pl.read_parquet, findings_problem)
        if frame is not None:
            return folder.name, frame
    return None, None


def run_folder(runs: Path, run_id: str | None = None, needs: str = "summary.json") -> Path:
    """The folder of run ``run_id`` (None: the newest run holding ``needs``); a ``ConfigError`` naming the
    runs there when there is none."""
    folders = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    if run_id is not None:
        if (runs / run_id / needs).is_file():
            return runs / run_id
        known = [p.name for p in folders if (p / needs).is_file()][-5:]
        raise ConfigError(
            f"{runs}: no run {run_id!r} with a {needs}; the latest: "
            f"{', '.join(known) or 'none (crm-ops run makes one)'}"
        )
    for folder in reversed(folders):
        if (folder / needs).is_file():
            return folder
    raise ConfigError(f"{runs}: no run with a {needs} yet; `crm-ops run` makes one")
