"""Incremental pulls write layers over a base instead of the whole snapshot (issue 30), and every reader
sees what a full rewrite gives: over pulls with changes, new records, deletions, a record changed twice
(in one pull and in two), a pull with nothing, a compaction and a layer over the compacted base, the
snapshot frames, the chunks, the statistics, the rules' findings and an erasure's purge equal those of
a puller that rewrites the snapshot each time. The second incremental pull leaves the base's file as it
was; a pull stopped at any step of the layered write resumes to the same snapshot and watermark; an old
state file still reads and an unsorted old base is compacted rather than layered over."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from crm_ops import durable, pull
from crm_ops.config import Profile
from crm_ops.erasure.purge import purge_state
from crm_ops.erasure.redaction import Trace
from crm_ops.layered import Snapshot
from crm_ops.rules import run_rules
from crm_ops.rules.chunks import chunks
from crm_ops.rules.loader import load_yaml_rules
from crm_ops.rules.model import Rule
from crm_ops.snapshots import current_frames, split_frames
from crm_ops.state import State
from tests.unit.test_snapshot_ranges import T0, Pages, account_rows

RULES = [
    {"id": "t.named", "entity": "Account", "field": "name", "severity": "error", "description": "Named.",
     "check": "not_null"},
    {"id": "t.short", "entity": "Account", "field": "name", "severity": "warning", "description": "Short.",
     "check": {"matches": "^[a-z]+-[0-9]{1,2}$"}},
    {"id": "t.unique", "entity": "Account", "field": "name", "severity": "info", "description": "Unique.",
     "check": "unique"},
]  # fmt: skip
DAY = timedelta(days=1)


def _puller(folder: Path, conn: Pages) -> pull.Puller:
    return pull.Puller(Profile(name="t", state_dir=folder), connectors={"salesforce": conn})  # type: ignore[dict-item]


def _current(puller: pull.Puller) -> Snapshot:
    current = puller.state.current("salesforce", "Account")
    assert current is not None
    return current.snapshot


def _rules(tmp_path: Path) -> list[Rule]:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": RULES}))
    rules, problems = load_yaml_rules(path)
    assert problems == []
    return rules


def _stats(puller: pull.Puller) -> dict[str, Any]:
    (latest,) = puller.state.stats_history("salesforce", "Account", 1)
    return {k: v for k, v in latest.items() if k not in ("pull_id", "pulled_at", "lag_seconds")}


class Pair:
    """The same pulls into two state dirs: ``layered`` as the product does them, ``rewritten`` with every
    incremental pull writing the whole snapshot again (compaction each time: the write before layers)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.conn = Pages()
        self.monkeypatch = monkeypatch
        self.layered = _puller(tmp_path / "layered", self.conn)
        self.rewritten = _puller(tmp_path / "rewritten", self.conn)

    def pull(self, batches: list[pl.DataFrame]) -> tuple[pull.PullResult, pull.PullResult]:
        self.conn.batches = batches
        got = self.layered.pull("salesforce", "Account")
        with self.monkeypatch.context() as m:
            m.setattr(pull, "COMPACT_SHARE", -1.0)
            want = self.rewritten.pull("salesforce", "Account")
        return got, want

    def close(self) -> None:
        self.layered.close()
        self.rewritten.close()


def _same_for_every_reader(pair: Pair, rules: list[Rule]) -> None:
    got, want = _current(pair.layered), _current(pair.rewritten)
    frame = want.read()
    assert got.read().equals(frame)  # the same rows, values, types and order (by id)
    assert frame["id"].is_sorted()
    assert got.scan(ordered=False).collect().sort("id").equals(frame)
    rows = [p.state.current("salesforce", "Account").rows for p in (pair.layered, pair.rewritten)]  # type: ignore[union-attr]
    assert rows[0] == rows[1]
    assert pl.concat(list(chunks(got, 37))).equals(frame)  # a large table's chunks
    assert all(c.height <= 37 + len(got.layers) * 40 for c in chunks(got, 37))
    assert current_frames(pair.layered.state)["salesforce"]["Account"].equals(frame)
    large = split_frames(pair.layered.state, whole=frozenset(), chunk_rows=10).large
    assert large == {"salesforce": {"Account": got}}
    assert _stats(pair.layered) == _stats(pair.rewritten)
    whole = run_rules(rules, {"salesforce": {"Account": frame}})
    layered_whole = run_rules(rules, current_frames(pair.layered.state))
    assert layered_whole.findings.equals(whole.findings) and whole.findings.height > 0
    chunked = run_rules(rules, {}, large=large, chunk_rows=37)
    assert chunked.findings.sort(["rule", "record_id"]).equals(whole.findings.sort(["rule", "record_id"]))


def test_layered_pulls_read_as_full_rewrites_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pull, "SORT_CHUNK_ROWS", 37)  # the sorted writes in ranges too
    rules = _rules(tmp_path)
    pair = Pair(tmp_path, monkeypatch)
    ids = [(i * 7919) % 1000 for i in range(1000)]
    try:
        got, want = pair.pull([account_rows(ids[k : k + 150], T0, "first-") for k in range(0, 1000, 150)])
        assert got.mode == "full" and _current(pair.layered).layers == ()
        _same_for_every_reader(pair, rules)
        base = _current(pair.layered).base
        before = base.stat()

        # changes, new records, deletions: a layer of 25 rows
        got, want = pair.pull(
            [
                account_rows(list(range(0, 1000, 50)), T0 + DAY, "second-"),
                account_rows([1000, 1001, 1002], T0 + DAY, "new-"),
                account_rows([3, 4], T0 + DAY, "gone-", deleted=True),
            ]
        )
        assert (
            (got.total, got.changed, got.deleted) == (want.total, want.changed, want.deleted) == (1003, 25, 2)
        )
        assert len(_current(pair.layered).layers) == 1
        _same_for_every_reader(pair, rules)
        first_layer = _current(pair.layered).layers[0].stat()

        # id 50 changed again (over the first layer), id 7 twice in this pull (the later wins), a new
        # record deleted, a deleted record back
        got, want = pair.pull(
            [
                account_rows([50, 7], T0 + 2 * DAY, "third-"),
                account_rows([7], T0 + 2 * DAY + timedelta(minutes=1), "again-"),
                account_rows([1001], T0 + 2 * DAY, "gone-", deleted=True),
                account_rows([3], T0 + 2 * DAY, "back-"),
            ]
        )
        layered = _current(pair.layered)
        assert len(layered.layers) == 2 and got.total == want.total == 1003
        # the second incremental pull wrote neither the base nor the first layer again
        assert layered.base == base
        assert (base.stat().st_ino, base.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        first = layered.layers[0].stat()
        assert (first.st_ino, first.st_mtime_ns) == (first_layer.st_ino, first_layer.st_mtime_ns)
        names = dict(layered.read().select("id", "name").rows())
        assert (names["001000007"], names["001000050"], names["001000003"]) == (
            "again-7",
            "third-50",
            "back-3",
        )
        _same_for_every_reader(pair, rules)

        got, want = pair.pull([])  # nothing changed: the same files
        assert _current(pair.layered) == layered and got.total == 1003
        _same_for_every_reader(pair, rules)

        # 160 more rows: the layers would hold more than COMPACT_SHARE of the base's: a new base
        got, want = pair.pull([account_rows(list(range(1, 1000, 6)), T0 + 3 * DAY, "fourth-")])
        compacted = _current(pair.layered)
        assert compacted.layers == () and compacted.base != base
        _same_for_every_reader(pair, rules)

        got, want = pair.pull([account_rows([2, 999, 1003], T0 + 4 * DAY, "fifth-")])
        assert _current(pair.layered) == Snapshot(compacted.base, (_current(pair.layered).layers[0],))
        _same_for_every_reader(pair, rules)
        # the last KEEP_SNAPSHOTS snapshots' files are kept, the older ones' gone
        kept = pair.layered.state.recent_snapshots("salesforce", "Account", pull.KEEP_SNAPSHOTS)
        assert kept == [_current(pair.layered), compacted, layered]
        folder = tmp_path / "layered" / "snapshots" / "salesforce" / "Account"
        assert set(folder.glob("*.parquet")) == {p for s in kept for p in s.files()}
        assert base.exists()  # a kept snapshot still lies over it
        for _ in range(2):
            pair.pull([])
        assert not base.exists() and not any(p.exists() for p in layered.layers)
        assert set(folder.glob("*.parquet")) == set(_current(pair.layered).files())

        # an erasure's purge over the layered files leaves what it leaves in the rewritten snapshot
        trace = Trace(ids=frozenset({"001000050", "001000999", "001000010"}), values=frozenset({"first-20"}))
        for puller in (pair.layered, pair.rewritten):
            purge_state(puller.root, puller.state, trace)
        _same_for_every_reader(pair, rules)
        purged = _current(pair.layered).read()
        assert not set(trace.ids) & set(purged["id"]) and purged.height == 1004 - 3
        assert "first-20" not in set(purged["name"].drop_nulls())
    finally:
        pair.close()


class Stop(BaseException):
    """A kill at one step (nothing catches it, as nothing catches a SIGKILL)."""


@contextmanager
def _stop_at(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, after: bool) -> Iterator[None]:
    """``target.name`` raises ``Stop`` before (or just after) it runs."""
    real = getattr(target, name)

    def stopped(*args: Any, **kwargs: Any) -> Any:
        if after:
            real(*args, **kwargs)
        raise Stop(name)

    with monkeypatch.context() as m:
        m.setattr(target, name, stopped)
        yield


STEPS = [
    ("a part written", durable, "write_parquet", True),
    ("the layer or base written", pull.Puller, "_layer", True),
    ("statistics", pull, "snapshot_stats", False),
    ("commit", State, "finish_pull", False),
    ("after the commit", shutil, "rmtree", False),
    ("pruning", pull.Puller, "_prune", False),
]


@pytest.mark.parametrize(("step", "target", "name", "after"), STEPS, ids=[s[0] for s in STEPS])
@pytest.mark.parametrize("compact", [False, True], ids=["layer", "compaction"])
def test_a_pull_stopped_at_any_step_of_the_layered_write_resumes_to_the_same_snapshot(
    step: str,
    target: Any,
    name: str,
    after: bool,
    compact: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if name == "_layer" and compact:
        name = "_base"  # a compaction writes a base instead
    pair = Pair(tmp_path, monkeypatch)
    try:
        pair.pull([account_rows(list(range(400)), T0, "first-")])
        pair.pull([account_rows([1, 2, 500], T0 + DAY, "second-"), account_rows([9], T0 + DAY, "x-", True)])
        before = _current(pair.layered)
        changed = list(range(0, 400, 5)) if compact else [1, 7, 501]
        batches = [account_rows(changed, T0 + 2 * DAY, "third-")]
        pair.conn.batches = batches
        with _stop_at(monkeypatch, target, name, after), pytest.raises(Stop):
            pair.layered.pull("salesforce", "Account")
        pair.layered.close()
        stopped = _puller(tmp_path / "layered", pair.conn)
        pair.layered = stopped
        committed = step in ("after the commit", "pruning")
        if not committed:  # not current yet: the old snapshot is, whole
            assert _current(stopped) == before and before.exists()
            assert stopped.state.current("salesforce", "Account").watermark == T0 + DAY  # type: ignore[union-attr]
            assert any(j.status == "running" for j in stopped.state.pulls())
        else:  # current, whole; the next pull is a new one (bringing the same rows again)
            assert _current(stopped) != before and _current(stopped).exists()
            assert not any(j.status == "running" for j in stopped.state.pulls())
        got, _ = pair.pull(batches)
        assert got.mode == "incremental" and got.resumed == (not committed)
        assert len(_current(stopped).layers) == (0 if compact else 2 + committed)
        assert _current(stopped).read().equals(_current(pair.rewritten).read())
        assert stopped.state.current("salesforce", "Account").watermark == T0 + 2 * DAY  # type: ignore[union-attr]
        assert not any(j.status == "running" for j in stopped.state.pulls())
        assert not list((tmp_path / "layered" / "pulls").iterdir())
    finally:
        pair.close()


def test_an_old_state_file_reads_and_an_unsorted_old_base_is_compacted(tmp_path: Path) -> None:
    conn = Pages()
    conn.batches = [account_rows(list(range(300)), T0, "first-")]
    puller = _puller(tmp_path, conn)
    puller.pull("salesforce", "Account")
    base = _current(puller).base
    puller.close()
    # a state file from before layers (no such columns) and a base written before snapshots were sorted
    with sqlite3.connect(tmp_path / "state.sqlite") as db:
        db.execute("ALTER TABLE current DROP COLUMN layers")
        db.execute("ALTER TABLE pulls DROP COLUMN layers")
    pl.read_parquet(base).reverse().write_parquet(base)
    puller = _puller(tmp_path, conn)
    try:
        assert _current(puller) == Snapshot(base)
        assert _current(puller).read().height == 300
        conn.batches = [account_rows([5], T0 + DAY, "second-")]
        puller.pull("salesforce", "Account")
        snapshot = _current(puller)
        assert snapshot.layers == () and snapshot.base != base  # rewritten sorted, not layered over
        frame = snapshot.read()
        assert frame["id"].is_sorted() and frame.height == 300
        conn.batches = [account_rows([6], T0 + 2 * DAY, "third-")]
        puller.pull("salesforce", "Account")
        assert _current(puller).layers != ()  # a sorted base: layered over
    finally:
        puller.close()
