"""A safe first week: on the sandbox, a fresh plan leaves merges, syncs and weak fixes to a person, the
untouched review file writes only the safe part, every row says what the record is and where it opens,
``plan show`` tells what a plan would do, and the nightly run applies nothing a person has to see first."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from crm_ops.config import load_profile
from crm_ops.plan import read_plan
from crm_ops.plan.format import Plan
from crm_ops.pull import Puller
from crm_ops.rules.loader import load_rules
from crm_ops.sandbox.hubspot import PORTAL_ID
from crm_ops.sandbox.server import Sandbox
from crm_ops.schema.entities import ENTITIES
from crm_ops.state import State
from tests.command import crm_ops
from tests.pulling import changed_cells, fast_sandbox, profile_for

pytestmark = pytest.mark.integration
FORMAT_RULES = {r.id for r in load_rules([], shipped=True)[0] if "format" in r.tags}
RUN = """
[profiles.sandbox.run]
auto_apply = ["tag:format", "tag:orphan", "tag:junk"]
min_confidence = 0.5
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(1500, 43) as sb:
        yield sb


def _cli(box: Sandbox, *args: str | Path) -> subprocess.CompletedProcess[str]:
    done = crm_ops(*args, env={**os.environ, **box.env})  # in this process (tests.command)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


def _snapshots(puller: Puller) -> dict[tuple[str, str], pl.DataFrame]:
    return {(c.system, c.entity): c.snapshot.read().sort("id") for c in puller.state.all_current()}


def _fresh_plan(box: Sandbox, folder: Path) -> tuple[Path, Plan]:
    profile_for(box, folder)
    config = folder / "crm-ops.toml"
    _cli(box, "pull", "-c", config)
    _cli(box, "check", "-c", config, "--fail-on", "never")
    _cli(box, "match", "-c", config)
    made = _cli(box, "plan", "-c", config)
    assert "approve is yes only for the safe fixes" in made.stdout
    (plan_folder,) = (folder / "state" / "plans").iterdir()
    return plan_folder, read_plan(plan_folder / "plan.jsonl")


def test_the_untouched_review_file_writes_only_the_safe_part(box: Sandbox, tmp_path: Path) -> None:
    folder, plan = _fresh_plan(box, tmp_path)
    config = tmp_path / "crm-ops.toml"
    merges = [a for a in plan.actions if a.kind == "merge"]
    drifts = [a for a in plan.actions if a.rule.startswith("match.drift.")]
    weak = [a for a in plan.actions if a.kind == "update" and (a.confidence or 0) < 0.95]
    weak_format = [a for a in weak if a.rule in FORMAT_RULES]  # a safe rule, but under the bar
    safe = [a for a in plan.actions if a.approved]
    assert merges and drifts and weak_format and len(safe) > 20
    assert not any(a.approved for a in (*merges, *drifts, *weak))
    assert all(a.kind == "update" and (a.confidence or 0) >= 0.95 for a in safe)
    assert {a.review_reason for a in merges} == {"merge: a person decides"}
    assert {a.review_reason for a in drifts} == {"drift sync overwrites the other CRM"}
    assert all(re.fullmatch(r"confidence \S+ < 0\.95", a.review_reason) for a in weak_format)

    # without --review, apply takes the plan's own defaults: the same safe part
    dry = _cli(box, "apply", folder, "-c", config)
    assert f"selected {len(safe):,} of {len(plan.actions):,} actions: approved by default" in dry.stdout
    assert "dry run: nothing was written" in dry.stdout

    profile = load_profile(config, "sandbox")
    puller = Puller(profile)
    try:
        before = _snapshots(puller)
    finally:
        puller.close()
    _cli(box, "apply", folder, "-c", config, "--review", folder / "plan.csv", "--yes")
    state = State(profile.state_dir / "state.sqlite")
    try:
        journal = state.journal(plan.header.plan_id)
    finally:
        state.close()
    safe_ids = {a.action_id for a in safe}
    assert set(journal) <= safe_ids  # nothing else was even tried
    done = {i for i, e in journal.items() if e["status"] == "done"}
    assert len(done) >= len(safe) * 0.9

    # the CRMs afterwards: only the safe cells changed; the duplicates are all still there
    _cli(box, "pull", "-c", config, "--full")
    puller = Puller(profile)
    try:
        after = _snapshots(puller)
    finally:
        puller.close()
    allowed = {(a.system, a.record_id, a.field) for a in safe if a.action_id in done}
    for (system, entity), frame in after.items():
        columns = [c for c in ENTITIES[entity] if c not in ("updated_at", "id")]
        changed = {(system, r, f) for r, f in changed_cells(before[(system, entity)], frame, columns)}
        assert changed <= allowed, (system, entity, sorted(changed - allowed)[:5])
    for a in merges:
        live = after[(a.system, a.entity)].filter((pl.col("id") == a.record_id) & ~pl.col("is_deleted"))
        assert live.height == 1, a.record_id


def test_every_row_says_what_the_record_is_and_where_it_opens(box: Sandbox, tmp_path: Path) -> None:
    folder, plan = _fresh_plan(box, tmp_path)
    instance = re.escape(box.env["CRM_OPS_SF_INSTANCE_URL"].rstrip("/"))
    shapes = {
        "salesforce": rf"{instance}/lightning/r/(Account|Contact|Lead|Opportunity)/(?P<id>\w{{15,18}})/view",
        "hubspot": rf"https://app\.hubspot\.com/contacts/{PORTAL_ID}/record/(0-1|0-2|0-3)/(?P<id>\d+)",
    }
    with (folder / "plan.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(plan.actions)
    for row in rows:
        assert row["label"], row
        hit = re.fullmatch(shapes[row["system"]], row["url"])
        assert hit and hit["id"] == row["record_id"], row
        if row["approve"] != "yes":
            assert row["review_reason"], row
        if row["kind"] in ("merge", "associate"):
            assert (
                row["other_id"]
                and row["other_label"]
                and re.fullmatch(shapes[row["system"]], row["other_url"])
            )
        if row["kind"] == "merge":
            assert (row["seen_value"], row["proposed_value"]) == (row["label"], row["other_label"])
    with_account = [r for r in rows if r["entity"] == "Contact" and r["account"]]
    assert len(with_account) > len([r for r in rows if r["entity"] == "Contact"]) / 2
    drift = [r for r in rows if r["rule"].startswith("match.drift.")]
    assert drift and all(r["other_url"] for r in drift)  # the twin in the other CRM
    for row in drift:
        other = "hubspot" if row["system"] == "salesforce" else "salesforce"
        assert re.fullmatch(shapes[other], row["other_url"])


def test_plan_show_prints_the_breakdown_and_samples_and_json_parses(box: Sandbox, tmp_path: Path) -> None:
    folder, plan = _fresh_plan(box, tmp_path)
    shown = _cli(box, "plan", "show", folder)
    text = shown.stdout
    assert f"{len(plan.actions):,} actions" in text
    assert "needs review" in text and "approved" in text
    assert "merges and conversions (" in text and "merged away" in text
    assert "survivor ends with" in text
    assert "match.duplicate" in text and "needs review because" in text
    assert re.search(r"match\.drift\.\w+: a sample", text) and " -> " in text
    data = json.loads(_cli(box, "plan", "show", folder / "plan.jsonl", "--json").stdout)
    assert data["actions"] == len(plan.actions)
    assert sum(data["by_kind"].values()) == len(plan.actions)
    assert data["by_approval"].get("approved", 0) == sum(1 for a in plan.actions if a.approved)
    assert set(data["by_rule"]) == {a.rule for a in plan.actions}
    merge = data["merges"][0]
    assert merge["duplicate"]["label"] and merge["survivor"]["label"] and merge["survivor"]["url"]
    assert all("survivor_values" in m and "cannot_undo" in m for m in data["merges"])
    sample = next(iter(data["samples"].values()))[0]
    assert sample["record"]["label"] and sample["record"]["url"]


def test_the_nightly_run_applies_nothing_a_person_has_to_see_first(tmp_path: Path) -> None:
    with fast_sandbox(1500, 47) as box:  # its own: the other tests here apply the safe fixes
        profile = profile_for(box, tmp_path, extra=RUN)
        done = crm_ops("run", "-c", tmp_path / "crm-ops.toml", env={**os.environ, **box.env})
    assert done.returncode == 1, done.stderr  # the sandbox has error-level findings
    (folder,) = (p for p in (tmp_path / "state" / "runs").iterdir() if p.is_dir())
    plan = read_plan(folder / "plan.jsonl")
    state = State(profile.state_dir / "state.sqlite")
    try:
        journal = state.journal(plan.header.plan_id)
    finally:
        state.close()
    approved = {a.action_id for a in plan.actions if a.approved}
    assert journal and set(journal) <= approved  # no association, junk clearing or weak fix by a tag
    listed = [a for a in plan.actions if a.kind == "associate" or a.rule == "person.title.placeholder"]
    assert listed and not any(a.action_id in journal for a in listed)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["applied"].get("done", 0) > 10
