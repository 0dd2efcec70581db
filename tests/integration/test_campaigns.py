"""Campaigns as a shipped object map (issue 26): a profile enabling ``object_maps = ["campaigns"]`` pulls
Salesforce ``Campaign`` and ``CampaignMember`` (HubSpot's campaigns live in its Marketing API: the map
has no HubSpot side), incrementally after changes; the shipped campaign rules find exactly the seeded
defects (campaigns ending before they start, members whose contact, lead or campaign is deleted); a
profile without the map pulls and checks as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.api import Workspace
from crm_ops.pull import Puller
from crm_ops.rules.testing import run_examples
from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.server import Sandbox
from tests.pulling import fast_sandbox
from tests.pulling import object_maps_profile as _profile

pytestmark = pytest.mark.integration
ENTITIES = ["Campaign", "CampaignMember"]
RULES = {
    "campaign.end_date.before_start",
    "campaign.member.contact.exists",
    "campaign.member.lead.exists",
    "campaign.member.campaign.exists",
}


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(600, 2604) as sb:
        yield sb


def _snapshots(puller: Puller, entities: list[str]) -> dict[str, pl.DataFrame]:
    out = {}
    for entity in entities:
        current = puller.state.current("salesforce", entity)
        assert current is not None
        out[entity] = current.snapshot.read().sort("id")
    return out


def _live_ids(frame: pl.DataFrame) -> list[str]:
    return frame.filter(~pl.col("is_deleted"))["id"].to_list()


def _expected(snap: dict[str, pl.DataFrame]) -> set[tuple[str, str]]:
    """The campaign rules' findings, worked out from the pulled snapshots alone: (record id, rule)."""
    campaigns = snap["Campaign"].filter(~pl.col("is_deleted"))
    out = {
        (i, "campaign.end_date.before_start")
        for i in campaigns.filter(pl.col("end_date") < pl.col("start_date"))["id"]
    }
    members = snap["CampaignMember"].filter(~pl.col("is_deleted"))
    for column, parent, rule in (
        ("contact_id", "Contact", "campaign.member.contact.exists"),
        ("lead_id", "Lead", "campaign.member.lead.exists"),
        ("campaign_id", "Campaign", "campaign.member.campaign.exists"),
    ):
        gone = members.filter(pl.col(column).is_not_null() & ~pl.col(column).is_in(_live_ids(snap[parent])))
        out |= {(i, rule) for i in gone["id"]}
    return out


def test_a_profile_without_the_campaigns_map_has_no_campaigns_and_no_rule_errors(
    box: Sandbox, tmp_path: Path
) -> None:
    ws = Workspace(_profile(box, tmp_path))
    rules, problems = ws.rules()
    assert not problems and not RULES & {r.id for r in rules}
    run = ws.pull()
    assert not run.failures
    assert not set(ENTITIES) & {r.entity for r in run.results}
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    assert not set(ENTITIES) & set(checked.result.findings["entity"])


def test_salesforce_describes_campaigns_and_members_as_the_real_org_does(box: Sandbox) -> None:
    sfc: Any = salesforce_client(box.env)
    campaign = sfc.Campaign.describe()
    fields = {f["name"]: f for f in campaign["fields"]}
    assert campaign["keyPrefix"] == "701" and campaign["labelPlural"] == "Campaigns"
    assert {"Name", "Type", "Status", "StartDate", "EndDate", "IsActive", "BudgetedCost", "ParentId"} <= set(
        fields
    )
    assert fields["EndDate"]["type"] == "date" and fields["NumberOfContacts"]["updateable"] is False
    children = {
        (c["childSObject"], c["field"], c["relationshipName"]) for c in campaign["childRelationships"]
    }
    assert ("CampaignMember", "CampaignId", "CampaignMembers") in children
    member = {f["name"]: f for f in sfc.CampaignMember.describe()["fields"]}
    assert member["CampaignId"]["referenceTo"] == ["Campaign"] and member["CampaignId"]["updateable"] is False
    assert member["ContactId"]["referenceTo"] == ["Contact"] and member["LeadId"]["referenceTo"] == ["Lead"]
    assert member["HasResponded"]["type"] == "boolean"


def test_the_shipped_campaigns_map_pulls_incrementally_and_finds_exactly_the_seeded_defects(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path, '["campaigns"]')
    data = box.data
    truth = {name: data.salesforce[name] for name in ENTITIES}
    live_people = (
        data.salesforce["Contact"].filter(~pl.col("IsDeleted")).height
        + data.salesforce["Lead"].filter(~pl.col("IsDeleted")).height
    )
    assert truth["CampaignMember"].height >= live_people  # about 1.5 memberships a live person
    assert 10 <= truth["Campaign"].height <= 20
    puller = Puller(profile)
    try:
        first = puller.pull_many(["salesforce", "hubspot"], ENTITIES)  # HubSpot has no such entity
        assert {(r.system, r.entity, r.mode) for r in first} == {("salesforce", e, "full") for e in ENTITIES}
        snap = _snapshots(puller, ENTITIES)
    finally:
        puller.close()

    # every record, deleted ones as tombstones; typed from describe
    for name, frame in snap.items():
        assert frame.height == truth[name].height
        assert frame["is_deleted"].sum() == truth[name]["IsDeleted"].sum() > 0
    assert (
        snap["Campaign"].schema["start_date"] == pl.Date
        and snap["Campaign"].schema["is_active"] == pl.Boolean
    )
    assert snap["Campaign"].schema["budgeted_cost"] == pl.Float64
    assert snap["CampaignMember"].schema["has_responded"] == pl.Boolean
    want = truth["CampaignMember"].select("Id", "CampaignId", "ContactId", "LeadId", "Status", "HasResponded")
    got = snap["CampaignMember"].select(
        "id", "campaign_id", "contact_id", "lead_id", "status", "has_responded"
    )
    assert sorted(got.rows()) == sorted(want.rows())
    assert not snap["CampaignMember"]["owner_id"].drop_nulls().len()  # a member has no owner

    # the shipped rules: examples pass; findings are what the snapshots say, and exactly the seeded ones
    ws = Workspace(profile)
    rules, problems = ws.rules()
    assert not problems and {r.id for r in rules} >= RULES
    assert all(e.ok for e in run_examples([r for r in rules if r.id in RULES]))
    ws.pull()
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    mine = checked.result.findings.filter(pl.col("rule").is_in(list(RULES)))
    assert set(mine["system"]) == {"salesforce"}
    found = {(r, rule) for r, rule in mine.select("record_id", "rule").rows()}
    puller = Puller(profile)
    try:
        people = _snapshots(puller, ["Contact", "Lead"])
    finally:
        puller.close()
    assert found == _expected(snap | people)
    rule_of = {
        ("campaign_dates", "EndDate"): "campaign.end_date.before_start",
        ("campaign_member_orphan", "ContactId"): "campaign.member.contact.exists",
        ("campaign_member_orphan", "LeadId"): "campaign.member.lead.exists",
        ("campaign_member_orphan", "CampaignId"): "campaign.member.campaign.exists",
    }
    defects = data.manifest.defects.filter(pl.col("kind").str.starts_with("campaign_"))
    seeded = {(r, rule_of[(k, f)]) for r, k, f in defects.select("record_id", "kind", "field").rows()}
    assert {rule for _, rule in seeded} == RULES
    assert found == seeded

    # changes: a campaign's dates set right, an orphaned member deleted, a live member responding (the
    # org sets HasResponded and the first response date from the status)
    sfc: Any = salesforce_client(box.env)
    backwards = sorted(r for r, rule in seeded if rule == "campaign.end_date.before_start")[0]
    sfc.Campaign.update(backwards, {"EndDate": "2099-12-31"})
    orphan = sorted(r for r, rule in seeded if rule == "campaign.member.lead.exists")[0]
    sfc.CampaignMember.delete(orphan)
    not_yet = snap["CampaignMember"].filter(~pl.col("has_responded"))
    fine = sorted(set(_live_ids(not_yet)) - {r for r, _ in seeded})[0]
    before = datetime.now(UTC).date()  # the org stamps the day it is told (a run may cross midnight)
    sfc.CampaignMember.update(fine, {"Status": "Responded"})
    after = datetime.now(UTC).date()
    puller = Puller(profile)
    try:
        second = puller.pull_many(["salesforce"], ENTITIES)
        assert {r.mode for r in second} == {"incremental"}
        assert all(r.changed < 20 for r in second)  # the window, not the table again
        snap2 = _snapshots(puller, ENTITIES)
    finally:
        puller.close()
    assert snap2["Campaign"].filter(pl.col("id") == backwards)["end_date"][0] == date(2099, 12, 31)
    assert snap2["CampaignMember"].filter(pl.col("id") == orphan)["is_deleted"][0] is True
    responded = snap2["CampaignMember"].filter(pl.col("id") == fine)
    status, has_responded, first_responded = responded.select(
        "status", "has_responded", "first_responded_date"
    ).row(0)
    assert (status, has_responded) == ("Responded", True) and before <= first_responded <= after
    again = Workspace(profile).check().result.findings.filter(pl.col("rule").is_in(list(RULES)))
    now = {(r, rule) for r, rule in again.select("record_id", "rule").rows()}
    assert (
        now
        == _expected(snap2 | people)
        == seeded
        - {
            (backwards, "campaign.end_date.before_start"),
            (orphan, "campaign.member.lead.exists"),
        }
    )
