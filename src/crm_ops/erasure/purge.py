"""The purge of an erased person from crm_ops' own copies: every file under a profile's state dir and the
state file, so that no value of theirs is left (``find_traces`` checks it after).

``purge_state`` walks every file under the state dir and rewrites those that hold the person, each by its
kind (``crm_ops.erasure.parquets`` for Parquet, ``crm_ops.erasure.files`` for JSON lines, JSON, CSV,
HTML, Markdown, text and lock files), atomically per file and keeping its modification time; then the
state file (``State.erase``: journal values erased, pairs and marks deleted, other text replaced, the
file's freed pages and write-ahead log scrubbed). A kill at any point leaves each file old or new, and
running it again finishes the job: a file without the person is not touched, so a second purge changes
nothing.

Where, by place (``Purged.places``): ``snapshots`` (every generation: the person's rows dropped, lookups
to them cleared, values replaced), ``pull parts`` (an unfinished pull's pages, the same), ``findings``
(check's and the runs' findings, source links), ``matches`` (pairs, links, clusters), ``plans``
(``plan.jsonl``), ``review files`` (``plan.csv``), ``reports`` (summaries, apply reports, HTML pages),
``logs`` (``run.log``), ``locks`` (holder details), ``temporary files`` (a killed write's leftovers that
hold the person: deleted). A file it cannot rewrite, or of a kind it does not know that holds a value,
is named in ``problems`` (never the value), and the rest is still done.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops.erasure.files import TEXT, purge_csv, purge_json, purge_lines, purge_lock, purge_text
from crm_ops.erasure.parquets import purge_parquet
from crm_ops.erasure.redaction import Redactor, Tally, Trace
from crm_ops.erasure.traces import file_holds, find_traces
from crm_ops.errors import ConfigError
from crm_ops.state import State

log = structlog.get_logger("crm_ops.erasure")
STATE_FILES = ("state.sqlite", "state.sqlite-wal", "state.sqlite-shm", "state.sqlite-journal")
OWN_ROWS = ("snapshots", "pulls")  # folders whose Parquet rows are records (their own id erased: dropped)

__all__ = ["Counts", "Purged", "Trace", "find_traces", "purge_state"]


@dataclass
class Counts:
    """What the purge did in one place: files rewritten (or deleted), entries dropped (rows, actions,
    lines, list elements) and cells changed (a value replaced, a lookup to an erased record cleared)."""

    files: int = 0
    rows: int = 0
    cells: int = 0


@dataclass
class Purged:
    """What ``purge_state`` did, by place, never a value; ``problems``: files it could not rewrite."""

    places: dict[str, Counts] = field(default_factory=dict)
    files_checked: int = 0
    journal_erased: int = 0  # the person's records' entries: values gone, undo refuses them
    journal_redacted: int = 0  # other entries with a value of theirs replaced (undo refuses those too)
    decisions_deleted: int = 0  # remembered rejections naming their records
    verdicts_deleted: int = 0  # people's verdicts on pairs naming their records
    marks_deleted: int = 0  # mutes and acknowledgements of their records
    state_cells: int = 0  # other text in the state file (errors, notes, statistics) with a value replaced
    problems: list[str] = field(default_factory=list)

    def add(self, place: str, tally: Tally) -> None:
        """Count one file rewritten in ``place``."""
        counts = self.places.setdefault(place, Counts())
        counts.files += 1
        counts.rows += tally.rows
        counts.cells += tally.cells

    @property
    def changed(self) -> bool:
        """Whether anything was rewritten, dropped or deleted."""
        state = (self.journal_erased, self.journal_redacted, self.decisions_deleted, self.verdicts_deleted,
                 self.marks_deleted, self.state_cells)  # fmt: skip
        return bool(self.places) or any(state)

    def summary(self) -> dict[str, Any]:
        """The counts as plain values (a certificate, a run's summary)."""
        out = asdict(self)
        out["places"] = {k: asdict(v) for k, v in sorted(self.places.items())}
        return out


def place_of(relative: Path) -> str:
    """Which place a file under the state dir is (``Purged.places``)."""
    top, name, suffix = relative.parts[0], relative.name, relative.suffix
    if suffix == ".tmp":
        return "temporary files"
    by_folder = {"snapshots": "snapshots", "pulls": "pull parts", "findings": "findings", "match": "matches"}
    if top in by_folder:
        return by_folder[top]
    by_name = {"plan.jsonl": "plans", "plan.csv": "review files"}
    if name in by_name:
        return by_name[name]
    by_suffix = {".parquet": "findings", ".log": "logs", ".lock": "locks"}
    return by_suffix.get(suffix, "reports" if suffix in (".json", *TEXT) else "other files")


def _rewriter(relative: Path) -> Callable[[Path, Redactor], Tally | None] | None:
    """How a file is rewritten, by its kind (None: a kind the purge does not know)."""
    suffix = relative.suffix
    if suffix == ".parquet":
        own = relative.parts[0] in OWN_ROWS
        return lambda path, redactor: purge_parquet(path, redactor, own_ids=own)
    if suffix in (".jsonl", ".log"):
        plan = relative.name == "plan.jsonl"
        return lambda path, redactor: purge_lines(path, redactor, plan=plan)
    kinds: dict[str, Callable[[Path, Redactor], Tally | None]] = {
        ".json": purge_json, ".csv": purge_csv, ".lock": purge_lock, **dict.fromkeys(TEXT, purge_text),
    }  # fmt: skip
    return kinds.get(suffix)


def files_under(state_dir: Path) -> list[Path]:
    """Every regular file under ``state_dir`` but the state file's own, in a stable order (a plan before
    its review file: one folder's files by name, ``plan.jsonl`` ahead)."""
    found = [p for p in state_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    own = {state_dir / n for n in STATE_FILES}
    kept = (p for p in found if p not in own)
    return sorted(kept, key=lambda p: (p.parent, p.name != "plan.jsonl", p.name))


def purge_state(state_dir: Path, state: State, trace: Trace, *, keep: Collection[Path] = ()) -> Purged:
    """Take the person ``trace`` identifies out of every file under ``state_dir`` and out of ``state``
    (see the module); ``keep``: files left as they are (an erasure's own working file, deleted when it
    ends). Raises ``ValueError`` for a value too short to look for (nothing touched)."""
    redactor = Redactor(trace)
    purged = Purged()
    kept = set(keep)
    for path in files_under(state_dir):
        if path in kept:
            continue
        relative = path.relative_to(state_dir)
        purged.files_checked += 1
        try:
            _purge_file(path, relative, redactor, purged)
        except (OSError, ValueError, ConfigError, pl.exceptions.PolarsError) as exc:
            if _may_hold(path, redactor):  # a file that does not hold the person is no problem
                purged.problems.append(f"{relative}: could not be rewritten ({_reason(exc)})")
    try:
        erased = state.erase(trace.ids, redactor.redact_cell)
    except (OSError, sqlite3.Error) as exc:
        purged.problems.append(f"{state.path.name}: could not be rewritten ({_reason(exc)})")
    else:
        purged.journal_erased, purged.journal_redacted = erased.journal_erased, erased.journal_redacted
        purged.decisions_deleted, purged.verdicts_deleted = erased.decisions, erased.verdicts
        purged.marks_deleted, purged.state_cells = erased.marks, erased.cells
    log.info("erasure.purged", **{k: v for k, v in purged.summary().items() if v and k != "places"},
             places={k: v.files for k, v in purged.places.items()})  # fmt: skip
    return purged


def _purge_file(path: Path, relative: Path, redactor: Redactor, purged: Purged) -> None:
    place = place_of(relative)
    if relative.suffix == ".tmp":  # a killed write's leftover: nothing reads it
        if _may_hold(path, redactor):
            path.unlink()
            purged.add(place, Tally(rows=1))
        return
    rewrite = _rewriter(relative)
    if rewrite is None:
        if file_holds(path, redactor):
            purged.problems.append(
                f"{relative}: holds an erased value in a kind of file crm_ops does not rewrite: "
                "delete it or erase the value by hand"
            )
        return
    tally = rewrite(path, redactor)
    if tally is not None:
        purged.add(place, tally)


def _may_hold(path: Path, redactor: Redactor) -> bool:
    """Whether a file that could not be read or rewritten may hold the person: a compressed one (Parquet)
    may; another, when its bytes hold a value or an erased id (or cannot be read)."""
    if path.suffix == ".parquet":
        return True
    try:
        return file_holds(path, redactor) or redactor.names(path.read_bytes().decode("utf-8", "replace"))
    except OSError:
        return True


def _reason(exc: BaseException) -> str:
    """Why a file could not be rewritten, without the file's content (an error may quote a cell)."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, ConfigError):
        return "not readable as its kind"
    if isinstance(exc, sqlite3.Error):
        return str(exc)  # SQLite's own words ("database is locked"), never a cell
    return type(exc).__name__
