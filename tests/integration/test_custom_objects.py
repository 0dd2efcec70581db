"""Entities declared by maps (issue 26): a profile declares a custom object on each CRM (Salesforce
``Subscription__c``, HubSpot's ``p_subscriptions`` type) in YAML map files; crm_ops pulls them through the
same engine (full, then incremental after a change and a deletion), types their columns from the CRM's
metadata, maps their parent references to account ids, and checks a custom rule on them whose findings
are the seeded defects."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.api import Workspace, entities
from crm_ops.config import Profile, load_profile, sandbox_config
from crm_ops.doctor import run_doctor
from crm_ops.errors import ConfigError
from crm_ops.pull import Puller
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.server import Sandbox
from tests.pulling import fast_sandbox, hubspot_rate, hubspot_searches, profile_for

pytestmark = pytest.mark.integration
ENTITY = "CrmSubscription"  # "Subscription" is the billing source's core entity

SF_MAP = """\
system: salesforce
entities:
  CrmSubscription:
    object: Subscription__c
    required:
      name: Name
    optional:
      account_id: {field: Account__c, parent: Account}
      status: Status__c
      plan: Plan__c
      mrr: MRR__c
      seats: {field: Seats__c, type: int}
      start_date: Start_Date__c
      end_date: End_Date__c
"""
HS_MAP = """\
system: hubspot
entities:
  CrmSubscription:
    object: p_subscriptions
    required:
      name: subscription_name
    optional:
      account_id: {association: companies, parent: Account}
      status: status
      plan: plan
      mrr: mrr
      seats: {property: seats, type: int}
      start_date: start_date
      end_date: end_date
"""
HS_TABLES = """\
[profiles.sandbox.objects.hubspot.CrmSubscription]
object = "p_subscriptions"
required = {name = "subscription_name"}
[profiles.sandbox.objects.hubspot.CrmSubscription.optional]
account_id = {association = "companies", parent = "Account"}
status = "status"
seats = {property = "seats", type = "int"}
"""
RULE = """\
rules:
  - id: subscription.status.present
    entity: CrmSubscription
    systems: [salesforce]
    field: status
    severity: warning
    description: A subscription needs a status (Active, Trial, Past Due, Cancelled).
    check: not_blank
    fix: {set: Active}
  - id: subscription.status.present.hubspot
    entity: CrmSubscription
    systems: [hubspot]
    field: status
    severity: warning
    description: A subscription needs a status (active, trial, past_due, cancelled).
    check: not_blank
    fix: {set: active}
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(2_000, 26) as sb:
        yield sb


def _profile(
    box: Sandbox,
    folder: Path,
    sf_map: str = SF_MAP,
    hs_map: str = HS_MAP,
    salesforce: dict[str, Any] | None = None,
    hubspot: dict[str, Any] | None = None,
    tables: str = "",
) -> Profile:
    """A profile of ``box`` declaring the two object map files (``tables``: TOML added to the profile,
    such as ``objects`` tables; an empty map text leaves that file out) and running the rule folder."""
    (folder / "objects").mkdir(parents=True, exist_ok=True)
    files = []
    for system, text in (("salesforce", sf_map), ("hubspot", hs_map)):
        if text:
            (folder / "objects" / f"{system}.yaml").write_text(text)
            files.append(f'"objects/{system}.yaml"')
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "subscriptions.yaml").write_text(RULE)
    os.environ.update(box.env)
    text = sandbox_config(
        box.env,
        folder / "state",
        hubspot_rate=hubspot_rate(box),
        salesforce=salesforce,
        hubspot={**hubspot_searches(box), **(hubspot or {})},
    ).replace(
        "[profiles.sandbox]\n",
        f"[profiles.sandbox]\nobject_maps = [{', '.join(files)}]\n",
        1,
    )
    (folder / "crm-ops.toml").write_text(text + '[profiles.sandbox.rules]\nfolders = ["rules"]\n' + tables)
    return load_profile(folder / "crm-ops.toml", "sandbox")


def _snapshot(puller: Puller, system: str) -> pl.DataFrame:
    current = puller.state.current(system, ENTITY)
    assert current is not None
    return current.snapshot.read().sort("id")


def test_declared_custom_objects_pull_full_then_incremental_and_are_checked(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path)
    truth_sf = box.data.salesforce["Subscription__c"]
    truth_hs = box.data.hubspot["p_subscriptions"]
    links = box.data.hubspot_associations[("p_subscriptions", "companies")]

    puller = Puller(profile)
    try:
        first = {r.system: r for r in puller.pull_many(["salesforce", "hubspot"], [ENTITY])}
        assert {s: r.mode for s, r in first.items()} == {"salesforce": "full", "hubspot": "full"}
        sf, hs = _snapshot(puller, "salesforce"), _snapshot(puller, "hubspot")

        # every record, deleted ones as tombstones; columns typed from describe / the properties API
        assert sf.height == truth_sf.height and hs.height == truth_hs.height
        assert sf["is_deleted"].sum() == truth_sf["IsDeleted"].sum() > 0
        assert hs["is_deleted"].sum() == truth_hs["archived"].sum() > 0
        for frame in (sf, hs):
            assert frame.schema["mrr"] == pl.Float64 and frame.schema["seats"] == pl.Int64
            assert frame.schema["start_date"] == pl.Date and frame.schema["updated_at"] == pl.Datetime(
                "ms", "UTC"
            )
        # the parent references: Salesforce's lookup field, HubSpot's association to a company
        want_sf = dict(zip(truth_sf["Id"].to_list(), truth_sf["Account__c"].to_list(), strict=True))
        assert dict(zip(sf["id"].to_list(), sf["account_id"].to_list(), strict=True)) == want_sf
        want_hs = {str(a): str(b) for a, b in links.select("from_id", "to_id").iter_rows()}
        got_hs = dict(zip(hs["id"].to_list(), hs["account_id"].to_list(), strict=True))
        assert {k: v for k, v in got_hs.items() if v is not None} == want_hs
        assert sf.filter(pl.col("name") == "SUB-000001").height == 1

        # a change and a deletion on each side, then an incremental pull
        sfc: Any = salesforce_client(box.env)
        hsc = hubspot_client(box.env)
        live_sf = sf.filter(~pl.col("is_deleted") & pl.col("status").is_not_null())["id"].to_list()
        live_hs = hs.filter(~pl.col("is_deleted") & pl.col("status").is_not_null())["id"].to_list()
        sfc.Subscription__c.update(live_sf[0], {"Status__c": "Cancelled", "Seats__c": 3})
        sfc.Subscription__c.delete(live_sf[1])
        hsc.crm.objects.basic_api.update(
            "p_subscriptions", live_hs[0], simple_public_object_input={"properties": {"status": "cancelled"}}
        )
        hsc.crm.objects.basic_api.archive("p_subscriptions", live_hs[1])
        second = {r.system: r for r in puller.pull_many(["salesforce", "hubspot"], [ENTITY])}
        assert {s: r.mode for s, r in second.items()} == {
            "salesforce": "incremental",
            "hubspot": "incremental",
        }
        assert all(r.changed < 50 for r in second.values())  # the window, not every record again
        sf2, hs2 = _snapshot(puller, "salesforce"), _snapshot(puller, "hubspot")
        assert sf2.height == sf.height and hs2.height == hs.height
        row = sf2.filter(pl.col("id") == live_sf[0])
        assert row["status"][0] == "Cancelled" and row["seats"][0] == 3
        assert sf2.filter(pl.col("id") == live_sf[1])["is_deleted"][0] is True
        assert hs2.filter(pl.col("id") == live_hs[0])["status"][0] == "cancelled"
        assert hs2.filter(pl.col("id") == live_hs[1])["is_deleted"][0] is True
    finally:
        puller.close()

    # the API's catalogue lists the declared entity with its typed columns, after the core ones
    listed = entities()
    assert ENTITY in listed and listed[ENTITY]["id"] == "String" and "status" in listed[ENTITY]

    # a custom rule on the declared entity finds exactly the seeded blank statuses of live records
    run = Workspace(profile).check()
    assert not run.problems and not run.result.errors
    found = run.result.findings.filter(pl.col("entity") == ENTITY)
    defects = box.data.manifest.defects.filter(
        (pl.col("kind") == "custom_blank") & pl.col("field").is_in(["Status__c", "status"])
    )
    dead = {*sf2.filter(pl.col("is_deleted"))["id"], *hs2.filter(pl.col("is_deleted"))["id"]}
    truth = {(s, r) for s, r in defects.select("system", "record_id").iter_rows() if r not in dead}
    assert truth
    assert {(s, r) for s, r in found.select("system", "record_id").iter_rows()} == truth
    assert set(found["rule"]) == {"subscription.status.present", "subscription.status.present.hubspot"}

    # the fixes planned, applied on the sandbox (Salesforce composite update, HubSpot batch update), undone
    ws = Workspace(profile)
    planned = ws.plan()
    fixes = [a for a in planned.plan.actions if a.entity == ENTITY]
    assert {(a.system, a.record_id) for a in fixes} == truth
    applied = ws.apply(planned.folder, all_actions=True, write=True, entities=[ENTITY])
    assert applied.counts.get("done") == len(truth), applied.counts
    after = _pulled(profile)
    assert {after[(s, r)] for s, r in truth} == {"Active", "active"}
    undone = ws.undo(planned.folder, write=True)
    assert undone.counts.get("done") == len(truth), undone.counts
    restored = _pulled(profile)
    assert {restored[(s, r)] for s, r in truth} == {None}


def _pulled(profile: Profile) -> dict[tuple[str, str], Any]:
    """Each subscription's status after an incremental pull of both CRMs, by (system, id)."""
    puller = Puller(profile)
    try:
        puller.pull_many(["salesforce", "hubspot"], [ENTITY])
        frames = {s: _snapshot(puller, s) for s in ("salesforce", "hubspot")}
    finally:
        puller.close()
    return {(s, i): v for s, f in frames.items() for i, v in f.select("id", "status").iter_rows()}


def test_declared_object_maps_are_checked_at_load(box: Sandbox, tmp_path: Path) -> None:
    bad_sf = SF_MAP.replace("{field: Seats__c, type: int}", "{field: Seats__c, type: integer}").replace(
        "parent: Account}", "parent: Acount}"
    )
    with pytest.raises(ConfigError) as caught:
        _profile(box, tmp_path / "bad", sf_map=bad_sf)
    text = str(caught.value)
    sf_file = tmp_path / "bad" / "objects" / "salesforce.yaml"
    assert f"{sf_file}:12: unknown type 'integer' (did you mean 'int'?)" in text
    assert "parent 'Acount' is no entity (did you mean 'Account'?)" in text
    # a core entity is changed by overrides, not redeclared
    core = HS_MAP.replace("CrmSubscription:", "Contact:")
    with pytest.raises(ConfigError, match="Contact is a core entity"):
        _profile(box, tmp_path / "core", hs_map=core)


class _KilledError(Exception):
    """A pull stopped after its first page, as a kill would."""


def test_a_big_declared_object_goes_through_bulk_and_resumes(box: Sandbox, tmp_path: Path) -> None:
    # HubSpot's custom object named by its objectTypeId, as the schemas API gives it
    schemas = hubspot_client(box.env).crm.schemas.core_api.get_all().results
    (schema,) = [s for s in schemas if s.name == "subscriptions"]
    assert schema.fully_qualified_name == "p123456789_subscriptions"
    assert schema.object_type_id.startswith("2-")
    assert {a.to_object_type_id for a in schema.associations} == {"0-2"}
    profile = _profile(
        box,
        tmp_path,
        hs_map=HS_MAP.replace("p_subscriptions", schema.object_type_id),
        salesforce={"bulk_threshold": 50, "bulk_page_records": 100},
        hubspot={"part_rows": 100},
    )
    pages: list[str] = []

    def stop_after_one(job: Any, rows: int) -> None:
        if rows:
            pages.append(job.system)
            raise _KilledError

    for system in ("salesforce", "hubspot"):
        killed = Puller(profile, on_page=stop_after_one)
        with pytest.raises(_KilledError):
            killed.pull(system, ENTITY)
        killed.close()
    assert pages == ["salesforce", "hubspot"]
    puller = Puller(profile)
    try:
        # stopped mid-way: a Bulk query job's cursor on Salesforce, a list page's on HubSpot
        sf_job, hs_job = (puller.state.open_pull(s, ENTITY) for s in ("salesforce", "hubspot"))
        assert sf_job is not None and sf_job.cursor is not None and sf_job.cursor["mode"] == "bulk"
        assert hs_job is not None and hs_job.cursor is not None and hs_job.cursor["phase"] == "active"
        done = {s: puller.pull(s, ENTITY) for s in ("salesforce", "hubspot")}
        assert all(r.resumed and r.mode == "full" for r in done.values())
        sf, hs = _snapshot(puller, "salesforce"), _snapshot(puller, "hubspot")
    finally:
        puller.close()
    truth_sf = box.data.salesforce["Subscription__c"]
    assert sf.height == truth_sf.height and sf["id"].n_unique() == sf.height
    assert hs["id"].n_unique() == hs.height == box.data.hubspot["p_subscriptions"].height
    # through Bulk's CSV the same types and values as through REST
    want = dict(zip(truth_sf["Id"].to_list(), truth_sf["MRR__c"].to_list(), strict=True))
    assert dict(zip(sf["id"].to_list(), sf["mrr"].to_list(), strict=True)) == want
    assert sf.schema["seats"] == pl.Int64 and sf.schema["is_deleted"] == pl.Boolean
    assert hs["account_id"].drop_nulls().len() == hs.height


def test_an_object_the_org_lacks_fails_that_entity_alone(box: Sandbox, tmp_path: Path) -> None:
    profile = _profile(box, tmp_path, sf_map=SF_MAP.replace("Subscription__c", "Subscriptoin__c"))
    run = Workspace(profile).pull(systems=["salesforce"], entities=[ENTITY, "Account"])
    assert [r.entity for r in run.results] == ["Account"]
    assert [f.entity for f in run.failures] == [ENTITY]
    assert "Subscriptoin__c" in str(run.failures[0].error)


def test_doctor_lists_the_orgs_objects_with_counts_and_what_maps_them(box: Sandbox, tmp_path: Path) -> None:
    sf_live = box.salesforce.store["Subscription__c"].frame().filter(~pl.col("IsDeleted")).height
    hs_live = box.hubspot.objects["p_subscriptions"].frame().filter(~pl.col("archived")).height
    plain = profile_for(box, tmp_path / "plain")
    lines = {f.detail for f in run_doctor(plain) if f.check == "inventory"}
    assert (
        f"Subscription__c (Subscription, custom): {sf_live:,} records; "
        "not mapped (declare it in the profile's object_maps)"
    ) in lines
    assert any(
        line.startswith("Account (Account, standard):") and "mapped to Account" in line for line in lines
    )
    hs_line = next(line for line in lines if line.startswith("p_subscriptions "))
    assert f"custom, 2-7353817): {hs_live:,} records; not mapped" in hs_line
    # the HubSpot side declared in the profile itself rather than in a file
    profile = _profile(box, tmp_path / "declared", hs_map="", tables=HS_TABLES)
    declared = {f.detail for f in run_doctor(profile) if f.check == "inventory"}
    assert f"Subscription__c (Subscription, custom): {sf_live:,} records; mapped to {ENTITY}" in declared
    assert any(line.startswith("p_subscriptions ") and f"mapped to {ENTITY}" in line for line in declared)
    puller = Puller(profile)
    try:
        pulled = puller.pull("hubspot", ENTITY)
        frame = _snapshot(puller, "hubspot")
    finally:
        puller.close()
    assert pulled.total == box.hubspot.objects["p_subscriptions"].frame().height
    assert frame.schema["seats"] == pl.Int64 and frame["account_id"].drop_nulls().len() == frame.height


CROSS_RULE = """\
rules:
  - id: subscription.account.live
    entity: CrmSubscription
    field: account_id
    severity: error
    description: A paying subscription belongs to a live account (not blank, not deleted).
    when: {field: status, op: in, value: [Active, active, Past Due, past_due]}
    check: {holds: {ref: {via: account_id, entity: Account, field: id}, op: not_null}}
    examples:
      - fail: {status: Active, account_id: null}
      - fail: {status: active, account_id: a9}
        context: {Account: [{id: a1}]}
      - pass: {status: Active, account_id: a1}
        context: {Account: [{id: a1}]}
      - pass: {status: Cancelled, account_id: null}
"""


def test_a_conditional_cross_object_rule_on_a_declared_object(box: Sandbox, tmp_path: Path) -> None:
    """The issue's first "done when": a custom YAML rule with `when:` and a reference to another object,
    on a custom object of each CRM, finds exactly the paying subscriptions whose account is blank or
    gone, as computed from the pulled snapshots themselves."""
    profile = _profile(box, tmp_path)
    (tmp_path / "rules" / "subscriptions.yaml").write_text(CROSS_RULE)
    ws = Workspace(profile)
    pulled = ws.pull(entities=[ENTITY, "Account"])
    assert not pulled.failures
    run = ws.check()
    assert not run.problems and not run.result.errors
    found = run.result.findings.filter(pl.col("rule") == "subscription.account.live")

    puller = Puller(profile)
    try:
        expected: set[tuple[str, str]] = set()
        for system in ("salesforce", "hubspot"):
            subs = _snapshot(puller, system).filter(~pl.col("is_deleted"))
            accounts = puller.state.current(system, "Account").snapshot.read()  # type: ignore[union-attr]
            live = set(accounts.filter(~pl.col("is_deleted"))["id"])
            paying = subs.filter(pl.col("status").is_in(["Active", "active", "Past Due", "past_due"]))
            expected |= {
                (system, i) for i, a in paying.select("id", "account_id").iter_rows() if a not in live
            }
    finally:
        puller.close()
    assert {s for s, _ in expected} >= {"salesforce"}  # the seeded missing accounts (HubSpot's all have one)
    assert {(s, r) for s, r in found.select("system", "record_id").iter_rows()} == expected
    assert set(found["severity"]) == {"error"}
