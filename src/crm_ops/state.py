"""The state file (SQLite): watermarks, pulls in progress and done, the current snapshot of each entity
and the statistics of each pull's snapshot (the data monitors' history), the org's metadata as each pull
saw it, the apply journal, the merges people rejected (remembered decisions), and the findings people
muted or acknowledged (``marks``: ``crm_ops.triage``).

Every change is one transaction, written before the step that depends on it is reported done: a part file
is on disk (fsynced, renamed into place) before the row that counts it is committed, and a snapshot is
in place before the watermark moves. So a kill at any point leaves either the old state or the new one.

The state dir (snapshots, journals, plans, runs: CRM data) is private: folders 0700, files 0600; those
made before are tightened when the state file is opened, with a warning.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from crm_ops import durable
from crm_ops.layered import Snapshot

log = structlog.get_logger("crm_ops.state")
KEEP_STATS = 400  # the statistics kept per entity (``entity_stats``): the newest pulls'
SCHEMA = """
CREATE TABLE IF NOT EXISTS pulls (
    pull_id TEXT PRIMARY KEY,
    system TEXT NOT NULL,
    entity TEXT NOT NULL,
    mode TEXT NOT NULL,
    since TEXT,
    until TEXT NOT NULL,
    cursor TEXT,
    parts INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0,
    api_calls INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    snapshot TEXT,
    resumes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS pulls_open ON pulls (system, entity, status);
CREATE TABLE IF NOT EXISTS journal (
    plan_id TEXT NOT NULL,
    action_id TEXT NOT NULL,
    system TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT,
    before TEXT,
    after TEXT,
    status TEXT NOT NULL,
    error TEXT,
    updated_at TEXT NOT NULL,
    edited_from TEXT,
    reviewed_by TEXT,
    reviewed_at TEXT,
    PRIMARY KEY (plan_id, action_id)
);
CREATE TABLE IF NOT EXISTS decisions (
    system TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    other_id TEXT NOT NULL,
    record_print TEXT NOT NULL,
    other_print TEXT NOT NULL,
    decision TEXT NOT NULL,
    plan_id TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (system, entity, record_id, other_id)
);
CREATE TABLE IF NOT EXISTS verdicts (
    system TEXT NOT NULL,
    entity TEXT NOT NULL,
    record_id TEXT NOT NULL,
    other_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    explain TEXT,
    plan_id TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    PRIMARY KEY (system, entity, record_id, other_id)
);
CREATE TABLE IF NOT EXISTS pruned_plans (
    plan_id TEXT PRIMARY KEY,
    entries INTEGER NOT NULL,
    pruned_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS current (
    system TEXT NOT NULL,
    entity TEXT NOT NULL,
    watermark TEXT,
    snapshot TEXT NOT NULL,
    pull_id TEXT NOT NULL,
    rows INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (system, entity)
);
CREATE TABLE IF NOT EXISTS marks (
    mark_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    rule TEXT NOT NULL,
    system TEXT,
    record_id TEXT,
    note TEXT NOT NULL,
    created_at TEXT NOT NULL,
    until TEXT
);
CREATE TABLE IF NOT EXISTS org_metadata (
    system TEXT NOT NULL,
    entity TEXT NOT NULL,
    version INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (system, entity, version)
);
CREATE TABLE IF NOT EXISTS entity_stats (
    pull_id TEXT PRIMARY KEY,
    system TEXT NOT NULL,
    entity TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    stats TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_stats_by_entity ON entity_stats (system, entity, taken_at);
CREATE TABLE IF NOT EXISTS suppression_key (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    key BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS suppressed (
    digest TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    erasure_id TEXT NOT NULL,
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erasures (
    erasure_id TEXT PRIMARY KEY,
    reference TEXT,
    subjects INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT
);
"""
MARK_COLUMNS = ("mark_id", "kind", "rule", "system", "record_id", "note", "created_at", "until")
ORG_VERSIONS_KEPT = 5  # versions of an object's metadata kept (the newest is what the next pull diffs)


PAIR_KEY = ("system", "entity", "record_id", "other_id")  # a remembered decision's or verdict's pair


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def now() -> datetime:
    """The current time in UTC, to the millisecond."""
    stamp = datetime.now(UTC)
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)


# The order of a journal entry's states: an action is ``pending`` (about to be sent), an undone merge's
# record ``restored`` (its links not yet back), then it ends in one outcome. An entry moves only forward:
# never from an outcome to anything else (a ``done`` write keeps the value it replaced, whatever a second
# apply of the plan finds later), nor from ``restored`` back to ``pending``.
STEPS = {"pending": 0, "restored": 1}
NOT_APPLIED = "not applied"  # a pending action settled as never landed (``crm_ops.plan.settle``)
NOT_SENT = (
    "not applied: the process that sent it stopped before the CRM took it; settled before a newer plan "
    "or an undo (a newer plan proposes it again if it is still wanted)"
)
OUTCOMES = frozenset({"done", "failed", "conflict", "skipped", "irreversible", NOT_APPLIED})


def may_replace(held: str | None, status: str) -> bool:
    """Whether a journal entry in state ``held`` (None: none yet) may become ``status``: only forward
    (``STEPS`` in order, then an outcome); an outcome, or a state this version does not know, is final."""
    if held is None:
        return True
    if held not in STEPS:
        return False
    return STEPS.get(status, len(STEPS)) >= STEPS[held]


@dataclass
class PullJob:
    """One pull of one entity, from start to its snapshot."""

    pull_id: str
    system: str
    entity: str
    mode: str
    since: datetime | None
    until: datetime
    cursor: dict[str, Any] | None
    parts: int
    rows: int
    api_calls: int
    status: str
    resumes: int = 0


@dataclass(frozen=True)
class Current:
    """The latest complete snapshot of an entity (its base and layers: read it with
    ``snapshot.scan()``) and its watermark."""

    system: str
    entity: str
    watermark: datetime | None
    snapshot: Snapshot
    pull_id: str
    rows: int


class State:
    """The SQLite state file of one profile."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        durable.private_dir(self.path.parent)
        loose = durable.protect(self.path.parent)  # CRM data: the state dir is the run's user's alone
        if loose:
            log.warning(
                "state.permissions_tightened",
                folder=str(self.path.parent),
                count=len(loose),
                examples=[str(p) for p in loose[:5]],
                now="folders 0700, files 0600",
            )
        durable.private_file(self.path)  # SQLite's -wal and -shm files take the database's mode
        self.db = durable.connect_sqlite(self.path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(journal)")}
        if "edited_from" not in columns:  # a state file from before review edits (issue 18)
            self.db.execute("ALTER TABLE journal ADD COLUMN edited_from TEXT")
        for column in ("reviewed_by", "reviewed_at"):  # from before the review app (issue 29)
            if column not in columns:
                self.db.execute(f"ALTER TABLE journal ADD COLUMN {column} TEXT")
        if "erased_at" not in columns:  # from before erasure (issue 31): when a person's values went
            self.db.execute("ALTER TABLE journal ADD COLUMN erased_at TEXT")
        for table in ("current", "pulls"):  # from before layered snapshots (issue 30): a base alone
            if "layers" not in {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN layers TEXT")

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _job(self, row: tuple[Any, ...]) -> PullJob:
        return PullJob(
            pull_id=row[0],
            system=row[1],
            entity=row[2],
            mode=row[3],
            since=_time(row[4]),
            until=_time(row[5]) or now(),
            cursor=json.loads(row[6]) if row[6] else None,
            parts=row[7],
            rows=row[8],
            api_calls=row[9],
            status=row[10],
            resumes=row[11],
        )

    _COLUMNS = "pull_id, system, entity, mode, since, until, cursor, parts, rows, api_calls, status, resumes"

    def open_pull(self, system: str, entity: str) -> PullJob | None:
        """The unfinished pull of this entity, if a previous run stopped in the middle of one."""
        row = self.db.execute(
            f"SELECT {self._COLUMNS} FROM pulls WHERE system=? AND entity=? AND status='running' "  # noqa: S608
            "ORDER BY started_at DESC LIMIT 1",
            (system, entity),
        ).fetchone()
        return self._job(row) if row else None

    def start_pull(
        self, system: str, entity: str, mode: str, since: datetime | None, until: datetime
    ) -> PullJob:
        """Record a new pull."""
        pull_id = f"{until.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        with self._tx() as db:
            db.execute(
                "INSERT INTO pulls (pull_id, system, entity, mode, since, until, status, started_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
                (pull_id, system, entity, mode, _iso(since), _iso(until), _iso(now())),
            )
        return PullJob(pull_id, system, entity, mode, since, until, None, 0, 0, 0, "running")

    def mark_resumed(self, job: PullJob) -> None:
        """Count one more resumption of ``job``."""
        job.resumes += 1
        with self._tx() as db:
            db.execute("UPDATE pulls SET resumes=? WHERE pull_id=?", (job.resumes, job.pull_id))

    def record_page(
        self, job: PullJob, *, part_written: bool, rows: int, cursor: dict[str, Any] | None, calls: int
    ) -> None:
        """After a part is on disk (or a page had no rows): count it and move the cursor, atomically."""
        job.parts += int(part_written)
        job.rows += rows
        job.cursor = cursor
        job.api_calls += calls
        with self._tx() as db:
            db.execute(
                "UPDATE pulls SET parts=?, rows=?, cursor=?, api_calls=? WHERE pull_id=?",
                (
                    job.parts,
                    job.rows,
                    json.dumps(cursor) if cursor is not None else None,
                    job.api_calls,
                    job.pull_id,
                ),
            )

    def restart_pull(self, job: PullJob) -> None:
        """Forget a pull's progress (its cursor could not be resumed): it starts over, same window."""
        job.parts, job.rows, job.cursor = 0, 0, None
        with self._tx() as db:
            db.execute("UPDATE pulls SET parts=0, rows=0, cursor=NULL WHERE pull_id=?", (job.pull_id,))

    def abandon_pull(self, job: PullJob) -> None:
        """Give up an unfinished pull (a full pull was asked for instead)."""
        with self._tx() as db:
            db.execute(
                "UPDATE pulls SET status='abandoned', finished_at=? WHERE pull_id=?",
                (_iso(now()), job.pull_id),
            )

    def finish_pull(
        self,
        job: PullJob,
        snapshot: Snapshot,
        rows: int,
        watermark: datetime | None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        """The snapshot is in place: make it current and move the watermark, in one transaction (with
        the snapshot's statistics, ``crm_ops.entitystats``, when given: a pull is kept with its numbers
        or not at all)."""
        with self._tx() as db:
            if stats is not None:
                db.execute(
                    "INSERT OR REPLACE INTO entity_stats (pull_id, system, entity, taken_at, stats) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (job.pull_id, job.system, job.entity, _iso(now()), json.dumps(stats)),
                )
                db.execute(  # a year and more of nightly pulls; the monitors read the last few
                    "DELETE FROM entity_stats WHERE system=? AND entity=? AND pull_id NOT IN "
                    "(SELECT pull_id FROM entity_stats WHERE system=? AND entity=? "
                    "ORDER BY taken_at DESC, rowid DESC LIMIT ?)",
                    (job.system, job.entity, job.system, job.entity, KEEP_STATS),
                )
            base, layers = str(snapshot.base), snapshot.encoded_layers()
            db.execute(
                "UPDATE pulls SET status='done', finished_at=?, snapshot=?, layers=? WHERE pull_id=?",
                (_iso(now()), base, layers, job.pull_id),
            )
            db.execute(
                "INSERT INTO current "
                "(system, entity, watermark, snapshot, layers, pull_id, rows, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (system, entity) DO UPDATE SET "
                "watermark=excluded.watermark, snapshot=excluded.snapshot, layers=excluded.layers, "
                "pull_id=excluded.pull_id, rows=excluded.rows, updated_at=excluded.updated_at",
                (job.system, job.entity, _iso(watermark), base, layers, job.pull_id, rows, _iso(now())),
            )
        job.status = "done"

    def last_done(self, system: str, entity: str, modes: tuple[str, ...]) -> datetime | None:
        """When the entity's latest finished pull of one of ``modes`` finished, if any."""
        marks = ",".join("?" * len(modes))
        row = self.db.execute(
            f"SELECT MAX(finished_at) FROM pulls WHERE system=? AND entity=? AND status='done' "  # noqa: S608
            f"AND mode IN ({marks})",
            (system, entity, *modes),
        ).fetchone()
        return _time(row[0]) if row else None

    def current(self, system: str, entity: str) -> Current | None:
        """The entity's latest complete snapshot, if any."""
        row = self.db.execute(
            f"SELECT {self._CURRENT} FROM current WHERE system=? AND entity=?",  # noqa: S608
            (system, entity),
        ).fetchone()
        return None if row is None else self._current(row)

    def all_current(self) -> list[Current]:
        """Every entity's latest complete snapshot."""
        rows = self.db.execute(
            f"SELECT {self._CURRENT} FROM current ORDER BY system, entity"  # noqa: S608
        ).fetchall()
        return [self._current(r) for r in rows]

    _CURRENT = "system, entity, watermark, snapshot, layers, pull_id, rows"

    @staticmethod
    def _current(row: tuple[Any, ...]) -> Current:
        return Current(row[0], row[1], _time(row[2]), Snapshot.decode(row[3], row[4]), row[5], row[6])

    def recent_snapshots(self, system: str, entity: str, count: int) -> list[Snapshot]:
        """The snapshots of the entity's last ``count`` finished pulls that made one, newest first."""
        rows = self.db.execute(
            "SELECT snapshot, layers FROM pulls WHERE system=? AND entity=? AND status='done' "
            "AND snapshot IS NOT NULL ORDER BY finished_at DESC, rowid DESC LIMIT ?",
            (system, entity, count),
        ).fetchall()
        return [Snapshot.decode(r[0], r[1]) for r in rows]

    def stats_history(self, system: str, entity: str, limit: int) -> list[dict[str, Any]]:
        """The statistics of the entity's last ``limit`` complete pulls, newest first (each with its
        ``pull_id``)."""
        rows = self.db.execute(
            "SELECT pull_id, stats FROM entity_stats WHERE system=? AND entity=? "
            "ORDER BY taken_at DESC, rowid DESC LIMIT ?",
            (system, entity, limit),
        ).fetchall()
        return [{**json.loads(r[1]), "pull_id": r[0]} for r in rows]

    # ---------------------------------------------------------------- the apply journal

    def journal(self, plan_id: str) -> dict[str, dict[str, Any]]:
        """Every journaled action of a plan, by action id."""
        rows = self.db.execute(
            "SELECT action_id, system, entity, record_id, field, before, after, status, error, edited_from, "
            "reviewed_by, reviewed_at FROM journal WHERE plan_id=?",
            (plan_id,),
        ).fetchall()
        keys = ("action_id", "system", "entity", "record_id", "field", "before", "after", "status", "error",
                "edited_from", "reviewed_by", "reviewed_at")  # fmt: skip
        return {r[0]: dict(zip(keys, r, strict=True)) for r in rows}

    def record_actions(self, plan_id: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write journal entries, all in one transaction; those the journal holds a stronger state of are
        kept as they are (``may_replace``), and returned. ``edited_from``: the plan's proposed value, when a
        person edited it in the review file (``after`` is what was written); ``reviewed_by`` and
        ``reviewed_at``: who approved the action in the review file, and when (kept when an entry without
        them replaces one with them)."""
        stamp = _iso(now())
        with self._tx() as db:
            held = self._statuses(db, plan_id, [e["action_id"] for e in entries])
            kept = [e for e in entries if not may_replace(held.get(e["action_id"]), e["status"])]
            if kept:
                log.warning(
                    "journal.kept",
                    plan_id=plan_id,
                    count=len(kept),
                    examples=[(e["action_id"], held[e["action_id"]], e["status"]) for e in kept[:5]],
                )
            db.executemany(
                "INSERT INTO journal (plan_id, action_id, system, entity, record_id, field, before, after, "
                "status, error, updated_at, edited_from, reviewed_by, reviewed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (plan_id, action_id) DO UPDATE SET "
                "before=excluded.before, after=excluded.after, "
                "status=excluded.status, error=excluded.error, updated_at=excluded.updated_at, "
                "edited_from=excluded.edited_from, "
                "reviewed_by=coalesce(excluded.reviewed_by, journal.reviewed_by), "
                "reviewed_at=coalesce(excluded.reviewed_at, journal.reviewed_at)",
                [
                    (plan_id, e["action_id"], e["system"], e["entity"], e["record_id"], e.get("field"),
                     e.get("before"), e.get("after"), e["status"], e.get("error"), stamp,
                     e.get("edited_from"), e.get("reviewed_by"), e.get("reviewed_at"))
                    for e in entries
                    if may_replace(held.get(e["action_id"]), e["status"])
                ],
            )  # fmt: skip
        return kept

    @staticmethod
    def _statuses(db: sqlite3.Connection, plan_id: str, action_ids: list[str]) -> dict[str, str]:
        """The journaled status of each of ``action_ids`` that has one (read inside the writing
        transaction: no other writer comes between)."""
        out: dict[str, str] = {}
        for start in range(0, len(action_ids), 500):
            chunk = action_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.update(
                db.execute(
                    f"SELECT action_id, status FROM journal WHERE plan_id=? AND action_id IN ({marks})",  # noqa: S608
                    (plan_id, *chunk),
                ).fetchall()
            )
        return out

    def pending(self) -> list[dict[str, Any]]:
        """Every ``pending`` journal entry of any plan, with its plan id, oldest plan first."""
        keys = ("plan_id", "action_id", "system", "entity", "record_id", "field", "before", "after")
        rows = self.db.execute(
            f"SELECT {', '.join(keys)} FROM journal WHERE status='pending' "  # noqa: S608
            "ORDER BY plan_id, action_id"
        ).fetchall()
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def journal_plans(self) -> list[dict[str, Any]]:
        """Each plan with journal entries: its id, its newest entry's time and how many are pending."""
        rows = self.db.execute(
            "SELECT plan_id, MAX(updated_at), SUM(status='pending') FROM journal "
            "GROUP BY plan_id ORDER BY plan_id"
        ).fetchall()
        return [{"plan_id": r[0], "updated_at": _time(r[1]), "pending": int(r[2] or 0)} for r in rows]

    def forget_plan(self, plan_id: str) -> int:
        """Delete a plan's journal entries (their old values with them: the plan can no longer be undone),
        the freed pages overwritten and the write-ahead log emptied so no copy of the values is left in
        the file; how many entries there were."""
        self.db.execute("PRAGMA secure_delete=ON")
        with self._tx() as db:
            count = db.execute("DELETE FROM journal WHERE plan_id=?", (plan_id,)).rowcount
            db.execute(
                "INSERT OR REPLACE INTO pruned_plans (plan_id, entries, pruned_at) VALUES (?, ?, ?)",
                (plan_id, count, _iso(now())),
            )
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(count)

    def pruned_at(self, plan_id: str) -> datetime | None:
        """When retention deleted the plan's journal (``forget_plan``), if it did."""
        row = self.db.execute("SELECT pruned_at FROM pruned_plans WHERE plan_id=?", (plan_id,)).fetchone()
        return _time(row[0]) if row else None

    # ---------------------------------------------------------------- the suppression list (erasure)

    def suppression_key(self) -> bytes:
        """The state file's secret key for the suppression list's keyed hashes (``crm_ops.suppression``),
        made on first use: without it a digest cannot be tested against a guessed e-mail."""
        row = self.db.execute("SELECT key FROM suppression_key WHERE one=1").fetchone()
        if row is not None:
            return bytes(row[0])
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO suppression_key (one, key) VALUES (1, ?)", (os.urandom(32),))
            return bytes(db.execute("SELECT key FROM suppression_key WHERE one=1").fetchone()[0])

    def suppress(self, erasure_id: str, digests: dict[str, str]) -> None:
        """Add keyed digests (digest -> kind: ``email``, ``id``) to the suppression list, for an erasure."""
        stamp = _iso(now())
        with self._tx() as db:
            db.executemany(
                "INSERT OR IGNORE INTO suppressed (digest, kind, erasure_id, added_at) VALUES (?, ?, ?, ?)",
                [(d, kind, erasure_id, stamp) for d, kind in digests.items()],
            )

    def suppressed(self) -> dict[str, tuple[str, datetime]]:
        """Every digest on the suppression list: its erasure and when it was added."""
        rows = self.db.execute("SELECT digest, erasure_id, added_at FROM suppressed").fetchall()
        return {r[0]: (r[1], _time(r[2]) or now()) for r in rows}

    def merges(self) -> list[dict[str, Any]]:
        """Every merge and lead conversion the journal says landed: the system, entity, the merged-away
        record or converted lead (``record_id``), the survivor or contact (``survivor``) and what was
        journaled before (``before``, JSON text: a merge's ``record``): the same person under two ids, for
        an erasure."""
        rows = self.db.execute(
            "SELECT system, entity, record_id, after, before FROM journal "
            "WHERE field IN ('merge_into', 'converted_contact_id') AND after IS NOT NULL "
            "AND status IN ('done', 'restored')"
        ).fetchall()
        keys = ("system", "entity", "record_id", "survivor", "before")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def start_erasure(self, erasure_id: str, reference: str | None, subjects: int) -> None:
        """Record an erasure as started (``finish_erasure`` ends it; one left started was killed)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO erasures (erasure_id, reference, subjects, status, started_at) "
                "VALUES (?, ?, ?, 'started', ?)",
                (erasure_id, reference, subjects, _iso(now())),
            )

    def finish_erasure(self, erasure_id: str, outcome: dict[str, Any]) -> None:
        """Record an erasure as finished, with its outcome (counts, never values)."""
        with self._tx() as db:
            db.execute(
                "UPDATE erasures SET status='finished', finished_at=?, outcome=? WHERE erasure_id=?",
                (_iso(now()), json.dumps(outcome, sort_keys=True), erasure_id),
            )

    def erasures(self, *, unfinished: bool = False) -> list[dict[str, Any]]:
        """The erasures recorded, oldest first (``unfinished``: only those started and not finished)."""
        keys = ("erasure_id", "reference", "subjects", "status", "started_at", "finished_at", "outcome")
        where = " WHERE status='started'" if unfinished else ""
        rows = self.db.execute(
            f"SELECT {', '.join(keys)} FROM erasures{where} ORDER BY started_at, erasure_id"  # noqa: S608
        ).fetchall()
        out = []
        for r in rows:
            entry = dict(zip(keys, r, strict=True))
            entry["started_at"], entry["finished_at"] = _time(r[4]), _time(r[5])
            entry["outcome"] = json.loads(r[6]) if r[6] else None
            out.append(entry)
        return out

    # ---------------------------------------------------------------- remembered decisions

    def _keep_pairs(
        self, table: str, columns: tuple[str, ...], plan_id: str, entries: list[dict[str, Any]]
    ) -> None:
        """Keep pairs in ``table`` (``decisions``, ``verdicts``), one transaction: each keyed by
        ``PAIR_KEY``, with its ``columns``, the plan and the time; a pair kept again takes the newer."""
        kept = (*columns, "plan_id", "decided_at")
        names = (*PAIR_KEY, *kept)
        stamp = _iso(now())
        with self._tx() as db:
            db.executemany(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "  # noqa: S608
                f"ON CONFLICT ({', '.join(PAIR_KEY)}) DO UPDATE SET "
                + ", ".join(f"{c}=excluded.{c}" for c in kept),
                [(*(e[k] for k in PAIR_KEY), *(e.get(c) for c in columns), plan_id, stamp) for e in entries],
            )

    def _pairs_in(self, table: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        """Every pair ``_keep_pairs`` kept in ``table``, oldest first."""
        keys = (*PAIR_KEY, *columns, "plan_id", "decided_at")
        rows = self.db.execute(f"SELECT {', '.join(keys)} FROM {table} ORDER BY decided_at").fetchall()  # noqa: S608
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def remember_rejections(self, plan_id: str, entries: list[dict[str, str]]) -> None:
        """Keep rejected pairs (system, entity, record_id, other_id, record_print, other_print), one
        transaction; a pair rejected again takes the newer fingerprints."""
        rejected = [{**e, "decision": "not_duplicate"} for e in entries]
        self._keep_pairs("decisions", ("record_print", "other_print", "decision"), plan_id, rejected)

    def rejections(self) -> list[dict[str, str]]:
        """Every remembered rejection."""
        return self._pairs_in("decisions", ("record_print", "other_print"))

    def remember_verdicts(self, plan_id: str, entries: list[dict[str, str]]) -> None:
        """Keep people's verdicts on proposed pairs (system, entity, record_id, other_id, verdict:
        ``duplicate`` or ``not_duplicate``, explain: the pair's explanation as the plan carried it), one
        transaction; a pair decided again takes the newer verdict."""
        self._keep_pairs("verdicts", ("verdict", "explain"), plan_id, entries)

    def verdicts(self) -> list[dict[str, str]]:
        """Every verdict people gave on a proposed pair, oldest first."""
        return self._pairs_in("verdicts", ("verdict", "explain"))

    def forget_rejections(self) -> int:
        """Forget every remembered rejection; how many there were."""
        with self._tx() as db:
            return db.execute("DELETE FROM decisions").rowcount

    def pulls(self, system: str | None = None, entity: str | None = None) -> list[PullJob]:
        """Pull records, newest first."""
        rows = self.db.execute(
            f"SELECT {self._COLUMNS} FROM pulls "  # noqa: S608 - a constant column list
            "WHERE (? IS NULL OR system=?) AND (? IS NULL OR entity=?) "
            "ORDER BY started_at DESC",
            (system, system, entity, entity),
        ).fetchall()
        return [self._job(r) for r in rows]

    def add_mark(self, mark: dict[str, Any]) -> dict[str, Any]:
        """Keep a mute or acknowledgement (``MARK_COLUMNS``; ``mark_id`` made when absent); one of the same
        kind, rule, system and record replaces the earlier. Returns the mark as kept."""
        kept = {**{k: mark.get(k) for k in MARK_COLUMNS}, "mark_id": mark.get("mark_id") or uuid.uuid4().hex}
        with self._tx() as db:
            db.execute(
                "DELETE FROM marks WHERE kind=? AND rule=? AND system IS ? AND record_id IS ?",
                (kept["kind"], kept["rule"], kept["system"], kept["record_id"]),
            )
            slots = ", ".join("?" * len(MARK_COLUMNS))
            db.execute(
                f"INSERT INTO marks ({', '.join(MARK_COLUMNS)}) VALUES ({slots})",  # noqa: S608
                [kept[k] for k in MARK_COLUMNS],
            )
        return kept

    def marks(self) -> list[dict[str, Any]]:
        """Every mute and acknowledgement, oldest first (expired ones too: they show as expired)."""
        columns = ", ".join(MARK_COLUMNS)
        rows = self.db.execute(f"SELECT {columns} FROM marks ORDER BY created_at, rowid")  # noqa: S608
        return [dict(zip(MARK_COLUMNS, r, strict=True)) for r in rows.fetchall()]

    def remove_marks(self, kind: str | None, rule: str, system: str | None, record_id: str | None) -> int:
        """Forget the marks of ``rule`` on ``system`` and ``record_id`` (None: the rule-wide mark) of
        ``kind`` (None: mutes and acknowledgements); how many there were."""
        with self._tx() as db:
            return db.execute(
                "DELETE FROM marks WHERE (? IS NULL OR kind=?) AND rule=? AND system IS ? AND record_id IS ?",
                (kind, kind, rule, system, record_id),
            ).rowcount

    # ---------------------------------------------------------------- the org's metadata (issue 27)

    def keep_metadata(self, system: str, entity: str, fields: dict[str, Any]) -> bool:
        """Keep ``fields`` (the object's metadata, ``crm_ops.connectors.orgmeta``'s compact form) as the
        newest version for (system, entity), one transaction, the oldest beyond ``ORG_VERSIONS_KEPT``
        dropped. Returns False (keeping nothing) when it equals the newest kept version."""
        body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        with self._tx() as db:
            row = db.execute(
                "SELECT version, fields FROM org_metadata WHERE system=? AND entity=? "
                "ORDER BY version DESC LIMIT 1",
                (system, entity),
            ).fetchone()
            if row is not None and row[1] == body:
                return False
            version = 1 if row is None else row[0] + 1
            db.execute(
                "INSERT INTO org_metadata (system, entity, version, taken_at, fields) VALUES (?, ?, ?, ?, ?)",
                (system, entity, version, _iso(now()), body),
            )
            db.execute(
                "DELETE FROM org_metadata WHERE system=? AND entity=? AND version<=?",
                (system, entity, version - ORG_VERSIONS_KEPT),
            )
        return True

    def metadata(self, system: str, entity: str) -> tuple[datetime, dict[str, Any]] | None:
        """The newest kept metadata of (system, entity) and when it was taken, or None."""
        row = self.db.execute(
            "SELECT taken_at, fields FROM org_metadata WHERE system=? AND entity=? "
            "ORDER BY version DESC LIMIT 1",
            (system, entity),
        ).fetchone()
        if row is None:
            return None
        return _time(row[0]) or now(), json.loads(row[1])

    def metadata_versions(self, system: str, entity: str) -> int:
        """How many versions of (system, entity)'s metadata are kept."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM org_metadata WHERE system=? AND entity=?", (system, entity)
        ).fetchone()
        return int(row[0])

    # ---------------------------------------------------------------- erasure (issue 31)
    # A person erased (``crm_ops.erasure.purge``): the state file keeps no value of theirs. Their records'
    # journal entries keep ids and statuses (what was done, to which record) without their values, stamped
    # ``erased_at`` (undo refuses them, naming the day), and so do other entries whose values held theirs
    # (undo would write "[erased]" back); pairs and marks naming their records are deleted; their values
    # in any other text (an error, a note, an explanation, statistics) are replaced. ``ErasedRows`` and
    # the helpers are at the end of the module.

    def erase(self, ids: Collection[str], redact: Callable[[str], str]) -> ErasedRows:
        """Take a person out of the state file, in one transaction, then leave no copy in its bytes
        (``scrub``). ``ids``: their records' ids; ``redact``: a text with their values replaced (the same
        text when it holds none). Running it again changes nothing."""
        erased = set(ids)
        stamp = _iso(now())
        self.db.execute("PRAGMA secure_delete=ON")  # deleted and rewritten cells overwritten with zeros
        counts = {"journal_erased": 0, "journal_redacted": 0}
        with self._tx() as db:
            for rowid, record_id, *held, erased_at in _journal_rows(db):
                kind = _erasure_of(record_id, held, erased_at, erased, redact)
                if kind is None:
                    continue
                texts = [None if v is None else redact(v) for v in held]
                if kind == "journal_erased":  # the person's record, or a write pointing at one
                    texts[:3] = [None, None, None]
                lost = kind == "journal_erased" or texts[:3] != held[:3]
                db.execute(
                    "UPDATE journal SET before=?, after=?, edited_from=?, error=?, reviewed_by=?, "
                    "erased_at=CASE WHEN ? THEN coalesce(erased_at, ?) ELSE erased_at END WHERE rowid=?",
                    (*texts, lost, stamp, rowid),
                )
                counts[kind] += 1
            decisions = _delete_naming(db, "decisions", ("record_id", "other_id"), erased)
            verdicts = _delete_naming(db, "verdicts", ("record_id", "other_id"), erased)
            marks = _delete_naming(db, "marks", ("record_id",), erased)
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            cells = sum(_redact_table(db, t, redact) for t in sorted(tables) if t != "journal")
        self.scrub()
        return ErasedRows(**counts, decisions=decisions, verdicts=verdicts, marks=marks, cells=cells)

    def scrub(self) -> None:
        """Leave no copy of deleted or rewritten values in the state file's bytes: freed pages overwritten
        (``secure_delete``), the file rebuilt (``VACUUM``) and the write-ahead log emptied."""
        self.db.execute("PRAGMA secure_delete=ON")
        self.db.execute("VACUUM")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def erased(self, plan_id: str) -> list[dict[str, Any]]:
        """The journal entries of ``plan_id`` whose values were erased (``erase``), each with its
        ``erased_at``: undo cannot put them back."""
        keys = ("action_id", "system", "entity", "record_id", "field", "status", "erased_at")
        rows = self.db.execute(
            f"SELECT {', '.join(keys)} FROM journal WHERE plan_id=? AND erased_at IS NOT NULL "  # noqa: S608
            "ORDER BY action_id",
            (plan_id,),
        ).fetchall()
        return [{**dict(zip(keys, r, strict=True)), "erased_at": _time(r[-1])} for r in rows]


# ---------------------------------------------------------------- erasure (issue 31): ``State.erase``'s


@dataclass(frozen=True)
class ErasedRows:
    """What ``State.erase`` changed: journal entries whose values were erased (the person's records') and
    entries with a value replaced (others'), pairs (``decisions``, ``verdicts``) and ``marks`` deleted,
    and cells of any other table with a value replaced."""

    journal_erased: int = 0
    journal_redacted: int = 0
    decisions: int = 0
    verdicts: int = 0
    marks: int = 0
    cells: int = 0


def _erasure_of(
    record_id: str, held: list[str | None], erased_at: str | None, ids: set[str], redact: Callable[[str], str]
) -> str | None:
    """What ``State.erase`` does to a journal entry (``held``: before, after, edited_from, error,
    reviewed_by): ``journal_erased`` (its values go: the person's record, or a write pointing at one),
    ``journal_redacted`` (a value of theirs replaced in its text) or None (nothing, already done)."""
    values = held[:3]
    if record_id in ids or any(v in ids for v in values):
        done = erased_at is not None and all(v is None for v in values)
        return None if done and all(v is None or redact(v) == v for v in held[3:]) else "journal_erased"
    return "journal_redacted" if any(v is not None and redact(v) != v for v in held) else None


def _journal_rows(db: sqlite3.Connection, chunk: int = 5000) -> Iterator[tuple[Any, ...]]:
    """Every journal entry's id, record, values, error, reviewer and ``erased_at``, a chunk at a time (a
    journal of a million writes is not held whole)."""
    last = 0
    while True:
        rows = db.execute(
            "SELECT rowid, record_id, before, after, edited_from, error, reviewed_by, erased_at FROM journal "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, chunk),
        ).fetchall()
        yield from rows
        if len(rows) < chunk:
            return
        last = rows[-1][0]


def _delete_naming(db: sqlite3.Connection, table: str, columns: tuple[str, ...], ids: set[str]) -> int:
    """Delete the rows of ``table`` whose ``columns`` hold one of ``ids``; how many."""
    deleted = 0
    chosen = sorted(ids)
    for start in range(0, len(chosen), 400):
        chunk = chosen[start : start + 400]
        marks = ",".join("?" * len(chunk))
        where = " OR ".join(f"{c} IN ({marks})" for c in columns)
        deleted += db.execute(f"DELETE FROM {table} WHERE {where}", chunk * len(columns)).rowcount  # noqa: S608
    return deleted


def _redact_table(db: sqlite3.Connection, table: str, redact: Callable[[str], str]) -> int:
    """Every text cell of ``table`` through ``redact``; how many cells changed."""
    columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
    quoted = ", ".join(f'"{c}"' for c in columns)
    changed = 0
    for row in db.execute(f'SELECT rowid, {quoted} FROM "{table}"').fetchall():  # noqa: S608
        for column, cell in zip(columns, row[1:], strict=True):
            if isinstance(cell, str) and (text := redact(cell)) != cell:
                db.execute(f'UPDATE "{table}" SET "{column}"=? WHERE rowid=?', (text, row[0]))  # noqa: S608
                changed += 1
    return changed
