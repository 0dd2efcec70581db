"""Merges and associations through apply, and their undo, on both emulated CRMs.

Salesforce merges go through the SOAP merge call (children re-parented by the CRM) and come back by
undelete; HubSpot merges through the merge endpoint, and come back as a new record carrying the
journaled values and associations.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.config import Profile
from crm_ops.connectors.base import Change
from crm_ops.plan.apply import Applier, undo_plan
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.pull import Puller
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.server import Sandbox
from crm_ops.schema.entities import ENTITIES
from tests.pulling import changed_cells, fast_sandbox, profile_for

pytestmark = pytest.mark.integration
PULLED = ["Account", "Contact", "Opportunity", "ContactRole"]


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(1500, 77) as sb:
        yield sb


def _state(profile: Profile, systems: list[str]) -> dict[tuple[str, str], pl.DataFrame]:
    """What the CRM holds now (a fresh full pull), without modification stamps."""
    puller = Puller(profile)
    puller.pull_many(systems, PULLED, full=True)
    out = {}
    for c in puller.state.all_current():
        if c.system in systems:
            columns = [k for k in ENTITIES[c.entity] if k != "updated_at"]
            out[(c.system, c.entity)] = c.snapshot.read().select(columns).sort("id")
    puller.close()
    return out


def _stamp(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")


def _merge(system: str, entity: str, loser: dict[str, Any], survivor: str) -> Action:
    return Action(
        kind="merge",
        system=system,
        entity=entity,
        record_id=loser["id"],
        field="merge_into",
        seen_value=_stamp(loser["updated_at"]),
        proposed_value=survivor,
        rule="match.duplicate",
        severity="warning",
        confidence=0.97,
        reason="test",
    ).with_id()


def _plan(plan_id: str, actions: list[Action]) -> Plan:
    return Plan(
        Header(plan_id=plan_id, created_at="2026-11-23T00:00:00+00:00", profile="sandbox"), tuple(actions)
    )


def test_salesforce_account_merge_moves_children_and_undo_puts_them_back(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    before = _state(profile, ["salesforce"])
    contacts = before[("salesforce", "Contact")].filter(~pl.col("is_deleted"))
    opps = before[("salesforce", "Opportunity")].filter(~pl.col("is_deleted"))
    busy = (
        contacts.group_by("account_id").len().join(opps.group_by("account_id").len(), on="account_id")
    ).sort("account_id")
    survivor_id, loser_id, other_id = busy["account_id"][:3].to_list()
    puller = Puller(profile)
    puller.pull_many(["salesforce"], ["Account"])
    snapshot = puller.state.current("salesforce", "Account").snapshot.read()  # type: ignore[union-attr]
    row = snapshot.filter(pl.col("id") == loser_id).row(0, named=True)
    other = snapshot.filter(pl.col("id") == other_id).row(0, named=True)
    plan = _plan(
        "merge-sf",
        [
            _merge("salesforce", "Account", row, survivor_id),
            _merge("salesforce", "Account", other, survivor_id),
        ],
    )

    # someone edits the second duplicate after the plan: it must not be merged
    sf: Any = salesforce_client(box.env)
    sf.Account.update(other_id, {"Phone": "+1 555 0100 edited"})

    applier = Applier(puller.state, puller.connector)
    assert applier.apply(plan.header.plan_id, plan.actions, dry_run=True).counts == {
        "would merge": 1,
        "conflict": 1,
    }
    report = applier.apply(plan.header.plan_id, plan.actions, dry_run=False)
    assert report.counts == {"done": 1, "conflict": 1}, report.outcomes
    assert applier.apply(plan.header.plan_id, plan.actions, dry_run=False).counts == {
        "already done": 1, "already conflict": 1,
    }  # fmt: skip

    merged = _state(profile, ["salesforce"])
    moved_contacts = set(contacts.filter(pl.col("account_id") == loser_id)["id"].to_list())
    moved_opps = set(opps.filter(pl.col("account_id") == loser_id)["id"].to_list())
    assert moved_contacts and moved_opps
    assert merged[("salesforce", "Account")].filter(pl.col("id") == loser_id)["is_deleted"].item()
    assert changed_cells(before[("salesforce", "Contact")], merged[("salesforce", "Contact")]) == {
        (c, "account_id") for c in moved_contacts
    }
    assert changed_cells(before[("salesforce", "Opportunity")], merged[("salesforce", "Opportunity")]) == {
        (o, "account_id") for o in moved_opps
    }
    account_diff = changed_cells(before[("salesforce", "Account")], merged[("salesforce", "Account")])
    assert account_diff == {(loser_id, "is_deleted"), (other_id, "phone")}

    undo = undo_plan(puller.state, plan)
    assert [a.kind for a in undo.actions] == ["unmerge"]
    assert applier.apply(undo.header.plan_id, undo.actions, dry_run=False).counts == {"done": 1}
    restored = _state(profile, ["salesforce"])
    for key, frame in before.items():
        allowed = {(other_id, "phone")} if key == ("salesforce", "Account") else set()
        assert changed_cells(frame, restored[key]) == allowed, key


def test_hubspot_contact_merge_moves_associations_and_undo_recreates_the_record(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    puller.pull_many(["hubspot"], PULLED, full=True)
    contacts = puller.state.current("hubspot", "Contact").snapshot.read()  # type: ignore[union-attr]
    roles = puller.state.current("hubspot", "ContactRole").snapshot.read()  # type: ignore[union-attr]
    deals = puller.state.current("hubspot", "Opportunity").snapshot.read()  # type: ignore[union-attr]
    with_deal = contacts.filter(
        ~pl.col("is_deleted")
        & pl.col("account_id").is_not_null()
        & pl.col("id").is_in(roles["contact_id"].implode())
    )
    original = with_deal.row(0, named=True)
    own_deals = set(roles.filter(pl.col("contact_id") == original["id"])["opportunity_id"].to_list())
    extra_deal = next(d for d in deals["id"].to_list() if d not in own_deals)

    # a duplicate typed in by hand: same person, another address, on the same company and one more deal
    hs: Any = hubspot_client(box.env)
    created = hs.crm.contacts.basic_api.create(
        simple_public_object_input_for_create={
            "properties": {
                "firstname": original["first_name"] or "Ann",
                "lastname": original["last_name"] or "Lee",
                "email": "second.address@dup-example.org",
                "jobtitle": "Buyer <script>",
            }
        }
    )
    dup_id = str(created.id)
    conn = puller.connector("hubspot")
    assert all(r.ok for r in conn.push("Contact", [Change(dup_id, {"account_id": original["account_id"]})]))
    hs.crm.associations.v4.batch_api.create_default(
        "contacts", "deals", batch_input_public_default_association_multi_post={
            "inputs": [{"from": {"id": dup_id}, "to": {"id": extra_deal}}]
        },
    )  # fmt: skip
    dup = conn.read("Contact", [dup_id]).row(0, named=True)
    assert dup["account_id"] == original["account_id"]
    before_links = {(x.relation, x.record_id) for x in conn.links("Contact", [original["id"]])}

    plan = _plan("merge-hs", [_merge("hubspot", "Contact", dup, original["id"])])
    applier = Applier(puller.state, puller.connector)
    assert applier.apply(plan.header.plan_id, plan.actions, dry_run=False).counts == {"done": 1}
    assert conn.read("Contact", [dup_id]).height == 0  # merged away
    merged_links = {(x.relation, x.record_id) for x in conn.links("Contact", [original["id"]])}
    assert ("contacts->deals", extra_deal) in merged_links
    assert conn.read("Contact", [original["id"]])["account_id"].item() == original["account_id"]

    undo = undo_plan(puller.state, plan)
    report = applier.apply(undo.header.plan_id, undo.actions, dry_run=False)
    assert report.counts == {"done": 1}, report.outcomes
    new_id = puller.state.journal(undo.header.plan_id)[undo.actions[0].action_id]["after"]
    assert new_id not in (dup_id, original["id"])
    back = conn.read("Contact", [new_id]).row(0, named=True)
    for column in ("first_name", "last_name", "email", "title", "account_id"):
        assert back[column] == dup[column], column
    assert {(x.relation, x.record_id) for x in conn.links("Contact", [new_id])} == {
        ("contacts->companies", original["account_id"]), ("contacts->deals", extra_deal),
    }  # fmt: skip
    assert {(x.relation, x.record_id) for x in conn.links("Contact", [original["id"]])} == before_links
    # a restore resumed after a kill finds the record it created instead of creating another
    merged_at = json.loads(undo.actions[0].proposed_value or "{}")["merged_at"]
    (again,) = conn.restore("Contact", [{**dup, "__merged_at": merged_at}])
    assert again.ok and again.extra["id"] == new_id
    # undoing again changes nothing
    assert applier.apply(undo.header.plan_id, undo.actions, dry_run=False).counts == {"already done": 1}


def _hubspot_people(box: Sandbox, tmp_path: Path) -> tuple[Puller, pl.DataFrame, pl.DataFrame]:
    """A puller with HubSpot contacts and companies pulled, and their snapshots."""
    puller = Puller(profile_for(box, tmp_path))
    puller.pull_many(["hubspot"], ["Account", "Contact"], full=True)
    frames = [
        puller.state.current("hubspot", e).snapshot.read()  # type: ignore[union-attr]
        for e in ("Contact", "Account")
    ]
    return puller, frames[0], frames[1]


def test_associate_links_an_orphan_in_hubspot_and_undo_unlinks_it(box: Sandbox, tmp_path: Path) -> None:
    puller, contacts, companies = _hubspot_people(box, tmp_path)
    orphan = contacts.filter(~pl.col("is_deleted") & pl.col("account_id").is_null())["id"][0]
    company = companies.filter(~pl.col("is_deleted"))["id"][0]
    action = Action(
        kind="associate", system="hubspot", entity="Contact", record_id=orphan, field="account_id",
        seen_value=None, proposed_value=company, rule="person.orphan", severity="warning",
        confidence=0.9, reason="test",
    ).with_id()  # fmt: skip
    plan = _plan("assoc-hs", [action])
    applier = Applier(puller.state, puller.connector)
    assert applier.apply(plan.header.plan_id, plan.actions, dry_run=False).counts == {"done": 1}
    conn = puller.connector("hubspot")
    assert conn.read("Contact", [orphan])["account_id"].item() == company
    undo = undo_plan(puller.state, plan)
    assert applier.apply(undo.header.plan_id, undo.actions, dry_run=False).counts == {"done": 1}
    assert conn.read("Contact", [orphan])["account_id"].item() is None


def test_setting_a_hubspot_account_replaces_only_the_primary_company(box: Sandbox, tmp_path: Path) -> None:
    puller, contacts, companies = _hubspot_people(box, tmp_path)
    person = contacts.filter(~pl.col("is_deleted") & pl.col("account_id").is_not_null()).row(5, named=True)
    primary = person["account_id"]
    others = [c for c in companies.filter(~pl.col("is_deleted"))["id"].to_list() if c != primary]
    second, third = others[0], others[1]
    hs: Any = hubspot_client(box.env)
    hs.crm.associations.v4.batch_api.create_default(
        "contacts", "companies", batch_input_public_default_association_multi_post={
            "inputs": [{"from": {"id": person["id"]}, "to": {"id": second}}]
        },
    )  # fmt: skip
    conn = puller.connector("hubspot")

    def companies_of() -> set[str]:
        return {
            x.record_id for x in conn.links("Contact", [person["id"]]) if x.relation == "contacts->companies"
        }

    assert companies_of() == {primary, second}
    assert conn.read("Contact", [person["id"]])["account_id"].item() == primary
    assert conn.push("Contact", [Change(person["id"], {"account_id": third})])[0].ok
    assert conn.read("Contact", [person["id"]])["account_id"].item() == third
    assert companies_of() == {second, third}  # the old primary replaced, the other link kept
    assert conn.push("Contact", [Change(person["id"], {"account_id": second})])[0].ok
    assert conn.read("Contact", [person["id"]])["account_id"].item() == second
    assert companies_of() == {second}


def test_a_salesforce_cluster_of_five_merges_in_chained_calls_and_comes_back(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    puller = Puller(profile)
    puller.pull_many(["salesforce"], ["Contact"], full=True)
    contacts = puller.state.current("salesforce", "Contact").snapshot.read()  # type: ignore[union-attr]
    live = contacts.filter(~pl.col("is_deleted")).tail(5).to_dicts()
    master, losers = live[0], live[1:]
    plan = _plan("cluster-sf", [_merge("salesforce", "Contact", row, master["id"]) for row in losers])
    conn = puller.connector("salesforce")
    applier = Applier(puller.state, puller.connector)
    calls = conn.api_calls
    assert applier.apply(plan.header.plan_id, plan.actions, dry_run=False).counts == {"done": 4}
    # one re-read, one look-up of links, two merge calls (master + 2 each), one read of the survivor after
    assert conn.api_calls - calls == 5
    after = _rows(conn.read("Contact", [r["id"] for r in live]))
    assert not after[master["id"]]["is_deleted"]
    assert all(after[r["id"]]["is_deleted"] for r in losers)
    undo = undo_plan(puller.state, plan)
    assert applier.apply(undo.header.plan_id, undo.actions, dry_run=False).counts == {"done": 4}
    back = _rows(conn.read("Contact", [r["id"] for r in live]))
    assert not any(row["is_deleted"] for row in back.values())
    for row in losers:
        assert {k: back[row["id"]][k] for k in ("email", "last_name", "account_id")} == {
            k: row[k] for k in ("email", "last_name", "account_id")
        }


def _rows(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in frame.to_dicts()}


def test_an_association_to_a_missing_company_fails_alone(box: Sandbox, tmp_path: Path) -> None:
    puller, contacts, companies = _hubspot_people(box, tmp_path)
    orphans = contacts.filter(~pl.col("is_deleted") & pl.col("account_id").is_null())["id"].to_list()[1:3]
    company = companies.filter(~pl.col("is_deleted"))["id"][1]
    conn = puller.connector("hubspot")
    results = conn.push(
        "Contact",
        [Change(orphans[0], {"account_id": "999999999"}), Change(orphans[1], {"account_id": company})],
    )
    assert not results[0].ok and "999999999" in (results[0].error or "")
    assert results[1].ok
    assert conn.read("Contact", [orphans[1]])["account_id"].item() == company
    # a contact with a company keeps it when the new one is refused
    placed = contacts.filter(~pl.col("is_deleted") & pl.col("account_id").is_not_null()).row(9, named=True)
    (refused,) = conn.push("Contact", [Change(placed["id"], {"account_id": "999999998"})])
    assert not refused.ok
    assert conn.read("Contact", [placed["id"]])["account_id"].item() == placed["account_id"]
