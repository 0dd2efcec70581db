"""Exactly once under concurrency and kills: two `crm-ops apply --yes` of one plan at once, two `crm-ops
undo --yes` at once, and an apply (or a nightly `crm-ops run` auto-applying merges) killed with SIGKILL
while HubSpot merges it sent are journaled `pending`, then the next `crm-ops run` or `crm-ops undo`. Each
ends as one clean apply and one clean undo: the second process exits 5 naming the first, nothing is
written twice (no HubSpot contact created twice), and every old value and merged-away record comes back.
Each fails without the plan locks, the journal's order and the settling of pending merges."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest

from crm_ops.cli import EXIT_LOCKED
from crm_ops.plan import read_plan
from crm_ops.plan.settle import settle_pending
from crm_ops.pull import Puller
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.applying import (
    FAST,
    FINISHED,
    assert_undone,
    crm_state,
    fresh_plan,
    journal_of,
    run_apply,
    twin_sandboxes,
    type_in_hubspot_duplicates,
    written_plan,
)
from tests.pulling import changed_cells, profile_for

pytestmark = pytest.mark.integration
SEED = SeedConfig(records=800, seed=47)


def _crm_ops(box: Sandbox, folder: Path, *args: str, stderr: int = subprocess.PIPE) -> subprocess.Popen[str]:
    """``crm-ops ARGS`` as a child process, on the config written into ``folder``."""
    return subprocess.Popen(
        [sys.executable, "-m", "crm_ops", *args],
        env={**os.environ, **box.env, "CRM_OPS_CONFIG": str(folder / "crm-ops.toml")},
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )


def _start(
    box: Sandbox, folder: Path, plan: Path, command: str, stderr: int = subprocess.PIPE
) -> subprocess.Popen[str]:
    extra = ["--batch-size", "7", "--all-actions"] if command == "apply" else []
    return _crm_ops(box, folder, command, str(plan), "--yes", *extra, stderr=stderr)


def _finish(child: subprocess.Popen[str]) -> tuple[int, str]:
    return child.wait(timeout=600), child.communicate()[1]


def _at_once(box: Sandbox, folder: Path, plan: Path, command: str, plan_id: str) -> None:
    """Two of ``command`` of one plan started together: one does it all, the other exits 5 naming it."""
    first, second = _start(box, folder, plan, command), _start(box, folder, plan, command)
    ended = {p.pid: _finish(p) for p in (first, second)}
    codes = [code for code, _ in ended.values()]
    assert codes.count(EXIT_LOCKED) == 1 and any(c in FINISHED for c in codes), ended
    (locked,) = [err for code, err in ended.values() if code == EXIT_LOCKED]
    (winner,) = [pid for pid, (code, _) in ended.items() if code != EXIT_LOCKED]
    assert f"another apply or undo of plan {plan_id} holds" in locked, locked
    assert f"crm-ops {command} {plan}" in locked and f"(pid {winner} on " in locked, locked


@contextmanager
def _sandbox(seed: SeedConfig, duplicates: int) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(seed=seed, hubspot_limits=FAST)) as box:
        type_in_hubspot_duplicates(box, duplicates)
        yield box


def test_two_applies_and_two_undos_at_once_end_as_one_clean_apply_and_undo(tmp_path: Path) -> None:
    rng = random.Random(5)
    with twin_sandboxes(SEED, 10) as (reference, box):
        ref_dir, box_dir = tmp_path / "reference", tmp_path / "box"
        ref_profile = profile_for(reference, ref_dir)
        plan_dir = tmp_path / "plan"
        plan = written_plan(ref_profile, plan_dir)
        plan_id = plan.header.plan_id
        assert sum(1 for a in plan.actions if a.kind == "update") > 20
        assert sum(1 for a in plan.actions if a.kind == "merge" and a.system == "hubspot") >= 8
        conversions = {a.record_id for a in plan.actions if a.kind == "convert"}
        assert run_apply(reference, ref_dir, plan_dir, kill_after=None, rng=rng) in FINISHED
        want = crm_state(ref_profile)

        profile = profile_for(box, box_dir)
        before = crm_state(profile)
        _at_once(box, box_dir, plan_dir, "apply", plan_id)
        got = crm_state(profile)
        for key, frame in want.items():  # every write once, as the clean apply
            assert got[key].equals(frame), (key, sorted(changed_cells(frame, got[key]))[:8])
        journal = journal_of(box_dir, plan_id)
        assert {k: e["status"] for k, e in journal.items()} == {
            k: e["status"] for k, e in journal_of(ref_dir, plan_id).items()
        }
        assert not any(str(e["error"]).startswith("already holds") for e in journal.values())

        _at_once(box, box_dir, plan_dir, "undo", plan_id)
        undone = journal_of(box_dir, f"undo-{plan_id}")
        recreated = assert_undone(before, crm_state(profile), undone, conversions)  # no contact twice
        assert len(recreated) == sum(1 for a in plan.actions if a.kind == "merge" and a.system == "hubspot")


AUTO_MERGE = """
[profiles.sandbox.run]
auto_apply = ["match.duplicate"]
min_confidence = 0.5
"""


def _kill_once_merges_land(box: Sandbox, child: subprocess.Popen[str]) -> int:
    """SIGKILL ``child`` (an apply, or a run that auto-applies merges) as soon as the sandbox holds a
    HubSpot merge it sent (its journal entry still ``pending``: merges are journaled ``done`` after each
    chunk); how many contacts were merged away by then."""
    contacts = box.hubspot.objects["contacts"]
    archived = int(contacts.frame()["archived"].sum())
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        merged = int(contacts.frame()["archived"].sum()) - archived
        if merged:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return merged
        time.sleep(0.005)
    child.kill()
    raise AssertionError(f"it ended ({child.wait()}) before a HubSpot merge was seen")


@pytest.mark.parametrize(("killed", "after"), [("apply", "run"), ("apply", "undo"), ("run", "run")])
def test_a_merge_killed_pending_is_settled_by_the_next_run_or_undo_and_undone(
    tmp_path: Path, killed: str, after: str
) -> None:
    with _sandbox(SEED, 10) as box:
        profile = profile_for(box, tmp_path, extra=AUTO_MERGE if killed == "run" else "")
        before = crm_state(profile)
        if killed == "apply":
            plan_dir = tmp_path / "plan"
            written_plan(profile, plan_dir)
            child = _start(box, tmp_path, plan_dir, "apply", stderr=subprocess.DEVNULL)
        else:  # the nightly run, merging the duplicates it finds
            child = _crm_ops(box, tmp_path, "run", stderr=subprocess.DEVNULL)
        assert _kill_once_merges_land(box, child) >= 1
        if killed == "run":
            (plan_dir,) = (tmp_path / "state" / "runs").glob("*/plan.jsonl")
            plan_dir = plan_dir.parent
            profile_for(box, tmp_path)  # the next run applies nothing: what the CRMs hold is compared
        plan_id = read_plan(plan_dir / "plan.jsonl").header.plan_id
        pending = {
            e["record_id"]
            for e in journal_of(tmp_path, plan_id).values()
            if e["status"] == "pending" and e["field"] == "merge_into" and e["system"] == "hubspot"
        }
        merged_away = set(
            box.hubspot.objects["contacts"].frame().filter(pl.col("archived"))["id"].cast(pl.String)
        )
        landed = pending & merged_away
        assert landed, (pending, "the kill came after the merges were journaled done")

        if after == "run":
            code, err = _finish(_crm_ops(box, tmp_path, "run"))
            assert code in (0, 1), err
            journal = journal_of(tmp_path, plan_id)
            assert not [e for e in journal.values() if e["status"] == "pending"]  # settled, every one
            assert all(e["status"] == "done" for e in journal.values() if e["record_id"] in landed)

        code, err = _finish(_crm_ops(box, tmp_path, "undo", str(plan_dir), "--yes"))
        assert code in FINISHED, err
        undone = journal_of(tmp_path, f"undo-{plan_id}")
        recreated = assert_undone(before, crm_state(profile), undone, set())  # no conversion was reached
        assert landed <= set(recreated)  # each merged-away contact brought back, named in the undo journal


class _Killed(BaseException):
    """The process dying between journaling a merge ``pending`` and sending it."""


def test_a_merge_journaled_pending_but_never_sent_is_settled_not_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_ops.plan.apply import Applier

    with _sandbox(SeedConfig(records=300, seed=47), 3) as box:
        profile = profile_for(box, tmp_path)
        plan = fresh_plan(profile)
        # HubSpot's contact merges (its companies' are merged too: their records are not looked at here)
        merges = [
            a for a in plan.actions if a.kind == "merge" and (a.system, a.entity) == ("hubspot", "Contact")
        ]
        assert merges
        contacts = box.hubspot.objects["contacts"]
        live = contacts.frame().filter(~pl.col("archived")).height
        puller = Puller(profile)
        try:
            hubspot = puller.connector("hubspot")

            def killed(*args: object, **kwargs: object) -> None:
                raise _Killed

            with monkeypatch.context() as patch:
                patch.setattr(hubspot, "merge", killed)
                with pytest.raises(_Killed):
                    Applier(puller.state, puller.connector).apply(plan.header.plan_id, merges, dry_run=False)
            journal = puller.state.journal(plan.header.plan_id)
            assert [e["status"] for e in journal.values()] == ["pending"] * len(journal)
            assert contacts.frame().filter(~pl.col("archived")).height == live  # nothing was sent
            settled = settle_pending(puller.state, puller.connector)
            assert settled == {plan.header.plan_id: {"not applied": len(journal)}}
            journal = puller.state.journal(plan.header.plan_id)
            assert {e["status"] for e in journal.values()} == {"not applied"}
            assert all("stopped before the CRM took it" in str(e["error"]) for e in journal.values())
            # applied again, the plan sends none of them (a newer plan proposes them if still wanted); the
            # merges never journaled are sent
            again = Applier(puller.state, puller.connector).apply(plan.header.plan_id, merges, dry_run=False)
            assert again.counts == {"already not applied": len(journal), "done": len(merges) - len(journal)}
            assert settle_pending(puller.state, puller.connector) == {}  # nothing pending: nothing read
        finally:
            puller.close()
        unsent = {int(e["record_id"]) for e in journal.values()}
        still = contacts.frame().filter(pl.col("id").is_in(list(unsent)) & ~pl.col("archived"))
        assert still.height == len(unsent)  # never merged
