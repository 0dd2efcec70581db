"""Replies lost after the CRM committed, on both CRMs, with hostile values in the plan and a SIGKILL in
the middle: `crm-ops apply` resumed ends with the CRMs exactly as a clean run leaves them (every merge,
update and conversion once, nothing journaled failed that landed), and `crm-ops undo`, under lost replies
and a kill too, puts them back as they were (no record created twice). A lone UTF-16 surrogate in a
planned value fails its own action only; every refused action is unapplied and journaled with why."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from crm_ops.plan import write_plan
from crm_ops.plan.format import Action, Plan
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.lostreply import LostReplies, hubspot_operation, salesforce_operation
from crm_ops.sandbox.server import Sandbox
from tests.applying import (
    FINISHED,
    assert_undone,
    crm_state,
    fresh_plan,
    journal_of,
    run_apply,
    twin_sandboxes,
)
from tests.pulling import changed_cells, profile_for

pytestmark = pytest.mark.integration
SEED = SeedConfig(records=800, seed=43)
QUICK = {"retry_initial_wait": 0.02, "retry_max_wait": 0.2}  # many lost replies, little waiting
HOSTILE = (
    "lone\rreturn",
    "=1+1",
    "\t@SUM(A1)",
    'say "hi", then; go',
    "two\nlines",
    "crlf\r\nend",
    "+cmd|' /C calc'!A0",
    "emoji \U0001f600 and RTL \u202eevil",
    "<script>alert(1)</script>",
)
TEXT_FIELDS = ("last_name", "title", "city", "name")
SURROGATE = "\ud83d"  # half of an emoji: JSON can spell it ("\\ud83d"), no CRM stores it


def _hostile_plan(plan: Plan) -> tuple[Plan, set[str], set[str]]:
    """The plan with hostile proposed values on text updates of both CRMs, and one lone surrogate on
    each: the plan, the hostile actions' ids and the surrogate ones'."""
    actions: list[Action] = []
    hostile: set[str] = set()
    broken: set[str] = set()
    per_system: dict[str, int] = {}
    for planned in plan.actions:
        n = per_system.get(planned.system, 0)
        action = planned
        if planned.kind == "update" and planned.field in TEXT_FIELDS and n <= len(HOSTILE):
            per_system[planned.system] = n + 1
            value = HOSTILE[n] if n < len(HOSTILE) else f"{planned.proposed_value or 'x'}{SURROGATE}"
            action = replace(planned, proposed_value=value).with_id()
            (hostile if n < len(HOSTILE) else broken).add(action.action_id)
        actions.append(action)
    return Plan(plan.header, tuple(actions)), hostile, broken


def _seed_hostile(box: Sandbox) -> None:
    """Hostile job titles on HubSpot's typed-in duplicates: merged away, journaled, created again."""
    table = box.hubspot.objects["contacts"]
    for n, row in enumerate(range(len(table) - 12, len(table))):
        table.update(row, {"jobtitle": HOSTILE[n % len(HOSTILE)]})


def _lose_replies(box: Sandbox, seed: int) -> tuple[LostReplies, LostReplies]:
    # the first of each kind of write and then every fourth, and a third of the others, lose their reply
    sf = box.salesforce.lost_replies = LostReplies.of(salesforce_operation, rate=0.3, every=4, seed=seed)
    hs = box.hubspot.lost_replies = LostReplies.of(hubspot_operation, rate=0.3, every=4, seed=seed + 1)
    return sf, hs


def test_lost_replies_and_a_kill_end_as_a_clean_run_and_undo_is_exact(tmp_path: Path) -> None:
    rng = random.Random(11)
    with twin_sandboxes(SEED, 12) as (clean, lossy):
        clean_dir, lossy_dir = tmp_path / "clean", tmp_path / "lossy"
        for box in (clean, lossy):
            _seed_hostile(box)
        clean_profile = profile_for(clean, clean_dir, salesforce=QUICK, hubspot=QUICK)
        plan, hostile, broken = _hostile_plan(fresh_plan(clean_profile))
        plan_dir = tmp_path / "plan"
        write_plan(plan, plan_dir)
        assert len(hostile) >= 12 and len(broken) == 2
        assert {a.system for a in plan.actions if a.kind == "merge"} == {"salesforce", "hubspot"}
        conversions = {a.record_id for a in plan.actions if a.kind == "convert"}
        assert conversions

        assert run_apply(clean, clean_dir, plan_dir, kill_after=None, rng=rng) in FINISHED
        want = crm_state(clean_profile)
        plan_id = plan.header.plan_id
        clean_journal = journal_of(clean_dir, plan_id)

        lossy_profile = profile_for(lossy, lossy_dir, salesforce=QUICK, hubspot=QUICK)
        before = crm_state(lossy_profile)
        sf_lost, hs_lost = _lose_replies(lossy, seed=5)
        kills = [
            run_apply(lossy, lossy_dir, plan_dir, kill_after=40, rng=rng),  # among the updates
            run_apply(lossy, lossy_dir, plan_dir, kill_after=4, rng=rng, where="field = 'merge_into'"),
        ]
        assert None in kills
        assert run_apply(lossy, lossy_dir, plan_dir, kill_after=None, rng=rng) in FINISHED
        got = crm_state(lossy_profile)
        for key, frame in want.items():  # every write once: no merge, conversion or update twice
            assert got[key].equals(frame), (key, sorted(changed_cells(frame, got[key]))[:8])
        for kind in ("merge", "update", "convert"):
            assert sf_lost.counts().get(kind), (kind, sf_lost.counts())
        for kind in ("merge", "update"):
            assert hs_lost.counts().get(kind), (kind, hs_lost.counts())

        journal = journal_of(lossy_dir, plan_id)
        # the same outcome for every action as the clean run: no landed write journaled failed
        assert {k: e["status"] for k, e in journal.items()} == {
            k: e["status"] for k, e in clean_journal.items()
        }
        for action_id in broken:  # refused before sending, saying why; its batch written
            assert journal[action_id]["status"] == "failed"
            assert "lone UTF-16 surrogate" in str(journal[action_id]["error"])
        assert all(journal[a]["status"] == "done" for a in hostile), [journal[a] for a in hostile]
        by_id = {a.action_id: a for a in plan.actions}
        for action_id, e in journal.items():  # every refused write unapplied
            action = by_id[action_id]
            if e["status"] in ("failed", "conflict") and action.kind == "update":
                frame = got[(action.system, action.entity)].filter(pl.col("id") == action.record_id)
                now = frame[action.field or ""].cast(pl.String).to_list()
                assert now in ([action.seen_value], [None]) and now != [action.proposed_value], (e, now)

        # undo, replies lost and killed among the merges coming back
        run_apply(lossy, lossy_dir, plan_dir, kill_after=6, rng=rng, command="undo", where="field IS NULL")
        assert run_apply(lossy, lossy_dir, plan_dir, kill_after=None, rng=rng, command="undo") in FINISHED
        assert sf_lost.counts().get("undelete"), sf_lost.counts()
        assert hs_lost.counts().get("create"), hs_lost.counts()
        undo_journal = journal_of(lossy_dir, f"undo-{plan_id}")
        recreated = assert_undone(before, crm_state(lossy_profile), undo_journal, conversions)
        assert len(recreated) == sum(1 for a in plan.actions if a.kind == "merge" and a.system == "hubspot")
