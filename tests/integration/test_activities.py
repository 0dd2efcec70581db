"""Activities as a shipped object map (issue 26): a profile enabling ``object_maps = ["activities"]``
pulls Salesforce ``Task`` and HubSpot ``tasks`` as the entity ``Task`` and HubSpot ``calls`` as ``Call``
(about ten a contact: the largest tables of the org), incrementally after changes; the shipped activity
rules find exactly the seeded defects (open tasks overdue by over a year, tasks on deleted contacts); a
profile without the map pulls and checks as before."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.api import Workspace
from crm_ops.pull import Puller
from crm_ops.rules.testing import run_examples
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.server import Sandbox
from crm_ops.snapshots import profile_snapshots
from tests.pulling import fast_sandbox
from tests.pulling import object_maps_profile as _profile

pytestmark = pytest.mark.integration
RULES = {"activity.task.overdue", "activity.contact.exists"}
ENTITIES = ["Task", "Call"]


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(800, 2603) as sb:
        yield sb


def _snapshot(puller: Puller, system: str, entity: str = "Task") -> pl.DataFrame:
    current = puller.state.current(system, entity)
    assert current is not None
    return pl.read_parquet(current.snapshot).sort("id")


def test_a_profile_without_the_activities_map_pulls_and_checks_as_before(
    box: Sandbox, tmp_path: Path
) -> None:
    ws = Workspace(_profile(box, tmp_path))
    rules, problems = ws.rules()
    assert not problems and not RULES & {r.id for r in rules}
    run = ws.pull()
    assert not run.failures
    assert not {"Task", "Call"} & {r.entity for r in run.results}
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    assert not {"Task", "Call"} & set(checked.result.findings["entity"])


def test_the_shipped_activities_map_pulls_both_crms_incrementally_and_finds_the_seeded_defects(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path, '["activities"]')
    data = box.data
    truth_sf, truth_tasks, truth_calls = data.salesforce["Task"], data.hubspot["tasks"], data.hubspot["calls"]
    # the seed's activities: about ten a contact on each CRM
    assert truth_sf.height >= 9 * data.salesforce["Contact"].filter(~pl.col("IsDeleted")).height
    assert truth_tasks.height + truth_calls.height >= 9 * data.hubspot["contacts"].height * 0.95
    puller = Puller(profile)
    try:
        first = puller.pull_many(["salesforce", "hubspot"], ENTITIES)
        assert {(r.system, r.entity, r.mode) for r in first} == {
            ("salesforce", "Task", "full"),
            ("hubspot", "Task", "full"),
            ("hubspot", "Call", "full"),
        }
        sf, hs, calls = (
            _snapshot(puller, "salesforce"),
            _snapshot(puller, "hubspot"),
            _snapshot(puller, "hubspot", "Call"),
        )
    finally:
        puller.close()

    # every record, deleted ones as tombstones; typed from describe and the properties API
    assert (sf.height, hs.height, calls.height) == (truth_sf.height, truth_tasks.height, truth_calls.height)
    assert sf["is_deleted"].sum() == truth_sf["IsDeleted"].sum() > 0
    assert hs["is_deleted"].sum() == truth_tasks["archived"].sum() > 0
    assert sf.schema["due_date"] == pl.Date and sf.schema["is_closed"] == pl.Boolean
    assert hs.schema["due_date"] == calls.schema["called_at"] == pl.Datetime("ms", "UTC")
    assert calls.schema["duration_ms"] == pl.Float64
    want = truth_sf.select("Id", "Status", "WhoId", "AccountId", "TaskSubtype", "ActivityDate").rows()
    got = sf.select("id", "status", "contact_id", "account_id", "kind", "due_date").rows()
    assert sorted(got) == sorted(want)
    # HubSpot's contact and account are the engagement's associations
    links = data.hubspot_associations
    for frame, name in ((hs, "tasks"), (calls, "calls")):
        for column, target in (("contact_id", "contacts"), ("account_id", "companies")):
            pairs = {(str(a), str(b)) for a, b in links[(name, target)].select("from_id", "to_id").rows()}
            assert {(i, v) for i, v in frame.select("id", column).rows() if v is not None} == pairs

    # the shipped activity rules: their examples pass, and they find exactly the seeded defects
    ws = Workspace(profile)
    rules, problems = ws.rules()
    assert not problems and {r.id for r in rules} >= RULES
    assert all(e.ok for e in run_examples([r for r in rules if r.id in RULES]))
    ws.pull()
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    found = checked.result.findings.filter(pl.col("rule").is_in(list(RULES)))
    rule_of = {"activity_overdue": "activity.task.overdue", "activity_orphan": "activity.contact.exists"}
    defects = data.manifest.defects.filter(pl.col("kind").is_in(list(rule_of)))
    truth = {(s, r, rule_of[k]) for s, r, k in defects.select("system", "record_id", "kind").rows()}
    assert {rule for _, _, rule in truth} == RULES and {s for s, _, _ in truth} == {"salesforce", "hubspot"}
    assert {(s, r, rule) for s, r, rule in found.select("system", "record_id", "rule").rows()} == truth
    # with [rules] chunk_rows under the tables' sizes they stay on disk and are checked a chunk at a
    # time: the same findings, every rule's
    small = replace(profile, rules=replace(profile.rules, chunk_rows=1000))
    large = {s: sorted(e) for s, e in profile_snapshots(small).large.items()}
    assert large == {"hubspot": ["Call", "Task"], "salesforce": ["Task"]}
    chunked = Workspace(small).check()
    assert not chunked.problems and not chunked.result.errors
    order = ["system", "entity", "rule", "record_id", "field"]
    assert chunked.result.findings.sort(order).equals(checked.result.findings.sort(order))

    # a change on each CRM (a task closed, one reopened, one deleted), then an incremental pull
    sfc: Any = salesforce_client(box.env)
    hsc = hubspot_client(box.env)
    overdue_sf = sorted(r for s, r, rule in truth if s == "salesforce" and rule == "activity.task.overdue")
    live_sf = sf.filter(~pl.col("is_deleted") & pl.col("is_closed"))["id"].to_list()
    sfc.Task.update(overdue_sf[0], {"Status": "Completed"})
    sfc.Task.update(live_sf[0], {"Status": "Not Started", "ActivityDate": "2020-01-31"})
    sfc.Task.delete(live_sf[1])
    overdue_hs = sorted(r for s, r, rule in truth if s == "hubspot")
    hsc.crm.objects.basic_api.update(
        "tasks", overdue_hs[0], simple_public_object_input={"properties": {"hs_task_status": "COMPLETED"}}
    )
    puller = Puller(profile)
    try:
        second = puller.pull_many(["salesforce", "hubspot"], ENTITIES)
        assert {r.mode for r in second} == {"incremental"}
        assert all(r.changed < 50 for r in second)  # the window, not the table again
        sf2, hs2 = _snapshot(puller, "salesforce"), _snapshot(puller, "hubspot")
    finally:
        puller.close()
    assert sf2.height == sf.height and hs2.height == hs.height
    assert sf2.filter(pl.col("id") == overdue_sf[0]).select("status", "is_closed").row(0) == (
        "Completed",
        True,
    )
    reopened = sf2.filter(pl.col("id") == live_sf[0])
    assert reopened.select("is_closed", "due_date").row(0) == (False, date(2020, 1, 31))
    assert sf2.filter(pl.col("id") == live_sf[1])["is_deleted"][0] is True
    assert hs2.filter(pl.col("id") == overdue_hs[0])["status"][0] == "COMPLETED"
    again = Workspace(profile).check().result.findings.filter(pl.col("rule") == "activity.task.overdue")
    now = {(s, r) for s, r in again.select("system", "record_id").rows()}
    before = {(s, r) for s, r, rule in truth if rule == "activity.task.overdue"}
    assert now == (before - {("salesforce", overdue_sf[0]), ("hubspot", overdue_hs[0])}) | {
        ("salesforce", live_sf[0])
    }
