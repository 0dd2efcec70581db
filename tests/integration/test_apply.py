"""Apply a plan to the sandbox: dry run, conflicts, writes, re-check, idempotence, undo."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.check import run_check
from crm_ops.connectors.base import Change
from crm_ops.plan import build_plan, read_plan, write_plan
from crm_ops.plan.apply import Applier, undo_plan
from crm_ops.pull import Puller
from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.server import Sandbox
from crm_ops.schema.entities import ENTITIES
from tests.command import crm_ops
from tests.pulling import changed_cells, fast_sandbox, profile_for

pytestmark = pytest.mark.integration
ENTITIES_PULLED = ["Account", "Contact", "Lead", "Opportunity", "Owner", "ContactRole"]


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(2000, 31) as sb:
        yield sb


def _snapshots(puller: Puller) -> dict[tuple[str, str], pl.DataFrame]:
    return {(c.system, c.entity): c.snapshot.read().sort("id") for c in puller.state.all_current()}


def _changed_cells(before: pl.DataFrame, after: pl.DataFrame, entity: str) -> set[tuple[str, str]]:
    return changed_cells(before, after, [c for c in ENTITIES[entity] if c not in ("updated_at", "id")])


def test_apply_fixes_what_the_plan_says_and_nothing_else_then_undo_restores(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    puller.pull_many(["salesforce", "hubspot"], ENTITIES_PULLED)
    before = _snapshots(puller)
    findings = run_check(profile).result.findings
    plan = build_plan(findings, profile="sandbox")
    write_plan(plan, tmp_path / "plan")
    updates = [a for a in plan.actions if a.kind in ("update", "associate")]
    assert len(updates) > 50
    assert any(a.kind == "associate" for a in updates)

    applier = Applier(puller.state, puller.connector)
    dry = applier.apply(plan.header.plan_id, plan.actions, dry_run=True)
    assert dry.counts.get("would write", 0) == len(updates)
    assert puller.state.journal(plan.header.plan_id) == {}

    # someone edits a planned record in Salesforce after the plan was made
    target = next(
        a for a in updates if a.system == "salesforce" and a.entity == "Contact" and a.field == "email"
    )
    sf: Any = salesforce_client(box.env)
    sf.Contact.update(target.record_id, {"Email": "edited.by.a.human@example.org"})

    report = applier.apply(plan.header.plan_id, plan.actions, dry_run=False)
    journal = puller.state.journal(plan.header.plan_id)
    assert journal[target.action_id]["status"] == "conflict"
    assert sf.Contact.get(target.record_id)["Email"] == "edited.by.a.human@example.org"
    done = {a.action_id for a in updates if journal[a.action_id]["status"] == "done"}
    assert len(done) >= len(updates) * 0.9, report.counts

    # applying again changes nothing
    again = applier.apply(plan.header.plan_id, plan.actions, dry_run=False)
    assert not any(k in again.counts for k in ("done", "would write", "failed", "pending"))

    # full: a new HubSpot association does not move the contact's last-modified date
    puller.pull_many(["salesforce", "hubspot"], ENTITIES_PULLED, full=True)
    after = _snapshots(puller)
    expected_cells = {(a.record_id, a.field) for a in updates if a.action_id in done}
    expected_cells.add((target.record_id, "email"))
    for (system, entity), frame in after.items():
        changed = {(system, r, f) for r, f in _changed_cells(before[(system, entity)], frame, entity)}
        allowed = {(system, r, f) for r, f in expected_cells}
        assert changed <= allowed, (system, entity, sorted(changed - allowed)[:5])
    rechecked = run_check(profile).result.findings
    fixed = {(a.system, a.record_id, a.rule) for a in updates if a.action_id in done}
    still = set(rechecked.select("system", "record_id", "rule").iter_rows())
    assert not (fixed & still), sorted(fixed & still)[:5]

    undo = undo_plan(puller.state, plan)
    assert len(undo.actions) == len(done)
    applier.apply(undo.header.plan_id, undo.actions, dry_run=False)
    undo_journal = puller.state.journal(undo.header.plan_id)
    # the CRM refuses to take back some bad values (an invalid e-mail, a deleted account): those are
    # reported with its error, not forced
    refused = {(e["record_id"], e["field"]) for e in undo_journal.values() if e["status"] == "failed"}
    assert all(e["error"] for e in undo_journal.values() if e["status"] == "failed")
    assert len(refused) <= len(done) * 0.2
    puller.pull_many(["salesforce", "hubspot"], ENTITIES_PULLED, full=True)
    restored = _snapshots(puller)
    for (system, entity), frame in restored.items():
        remaining = _changed_cells(before[(system, entity)], frame, entity)
        assert remaining <= {(target.record_id, "email"), *refused}, (system, entity, sorted(remaining)[:5])


def test_apply_command_is_a_dry_run_by_default_and_prod_needs_a_flag(box: Sandbox, tmp_path: Path) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    puller.pull_many(["salesforce"], ["Account", "Contact", "Owner"])
    plan = build_plan(run_check(profile).result.findings, profile="sandbox")
    write_plan(plan, tmp_path / "plan")
    env = {**os.environ, **box.env}
    config = str(tmp_path / "crm-ops.toml")
    dry = crm_ops("apply", tmp_path / "plan", "-c", config, env=env)  # in this process (tests.command)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing was written" in dry.stdout
    assert puller.state.journal(plan.header.plan_id) == {}
    # the guard is the profile's production key, whatever its name; unsaid, it is on
    text = (tmp_path / "crm-ops.toml").read_text()
    for name, setting in (("live", "production = true"), ("prod", ""), ("eu", "production = true")):
        prod = tmp_path / f"{name}.toml"
        prod.write_text(
            text.replace("profiles.sandbox", f"profiles.{name}").replace("production = false", setting)
        )
        refused = crm_ops("apply", tmp_path / "plan", "-c", prod, "-p", name, "--yes", env=env)
        assert refused.returncode == 2, (name, refused.stderr)
        assert "is production" in refused.stderr and "add --allow-production" in refused.stderr
    assert puller.state.journal(plan.header.plan_id) == {}
    assert read_plan(tmp_path / "plan" / "plan.jsonl").header.plan_id == plan.header.plan_id

    # each apply writes a report of its own: a later dry run never overwrites the real apply's
    written = crm_ops("apply", tmp_path / "plan", "-c", config, "--yes", "--all-actions", env=env)
    assert written.returncode in (0, 7), written.stderr
    again = crm_ops("apply", tmp_path / "plan", "-c", config, env=env)
    assert again.returncode in (0, 7), again.stderr
    reports = sorted((tmp_path / "plan" / "reports").glob("apply-*.json"))
    runs = [json.loads(r.read_text()) for r in reports]
    assert [r["dry_run"] for r in runs].count(True) == 2 and [r["dry_run"] for r in runs].count(False) == 1
    real = next(r for r in runs if not r["dry_run"])
    assert real["counts"].get("done", 0) > 0 and real["profile"] == "sandbox" and real["production"] is False


def test_large_salesforce_writes_go_through_one_bulk_ingest_job(box: Sandbox, tmp_path: Path) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    puller.pull_many(["salesforce"], ["Contact"])
    contacts = puller.state.current("salesforce", "Contact").snapshot.read()  # type: ignore[union-attr]
    ids = contacts.filter(~pl.col("is_deleted"))["id"].to_list()[:300]
    conn = puller.connector("salesforce")
    assert conn.write_batch("Contact", 50_000) > 200 and conn.write_batch("Contact", 150) == 200
    changes = [Change(i, {"title": f'Buyer, "level" {n}\nnew line'}) for n, i in enumerate(ids[:299])]
    changes.append(Change(ids[299], {"title": None}))
    changes.append(Change("003000000000000ZZZ", {"title": "nobody"}))
    calls = conn.api_calls
    results = conn.push("Contact", changes)
    assert conn.api_calls - calls <= 8  # create, upload, close, status, two result files
    assert [r.record_id for r in results] == [c.record_id for c in changes]
    assert all(r.ok for r in results[:300])
    assert not results[300].ok and results[300].error
    back = {r["id"]: r["title"] for r in conn.read("Contact", ids).to_dicts()}
    assert back[ids[0]] == 'Buyer, "level" 0\nnew line'
    assert back[ids[299]] is None
