"""HubSpot merges and their undo as the real portal does them (issue 15 items 3, 13, 14): a merge answers
a NEW record id (both old ids answer it from then on), company merges are refused while the Salesforce
integration is on, search lags behind writes, and an address another contact holds is refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.connectors.base import Change
from crm_ops.plan.apply import Applier, undo_plan
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.pull import Puller
from crm_ops.sandbox.clients import hubspot_client
from tests.pulling import profile_for, real_world_sandbox

pytestmark = pytest.mark.integration


def _merge(entity: str, loser: dict[str, Any], survivor: str) -> Action:
    stamp = loser["updated_at"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return Action(
        kind="merge", system="hubspot", entity=entity, record_id=loser["id"], field="merge_into",
        seen_value=stamp, proposed_value=survivor, rule="match.duplicate", severity="warning",
        confidence=0.97, reason="test",
    ).with_id()  # fmt: skip


def _plan(plan_id: str, actions: list[Action]) -> Plan:
    header = Header(plan_id=plan_id, created_at="2026-11-23T00:00:00+00:00", profile="sandbox")
    return Plan(header, tuple(actions))


def _live(puller: Puller, entity: str) -> pl.DataFrame:
    current = puller.state.current("hubspot", entity)
    assert current is not None
    return current.snapshot.read().filter(~pl.col("is_deleted"))


def test_a_merge_that_answers_a_new_id_is_journaled_chained_and_undone_from_it(tmp_path: Path) -> None:
    with real_world_sandbox(400, 81, merge_new_id=True) as box:
        puller = Puller(profile_for(box, tmp_path))
        puller.pull_many(["hubspot"], ["Account", "Contact", "Opportunity", "ContactRole"], full=True)
        contacts = _live(puller, "Contact").filter(pl.col("account_id").is_not_null())
        survivor, first, second = (contacts.row(i, named=True) for i in range(3))
        conn = puller.connector("hubspot")
        links_before = {
            r["id"]: {(x.relation, x.record_id) for x in conn.links("Contact", [r["id"]])}
            for r in (survivor, first, second)
        }
        # two duplicates of one survivor: the second merge chains on the id the first one answered
        plan = _plan(
            "hs-new-id", [_merge("Contact", first, survivor["id"]), _merge("Contact", second, survivor["id"])]
        )
        applier = Applier(puller.state, puller.connector)
        report = applier.apply(plan.header.plan_id, plan.actions, dry_run=False)
        assert report.counts == {"done": 2}, report.outcomes
        journal = puller.state.journal(plan.header.plan_id)
        new_id = journal[plan.actions[0].action_id]["after"]
        assert new_id == journal[plan.actions[1].action_id]["after"]
        assert new_id not in (survivor["id"], first["id"], second["id"])
        assert "new id" in (journal[plan.actions[0].action_id]["error"] or "")
        # every old id answers the new record, as HubSpot's merged ids do
        hs: Any = hubspot_client(box.env)
        for old in (survivor["id"], first["id"], second["id"]):
            assert str(hs.crm.contacts.basic_api.get_by_id(old).id) == new_id
        assert conn.read("Contact", [survivor["id"]])["id"].to_list() == [new_id]
        assert conn.moved_ids("Contact") == {survivor["id"]: new_id}
        merged_links = {(x.relation, x.record_id) for x in conn.links("Contact", [new_id])}
        assert merged_links == set().union(*links_before.values())
        # applying again changes nothing
        again = applier.apply(plan.header.plan_id, plan.actions, dry_run=False)
        assert again.counts == {"already done": 2}

        undo = undo_plan(puller.state, plan)
        assert {a.seen_value for a in undo.actions} == {new_id}
        report = applier.apply(undo.header.plan_id, undo.actions, dry_run=False)
        assert report.counts == {"done": 2}, report.outcomes
        undo_journal = puller.state.journal(undo.header.plan_id)
        for action, row in zip(undo.actions, (first, second), strict=True):
            back_id = undo_journal[action.action_id]["after"]
            back = conn.read("Contact", [back_id]).row(0, named=True)
            assert (back["email"], back["last_name"]) == (row["email"], row["last_name"])
            assert {(x.relation, x.record_id) for x in conn.links("Contact", [back_id])} == links_before[
                row["id"]
            ]
        assert {(x.relation, x.record_id) for x in conn.links("Contact", [new_id])} == links_before[
            survivor["id"]
        ]
        puller.close()


def test_company_merges_refused_while_the_salesforce_integration_is_on_are_reported_not_retried(
    tmp_path: Path,
) -> None:
    with real_world_sandbox(300, 83, salesforce_integration=True) as box:
        puller = Puller(profile_for(box, tmp_path))
        puller.pull_many(["hubspot"], ["Account", "Contact"], full=True)
        companies = _live(puller, "Account")
        rows = [companies.row(i, named=True) for i in range(5)]
        plan = _plan(
            "hs-companies",
            [_merge("Account", rows[1], rows[0]["id"]), _merge("Account", rows[2], rows[0]["id"]),
             _merge("Account", rows[4], rows[3]["id"])],
        )  # fmt: skip
        report = Applier(puller.state, puller.connector).apply(
            plan.header.plan_id, plan.actions, dry_run=False
        )
        assert report.counts == {"failed": 3}, report.outcomes
        assert box.hubspot_layer.draws.counts.get("company_merge") == 1  # asked once, never again
        (group,) = report.refusals()
        assert group["count"] == 3
        error = group["records"][0]["error"]
        assert "Salesforce integration is installed" in error and "merge the accounts in Salesforce" in error
        # contacts still merge
        contacts = _live(puller, "Contact")
        a, b = contacts.row(0, named=True), contacts.row(1, named=True)
        contact_plan = _plan("hs-contacts", [_merge("Contact", b, a["id"])])
        done = Applier(puller.state, puller.connector).apply(
            "hs-contacts", contact_plan.actions, dry_run=False
        )
        assert done.counts == {"done": 1}
        puller.close()


def test_restores_and_pulls_tolerate_search_lag_and_a_taken_address_names_its_holder(tmp_path: Path) -> None:
    with real_world_sandbox(300, 85, search_lag_seconds=2.0) as box:
        puller = Puller(profile_for(box, tmp_path))
        puller.pull_many(["hubspot"], ["Account", "Contact"], full=True)
        conn = puller.connector("hubspot")
        contacts, companies = _live(puller, "Contact"), _live(puller, "Account")
        since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        person = contacts.filter(pl.col("email").is_not_null()).row(0, named=True)
        # a contact created again: found by its unique address at once, though search does not see it yet
        fresh = {**person, "email": "restored.person@lag-example.org"}
        (made,) = conn.restore("Contact", [fresh])
        hs: Any = hubspot_client(box.env)
        seen = hs.crm.contacts.search_api.do_search(
            public_object_search_request={
                "filterGroups": [
                    {"filters": [{"propertyName": "email", "operator": "EQ", "value": fresh["email"]}]}
                ]
            }
        )
        assert (seen.total, seen.results) == (1, [])  # HubSpot's lag, as recorded
        (again,) = conn.restore("Contact", [{**fresh, "__merged_at": since}])
        assert made.ok and again.ok and again.extra["id"] == made.extra["id"]
        # a company (no unique property): search is asked again until it shows what it counts
        company = {
            **companies.row(0, named=True),
            "name": "Lagging Restore Ltd",
            "domain": "lagging-restore.example",
        }
        (first,) = conn.restore("Account", [company])
        (second,) = conn.restore("Account", [{**company, "__merged_at": since}])
        assert first.ok and second.extra["id"] == first.extra["id"]
        assert box.hubspot_layer.draws.counts.get("search_lag", 0) >= 2
        # an address another contact holds (409 CONFLICT "Existing ID: N"): the refusal names the holder
        (taken,) = conn.restore("Contact", [{**person, "__merged_at": since}])
        assert not taken.ok
        assert f"Contact already exists. Existing ID: {person['id']}" in (taken.error or "")
        assert f"remove it from contact {person['id']}" in (taken.error or "")
        # an incremental pull right after a write misses it (search lags); the next one has it
        target = contacts.row(5, named=True)
        assert conn.push("Contact", [Change(target["id"], {"title": "Lag Tester"})])[0].ok
        puller.pull_many(["hubspot"], ["Contact"])
        assert _live(puller, "Contact").filter(pl.col("id") == target["id"])["title"].item() != "Lag Tester"
        time.sleep(2.2)
        puller.pull_many(["hubspot"], ["Contact"])
        assert _live(puller, "Contact").filter(pl.col("id") == target["id"])["title"].item() == "Lag Tester"
        puller.close()


def test_a_restore_search_lag_that_outlasts_the_wait_fails_the_record_rather_than_make_it_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with real_world_sandbox(300, 86, search_lag_seconds=600.0) as box:
        puller = Puller(profile_for(box, tmp_path))
        puller.pull_many(["hubspot"], ["Account"], full=True)
        conn = puller.connector("hubspot")
        waits: list[float] = []
        monkeypatch.setattr(conn, "_sleep", waits.append)  # the 14 s of waiting, not slept
        since = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        company = {
            **_live(puller, "Account").row(0, named=True),
            "name": "Slow Index Ltd",
            "domain": "slow.example",
        }
        (first,) = conn.restore("Account", [company])
        before = len(box.hubspot.objects["companies"].frame())
        (second,) = conn.restore("Account", [{**company, "__merged_at": since}])
        assert first.ok and not second.ok and second.extra.get("code") == "SEARCH_LAG"
        assert "not created again" in (second.error or "")
        assert len(box.hubspot.objects["companies"].frame()) == before  # nothing made twice
        assert sum(waits) >= 14.0  # a fixed wait, not a random backoff that may end within the lag
        puller.close()
