"""Exactly once under concurrency and kills: two `crm-ops apply --yes` of one plan at once, two `crm-ops
undo --yes` at once, and an apply killed (SIGKILL) while HubSpot merges it sent are journaled `pending`,
then the next `crm-ops run` or `crm-ops undo`. Each ends as one clean apply and one clean undo: the second
process exits 5 naming the first, nothing is written twice (no HubSpot contact created twice), and every
old value and merged-away record comes back."""

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


def _start(
    box: Sandbox, folder: Path, plan: Path, command: str, stderr: int = subprocess.PIPE
) -> subprocess.Popen[str]:
    env = {**os.environ, **box.env, "CRM_OPS_CONFIG": str(folder / "crm-ops.toml")}
    extra = ["--batch-size", "7", "--all-actions"] if command == "apply" else []
    return subprocess.Popen(
        [sys.executable, "-m", "crm_ops", command, str(plan), "--yes", *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        text=True,
    )


def _at_once(box: Sandbox, folder: Path, plan: Path, command: str, plan_id: str) -> None:
    """Two of ``command`` of one plan started together: one does it all, the other exits 5 naming it."""
    first, second = _start(box, folder, plan, command), _start(box, folder, plan, command)
    ended = {p.pid: (p.wait(timeout=600), p.communicate()[1]) for p in (first, second)}
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


def _kill_once_merges_land(box: Sandbox, folder: Path, plan: Path) -> int:
    """Start `crm-ops apply --yes` and SIGKILL it as soon as the sandbox holds a HubSpot merge it sent
    (its journal entry still ``pending``: the run journals merges ``done`` after each chunk); how many
    contacts were merged away by then."""
    contacts = box.hubspot.objects["contacts"]
    archived = int(contacts.frame()["archived"].sum())
    child = _start(box, folder, plan, "apply", stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        merged = int(contacts.frame()["archived"].sum()) - archived
        if merged:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return int(merged)
        time.sleep(0.005)
    child.kill()
    raise AssertionError(f"the apply ended ({child.wait()}) before a HubSpot merge was seen")


@pytest.mark.parametrize("after", ["run", "undo"])
def test_a_merge_killed_pending_is_settled_by_the_next_run_or_undo_and_undone(
    tmp_path: Path, after: str
) -> None:
    with _sandbox(SEED, 10) as box:
        profile = profile_for(box, tmp_path)
        plan_dir = tmp_path / "plan"
        plan = written_plan(profile, plan_dir)
        plan_id = plan.header.plan_id
        before = crm_state(profile)
        assert _kill_once_merges_land(box, tmp_path, plan_dir) >= 1
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
            env = {**os.environ, **box.env}
            run = subprocess.run(
                [sys.executable, "-m", "crm_ops", "run", "-c", str(tmp_path / "crm-ops.toml")],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert run.returncode in (0, 1), run.stderr
            journal = journal_of(tmp_path, plan_id)
            assert not [e for e in journal.values() if e["status"] == "pending"]  # settled, every one
            assert all(e["status"] == "done" for k, e in journal.items() if e["record_id"] in landed)

        code = subprocess.run(
            [sys.executable, "-m", "crm_ops", "undo", str(plan_dir), "--yes"],
            env={**os.environ, **box.env, "CRM_OPS_CONFIG": str(tmp_path / "crm-ops.toml")},
            capture_output=True,
            text=True,
            check=False,
        )
        assert code.returncode in FINISHED, code.stderr
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
        merges = [a for a in plan.actions if a.kind == "merge" and a.system == "hubspot"]
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
