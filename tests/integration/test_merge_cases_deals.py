"""Merges of cases, tickets and deals through apply, and their undo (issue 26), on both emulated CRMs.

A Salesforce case merges through the SOAP merge call: the merged-away case goes to the recycle bin and
its tasks and child cases move to the survivor; undo brings it back from the recycle bin under its id
and points them back. A HubSpot ticket or deal merges through its merge endpoint, its associations
moving to the survivor; undo makes it again (a new id) from the journaled values, associations
included. The emulators refuse what the CRMs refuse: a record merged with itself, a merged-away id.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.plan.apply import Applier, undo_plan
from crm_ops.pull import Puller
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.server import Sandbox
from tests.integration.test_merge import _merge, _plan
from tests.pulling import changed_cells, fast_sandbox, object_maps_profile

pytestmark = pytest.mark.integration
ASSOCIATED = {"contact_id": "contacts", "account_id": "companies"}  # columns HubSpot keeps as associations


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(1_500, 2602) as sb:
        yield sb


def _pulled(puller: Puller, system: str, entity: str) -> pl.DataFrame:
    puller.pull_many([system], [entity], full=True)
    current = puller.state.current(system, entity)
    assert current is not None
    return pl.read_parquet(current.snapshot).drop("updated_at").sort("id")


def _pair(box: Sandbox, system: str, obj: str) -> tuple[str, str]:
    """A seeded duplicate pair of ``obj``: (the original, its copy)."""
    dupes = box.data.manifest.duplicates.filter((pl.col("system") == system) & (pl.col("object") == obj))
    cluster = dupes.filter(pl.col("cluster_id") == dupes["cluster_id"].sort()[0])
    original = cluster.filter(pl.col("is_original"))["record_id"].item()
    copy = cluster.filter(~pl.col("is_original"))["record_id"].item()
    return str(original), str(copy)


def test_a_salesforce_case_merge_moves_its_tasks_and_child_cases_and_undo_brings_all_back(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = object_maps_profile(box, tmp_path, '["cases"]')
    puller = Puller(profile)
    survivor, loser = _pair(box, "salesforce", "Case")
    sf: Any = salesforce_client(box.env)
    task = sf.Task.create(
        {"Subject": "Call back", "Status": "Not Started", "Priority": "Normal", "WhatId": loser}
    )
    child = sf.Case.create({"Subject": "Follow-up", "Status": "New", "Origin": "Web", "ParentId": loser})
    before = _pulled(puller, "salesforce", "Case")
    snapshot = pl.read_parquet(puller.state.current("salesforce", "Case").snapshot)  # type: ignore[union-attr]
    dup = snapshot.filter(pl.col("id") == loser).row(0, named=True)
    plan = _plan("merge-case", [_merge("salesforce", "Case", dup, survivor)])

    applier = Applier(puller.state, puller.connector)
    report = applier.apply(plan.header.plan_id, plan.actions, dry_run=False)
    assert report.counts == {"done": 1}, report.outcomes
    merged = _pulled(puller, "salesforce", "Case")
    assert merged.filter(pl.col("id") == loser)["is_deleted"].item()
    gone = sf.query_all(
        f"SELECT IsDeleted, MasterRecordId FROM Case WHERE Id = '{loser}'", include_deleted=True
    )
    assert gone["records"][0]["IsDeleted"] and gone["records"][0]["MasterRecordId"] == survivor
    assert sf.Task.get(task["id"])["WhatId"] == survivor
    assert sf.Case.get(child["id"])["ParentId"] == survivor

    # the CRM refuses a merged-away case and a case merged with itself, and says why
    conn = puller.connector("salesforce")
    (again,) = conn.merge("Case", loser, [child["id"]])
    assert not again.ok and "ENTITY_IS_DELETED" in (again.error or "")
    (itself,) = conn.merge("Case", survivor, [survivor])
    assert not itself.ok and "INVALID_ID_FIELD" in (itself.error or "")

    undo = undo_plan(puller.state, plan)
    assert [a.kind for a in undo.actions] == ["unmerge"]
    assert applier.apply(undo.header.plan_id, undo.actions, dry_run=False).counts == {"done": 1}
    assert sf.Task.get(task["id"])["WhatId"] == loser
    assert sf.Case.get(child["id"])["ParentId"] == loser
    restored = _pulled(puller, "salesforce", "Case")
    assert changed_cells(before, restored) == set()  # the case, the survivor and the child as they were


def _hs_merge_and_undo(
    box: Sandbox, tmp_path: Path, entity: str, obj: str, survivor: str, loser: str, extra: tuple[str, str]
) -> None:
    """Merge HubSpot ``loser`` into ``survivor`` (``entity``, object type ``obj``) after giving the loser
    one more association (``extra``: object type, id); undo; the record comes back with its values and
    associations, the survivor as it was."""
    profile = object_maps_profile(box, tmp_path, '["cases"]')
    puller = Puller(profile)
    hs: Any = hubspot_client(box.env)
    target, target_id = extra
    hs.crm.associations.v4.batch_api.create_default(
        obj, target, batch_input_public_default_association_multi_post={
            "inputs": [{"from": {"id": loser}, "to": {"id": target_id}}]
        },
    )  # fmt: skip
    conn = puller.connector("hubspot")
    before_links = {(x.relation, x.record_id) for x in conn.links(entity, [survivor])}
    loser_links = {(x.relation, x.record_id) for x in conn.links(entity, [loser])}
    assert (f"{obj}->{target}", target_id) in loser_links
    before = _pulled(puller, "hubspot", entity)
    snapshot = pl.read_parquet(puller.state.current("hubspot", entity).snapshot)  # type: ignore[union-attr]
    dup = snapshot.filter(pl.col("id") == loser).row(0, named=True)
    plan = _plan(f"merge-{obj}", [_merge("hubspot", entity, dup, survivor)])

    applier = Applier(puller.state, puller.connector)
    report = applier.apply(plan.header.plan_id, plan.actions, dry_run=False)
    assert report.counts == {"done": 1}, report.outcomes
    assert conn.read(entity, [loser]).height == 0  # merged away
    merged_links = {(x.relation, x.record_id) for x in conn.links(entity, [survivor])}
    assert loser_links <= merged_links  # its associations moved to the survivor

    # HubSpot refuses a record merged with itself and a merged-away one
    (itself,) = conn.merge(entity, survivor, [survivor])
    assert not itself.ok and "400" in (itself.error or "")
    (gone,) = conn.merge(entity, loser, [survivor])
    assert not gone.ok

    undo = undo_plan(puller.state, plan)
    report = applier.apply(undo.header.plan_id, undo.actions, dry_run=False)
    assert report.counts == {"done": 1}, report.outcomes
    new_id = puller.state.journal(undo.header.plan_id)[undo.actions[0].action_id]["after"]
    assert new_id not in (loser, survivor)
    back = conn.read(entity, [new_id]).row(0, named=True)
    links = {(x.relation, x.record_id) for x in conn.links(entity, [new_id])}
    assert links == loser_links, [(o["status"], o.get("error")) for o in report.outcomes]
    for column, value in dup.items():
        if column in ASSOCIATED and value is not None:  # several links, none primary: any may be first
            assert (f"{obj}->{ASSOCIATED[column]}", back[column]) in links, column
        elif column not in ("id", "updated_at", "created_at"):
            assert back[column] == value, column
    assert {(x.relation, x.record_id) for x in conn.links(entity, [survivor])} == before_links
    after = _pulled(puller, "hubspot", entity)
    # the survivor's values as before; the merged-away record is back under its new id
    assert (
        changed_cells(before.filter(pl.col("id") == survivor), after.filter(pl.col("id") == survivor))
        == set()
    )


def test_a_hubspot_ticket_merge_moves_its_associations_and_undo_makes_it_again(
    box: Sandbox, tmp_path: Path
) -> None:
    survivor, loser = _pair(box, "hubspot", "tickets")
    contacts = box.data.hubspot["contacts"].filter(~pl.col("archived"))["id"].cast(pl.String)
    linked = box.data.hubspot_associations[("tickets", "contacts")]
    mine = set(
        linked.filter(pl.col("from_id").cast(pl.String).is_in([loser, survivor]))["to_id"].cast(pl.String)
    )
    other = next(c for c in contacts.to_list() if c not in mine)
    _hs_merge_and_undo(box, tmp_path, "Case", "tickets", survivor, loser, ("contacts", other))


def test_a_hubspot_deal_merge_moves_its_associations_and_undo_makes_it_again(
    box: Sandbox, tmp_path: Path
) -> None:
    hs: Any = hubspot_client(box.env)
    deals = box.data.hubspot["deals"].filter(~pl.col("archived"))
    original = deals.row(0, named=True)
    copy = hs.crm.deals.basic_api.create(
        simple_public_object_input_for_create={
            "properties": {
                "dealname": original["dealname"],
                "dealstage": original["dealstage"],
                "pipeline": original["pipeline"],
                "amount": str(original["amount"]),
            }
        }
    )
    contacts = box.data.hubspot["contacts"].filter(~pl.col("archived"))["id"].cast(pl.String)
    _hs_merge_and_undo(
        box, tmp_path, "Opportunity", "deals", str(original["id"]), str(copy.id), ("contacts", contacts[0])
    )
