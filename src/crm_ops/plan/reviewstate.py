"""A plan's review state as the review app (``crm_ops.reviewapp``) reads and saves it: the plan's own
``plan.csv``, under the review file's contract (``crm_ops.plan.reviewfile``), so a review started in
the browser can be finished in a spreadsheet and the other way round, and ``crm-ops apply PLAN --review
PLAN/plan.csv`` applies either.

- Each change is saved as it is made: the rows changed get their answer (``approve``), edited value
  (``proposed_value``), picks (``picks``) and who made it and when (``reviewed_by``, ``reviewed_at``);
  a row the file had left out is added. The file is rewritten atomically (``csvio.write_file``), its
  other rows and columns as they were; a file without the review columns gets them.
- Concurrency: the state's version (``etag``) is a hash of the file's bytes. A change names the
  version it was made on; under the folder's lock (one writer at a time, across processes), a change
  made on another version is refused (``StaleReviewError``, HTTP 409 in the app) naming who saved last and
  when, unless none of the rows it touches changed since (``seen``: each row's own version as the
  reviewer saw it), so two reviewers of different rules do not stop each other, and neither overwrites
  the other.
- Every change is checked as the review file is: an answer that is not one, a pick from a record outside
  the cluster, an edit of a row that is not an update, refused with the row named (``ConfigError``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_ops import csvio
from crm_ops.errors import ConfigError, CrmOpsError
from crm_ops.plan.edits import EDITABLE
from crm_ops.plan.format import CSV_FIELDS, PLAN_ID, Plan, csv_row
from crm_ops.plan.picks import cluster_ids, parse_picks, picks_text
from crm_ops.plan.reviewfile import ANSWERS, answer_of, read_review_file

REVIEW_COLUMNS = ("picks", "reviewed_by", "reviewed_at")
_THREADS = threading.Lock()


class StaleReviewError(CrmOpsError):
    """A change made on a version of the review state that is no longer the file's, to rows another
    reviewer changed since."""


@dataclass(frozen=True)
class Change:
    """What a reviewer changes on one row: the answer (``yes``, ``no``, ``not_duplicate``, ``""``),
    the proposed value (an update's, ``crm_ops.plan.edits``) and the picks (a merge's); ``None``: as it
    is."""

    approve: str | None = None
    proposed_value: str | None = None
    picks: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Held:
    """The review state read: its version, each row's cells by action id, the header, and as the
    review file's contract reads them (``ReviewFile``): each row's answer, picks and reviewer."""

    etag: str
    rows: Mapping[str, Mapping[str, str]]
    header: tuple[str, ...]
    answers: Mapping[str, str]
    picks: Mapping[str, dict[str, Any]]
    reviewers: Mapping[str, tuple[str, str]]
    versions: Mapping[str, str]  # each row's own version (``row_version``)

    def row_version(self, action_id: str) -> str:
        """One row's own version: a hash of its cells (empty: no row)."""
        return self.versions.get(action_id, "")


def row_version(cells: Mapping[str, str] | None) -> str:
    """A hash of a row's cells (empty for no row)."""
    if cells is None:
        return ""
    text = "\x1f".join(f"{k}={v}" for k, v in sorted(cells.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class ReviewState:
    """The review state of the plan in ``folder`` (its ``plan.csv``)."""

    def __init__(self, folder: Path, plan: Plan) -> None:
        self.folder = folder
        self.plan = plan
        self.path = folder / "plan.csv"
        self.actions = {a.action_id: a for a in plan.actions}
        self.clusters = cluster_ids(plan)
        self._cache: Held | None = None
        self._cache_lock = threading.RLock()

    def read(self) -> Held:
        """The state as the file holds it now (parsed again only when its bytes changed)."""
        with self._cache_lock:  # the app's threads share the state
            data = self.path.read_bytes() if self.path.exists() else b""
            etag = hashlib.sha256(data).hexdigest()[:16]
            if self._cache is not None and self._cache.etag == etag:
                return self._cache
            if not data:
                raise ConfigError(
                    f"{self.path}: no review file beside the plan (write it with `crm-ops plan`)"
                )
            review = read_review_file(self.path, self.plan)
            rows = {r.get("action_id").strip(): dict(r.values) for r in review.table}
            versions = {k: row_version(v) for k, v in rows.items()}
            self._cache = Held(
                etag, rows, review.table.header, review.answers, review.picks, review.reviewers, versions
            )
            return self._cache

    def change(
        self,
        changes: Mapping[str, Change],
        *,
        reviewer: str,
        etag: str,
        seen: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> Held:
        """Save ``changes`` (by action id) made by ``reviewer`` on version ``etag`` (see the module):
        the state after them. ``seen``: the version of each changed row as the reviewer saw it."""
        if not reviewer.strip():
            raise ConfigError("a change needs the reviewer's name (who decided is journaled with the action)")
        with self._locked():
            held = self.read()
            if held.etag != etag:
                moved = [k for k in changes if (seen or {}).get(k) != held.row_version(k)]
                if seen is None or moved:
                    raise StaleReviewError(self._stale_message(held, moved if seen is not None else None))
            problems = self._problems(changes)
            if problems:
                raise ConfigError(problems)
            stamp = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
            header = _with_review_columns(held.header)
            rows = dict(held.rows)  # the rows changed are copied, the others shared
            answers, picks, reviewers = dict(held.answers), dict(held.picks), dict(held.reviewers)
            versions = dict(held.versions)
            if header != held.header:
                # a file from before the review columns: every row gets them (empty), as a fresh read of
                # what is written here holds them, so each row's version is the one another process reads
                rows = {k: {c: cells.get(c, "") for c in header} for k, cells in rows.items()}
                versions = {k: row_version(cells) for k, cells in rows.items()}
            for action_id, change in changes.items():
                if action_id in rows:
                    cells = dict(rows[action_id])
                else:
                    written = {**csv_row(self.actions[action_id]), PLAN_ID: self.plan.header.plan_id}
                    cells = {c: csvio.neutralise(written.get(c, "")) for c in header}
                if change.approve is not None:
                    cells["approve"] = answers[action_id] = answer_of(change.approve) or ""
                if change.proposed_value is not None:  # held as the file holds it: neutralised
                    cells["proposed_value"] = csvio.neutralise(change.proposed_value)
                if change.picks is not None:
                    cells["picks"] = picks_text(change.picks)
                    picks[action_id] = dict(change.picks)
                cells["reviewed_by"], cells["reviewed_at"] = csvio.neutralise(reviewer.strip()), stamp
                reviewers[action_id] = (cells["reviewed_by"], stamp)
                rows[action_id] = cells
                versions[action_id] = row_version(cells)
            # every cell changed or added here is neutralised above; the others are written back as read
            cells_of = ([cells.get(c, "") for c in header] for cells in rows.values())
            csvio.write_file(self.path, header, cells_of, neutralise_values=False)
            # what was written is what the changes (checked above) made of what was read: held as such,
            # without reading the file back
            etag = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]
            picked = {k: v for k, v in picks.items() if v}
            with self._cache_lock:
                self._cache = Held(etag, rows, header, answers, picked, reviewers, versions)
                return self._cache

    def _problems(self, changes: Mapping[str, Change]) -> list[str]:
        problems = []
        for action_id, change in changes.items():
            action = self.actions.get(action_id)
            if action is None:
                problems.append(f"{action_id!r} is not an action of plan {self.plan.header.plan_id}")
                continue
            if change.approve is not None and answer_of(change.approve) is None:
                problems.append(f"action {action_id}: {change.approve!r} is not {ANSWERS}")
            if change.proposed_value is not None and action.kind not in EDITABLE:
                problems.append(f"action {action_id}: a {action.kind}'s proposed value cannot be edited")
            if change.picks is not None:
                _, wrong = parse_picks(picks_text(change.picks), action, self.clusters)
                problems += [f"action {action_id}: {w}" for w in wrong]
        return problems

    def _stale_message(self, held: Held, rows: list[str] | None) -> str:
        last = max(
            (cells for cells in held.rows.values() if cells.get("reviewed_at")),
            key=lambda cells: cells.get("reviewed_at", ""),
            default=None,
        )
        who = f" (last saved by {last['reviewed_by']} at {last['reviewed_at']})" if last else ""
        which = "" if rows is None else f", {len(rows)} of the rows you changed among them"
        return (
            f"{self.path} changed since this page was loaded{who}{which}: nothing of yours was saved; "
            "reload to see the answers given there, then decide again"
        )

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One writer at a time: this process's threads, and other processes (a lock file beside it)."""
        with _THREADS:
            fd = os.open(self.folder / ".plan.csv.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)


def _with_review_columns(header: tuple[str, ...]) -> tuple[str, ...]:
    """``header`` with the review columns it lacks, where ``plan.csv`` has them (before ``action_id``)."""
    missing = [c for c in REVIEW_COLUMNS if c not in header]
    if not missing:
        return header
    cut = header.index("action_id") if "action_id" in header else len(header)
    return (*header[:cut], *[c for c in CSV_FIELDS if c in missing], *header[cut:])
