"""The generator's activities, engagements and campaign members (built column-at-a-time): every link points
at a record that exists, the seeded defects are exactly the records that carry them, at their rates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from crm_ops.sandbox.generator import SeedConfig, SeededData, generate
from crm_ops.sandbox.generator.activities import OVERDUE, OVERDUE_DAYS
from crm_ops.sandbox.generator.activity_common import DELETED, ORPHAN
from crm_ops.sandbox.generator.campaigns import ORPHAN as MEMBER_ORPHAN
from crm_ops.sandbox.generator.engagements import BACKWARDS, BLANK, UNLINKED

TODAY = date(2026, 6, 1)
CONFIG = SeedConfig(records=3000, seed=11, as_of=TODAY)


@pytest.fixture(scope="module")
def data() -> SeededData:
    return generate(CONFIG)


def _defects(data: SeededData, obj: str, kind: str) -> set[str]:
    d = data.manifest.defects.filter((pl.col("object") == obj) & (pl.col("kind") == kind))
    return set(d["record_id"].to_list())


def _ids(frame: pl.DataFrame, key: str = "Id") -> set[str]:
    return set(frame[key].cast(pl.String).to_list())


def _about(count: int, n: int, share: float) -> bool:
    """``count`` is the share the generator seeds (``max(1, int(n * share))``), give or take a record."""
    return abs(count - max(1, int(n * share))) <= 1


@pytest.mark.parametrize("obj", ["Task", "Event"])
def test_salesforce_activities_point_at_their_who_and_what_and_its_account(
    data: SeededData, obj: str
) -> None:
    sf = data.salesforce
    frame = sf[obj]
    contacts = sf["Contact"].select(pl.col("Id").alias("WhoId"), pl.col("AccountId").alias("contact_account"))
    opps = sf["Opportunity"].select(pl.col("Id").alias("WhatId"), pl.col("AccountId").alias("opp_account"))
    assert frame["WhoId"].is_in(pl.concat([sf["Contact"]["Id"], sf["Lead"]["Id"]]).implode()).all()
    what = frame["WhatId"].drop_nulls()
    assert what.is_in(pl.concat([sf["Account"]["Id"], sf["Opportunity"]["Id"]]).implode()).all()
    assert (frame["WhoCount"] == frame["WhoId"].is_not_null().cast(pl.Int64)).all()
    assert (frame["WhatCount"] == frame["WhatId"].is_not_null().cast(pl.Int64)).all()
    # on a lead: no account and no What; on a contact: the What is its account, or an opportunity whose
    # account is the AccountId
    on_lead = frame.filter(pl.col("WhoId").str.starts_with("00Q"))
    assert on_lead.height > 0
    assert on_lead["AccountId"].null_count() == on_lead.height == on_lead["WhatId"].null_count()
    on_contact = frame.filter(pl.col("WhoId").str.starts_with("003")).join(contacts, on="WhoId", how="left")
    on_opp = on_contact.filter(pl.col("WhatId").str.starts_with("006")).join(opps, on="WhatId", how="left")
    assert on_opp.height > 0
    assert on_opp["AccountId"].equals(on_opp["opp_account"], check_names=False)
    on_account = on_contact.filter(~pl.col("WhatId").fill_null("").str.starts_with("006"))
    assert on_account["AccountId"].equals(on_account["contact_account"], check_names=False)
    assert on_account["WhatId"].equals(on_account["AccountId"], check_names=False)


@pytest.mark.parametrize("obj", ["Task", "Event"])
def test_salesforce_orphans_are_exactly_the_live_activities_on_a_deleted_contact(
    data: SeededData, obj: str
) -> None:
    frame = data.salesforce[obj]
    dead = data.salesforce["Contact"].filter(pl.col("IsDeleted"))["Id"].implode()
    orphans = frame.filter(~pl.col("IsDeleted") & pl.col("WhoId").is_in(dead))
    assert _ids(orphans) == _defects(data, obj, "activity_orphan")
    assert _about(orphans.height, frame.height, ORPHAN)
    assert 0.5 * DELETED < frame["IsDeleted"].mean() < 2 * DELETED  # type: ignore[operator]


def test_overdue_tasks_are_exactly_the_seeded_ones(data: SeededData) -> None:
    cutoff = TODAY - timedelta(days=OVERDUE_DAYS)
    tasks = data.salesforce["Task"]
    overdue = tasks.filter((pl.col("Status") != "Completed") & (pl.col("ActivityDate") < cutoff))
    assert _ids(overdue) == _defects(data, "Task", "activity_overdue")
    assert _about(overdue.height, tasks.height, OVERDUE)
    assert (tasks["IsClosed"] == (tasks["Status"] == "Completed")).all()
    hs_tasks = data.hubspot["tasks"]
    # HubSpot's are due at a time: open ones under a year and a day ago (whole days past the year: done)
    year_and_a_day = datetime.combine(TODAY, datetime.min.time(), UTC) - timedelta(days=OVERDUE_DAYS + 1)
    late = hs_tasks.filter(
        (pl.col("hs_task_status") != "COMPLETED") & (pl.col("hs_timestamp") <= year_and_a_day)
    )
    assert _ids(late, "id") == _defects(data, "tasks", "activity_overdue")
    assert _about(late.height, hs_tasks.height, OVERDUE)


def test_hubspot_engagements_are_linked_to_records_that_exist(data: SeededData) -> None:
    hs, links = data.hubspot, data.hubspot_associations
    for name in ("tasks", "calls", "emails", "meetings", "notes"):
        ids = hs[name]["id"].implode()
        for target in ("contacts", "companies", "deals"):
            pairs = links.get((name, target))
            if pairs is None:
                continue
            assert pairs.height > 0, (name, target)
            assert pairs["from_id"].is_in(ids).all(), (name, target)
            assert pairs["to_id"].is_in(hs[target]["id"].implode()).all(), (name, target)
        # one contact each, but for the e-mails seeded without one
        contact = links[(name, "contacts")]
        assert contact["from_id"].is_unique().all(), name
        unlinked = set(hs[name]["id"].to_list()) - set(contact["from_id"].to_list())
        expected = {int(i) for i in _defects(data, name, "activity_email_unlinked")}
        assert unlinked == expected, name
    emails = hs["emails"]
    assert _about(len(_defects(data, "emails", "activity_email_unlinked")), emails.height, UNLINKED)
    # an e-mail without a contact was sent (an incoming one has no send status)
    unlinked_rows = emails.filter(pl.col("id").cast(pl.String).is_in(list(expected)))
    assert (unlinked_rows["hs_email_status"] == "SENT").all()
    assert emails.filter(pl.col("hs_email_direction") == "INCOMING_EMAIL")["hs_email_status"].is_null().all()


def test_blank_notes_and_backwards_meetings_are_exactly_the_seeded_ones(data: SeededData) -> None:
    notes = data.hubspot["notes"]
    blank = notes.filter(pl.col("hs_note_body").fill_null("").str.strip_chars() == "")
    assert _ids(blank, "id") == _defects(data, "notes", "activity_note_blank")
    assert _about(blank.height, notes.height, BLANK)
    assert blank["hs_note_body"].null_count() > 0  # saved with an attachment only, or a space
    meetings = data.hubspot["meetings"]
    backwards = meetings.filter(pl.col("hs_meeting_end_time") < pl.col("hs_meeting_start_time"))
    assert _ids(backwards, "id") == _defects(data, "meetings", "activity_event_order")
    assert _about(backwards.height, meetings.height, BACKWARDS)
    events = data.salesforce["Event"]  # Salesforce refuses such an event: none seeded there
    assert (events["EndDateTime"] >= events["StartDateTime"]).all()


def test_each_deleted_activity_is_listed_with_the_deleted_records(data: SeededData) -> None:
    deleted = data.manifest.deleted
    for obj in ("Task", "Event"):
        gone = data.salesforce[obj].filter(pl.col("IsDeleted"))
        listed = deleted.filter(pl.col("object") == obj)
        assert _ids(gone) == set(listed["record_id"].to_list()), obj
    for name in ("tasks", "calls", "emails", "meetings", "notes"):
        gone = data.hubspot[name].filter(pl.col("archived"))
        assert gone["archivedAt"].null_count() == 0, name
        assert data.hubspot[name].filter(~pl.col("archived"))["archivedAt"].null_count() > 0, name
        listed = deleted.filter(pl.col("object") == name)
        assert _ids(gone, "id") == set(listed["record_id"].to_list()), name
        assert _about(gone.height, data.hubspot[name].height, DELETED), name
        stamps = listed.join(
            gone.select(pl.col("id").cast(pl.String).alias("record_id"), "archivedAt"), on="record_id"
        )
        assert stamps["deleted_at"].equals(stamps["archivedAt"], check_names=False), name


def test_campaign_members_are_people_once_a_campaign_with_consistent_fields(data: SeededData) -> None:
    sf = data.salesforce
    members = sf["CampaignMember"]
    assert members.select("CampaignId", "LeadOrContactId").is_unique().all()
    assert members["CampaignId"].is_in(sf["Campaign"]["Id"].implode()).all()
    person = members.select(pl.coalesce("LeadId", "ContactId")).to_series()
    assert person.equals(members["LeadOrContactId"], check_names=False)
    assert (members["LeadId"].is_null() | members["ContactId"].is_null()).all()
    kinds = members.select(
        pl.when(pl.col("LeadId").is_not_null()).then(pl.lit("Lead")).otherwise(pl.lit("Contact"))
    ).to_series()
    assert kinds.equals(members["Type"], check_names=False)
    assert (members["HasResponded"] == (members["Status"] == "Responded")).all()
    starts = members.join(
        sf["Campaign"].select(pl.col("Id").alias("CampaignId"), "StartDate"), on="CampaignId", how="left"
    )
    responded = starts.filter(pl.col("HasResponded"))
    assert responded["FirstRespondedDate"].equals(responded["StartDate"], check_names=False)
    assert starts.filter(~pl.col("HasResponded"))["FirstRespondedDate"].is_null().all()


def test_campaign_member_orphans_are_exactly_the_live_members_left_behind(data: SeededData) -> None:
    sf = data.salesforce
    members = sf["CampaignMember"].filter(~pl.col("IsDeleted"))
    for column, parent in (("ContactId", "Contact"), ("LeadId", "Lead"), ("CampaignId", "Campaign")):
        dead = sf[parent].filter(pl.col("IsDeleted"))["Id"].implode()
        left = members.filter(pl.col(column).is_in(dead))
        seeded = data.manifest.defects.filter(
            (pl.col("kind") == "campaign_member_orphan") & (pl.col("field") == column)
        )
        assert _ids(left) == set(seeded["record_id"].to_list()), column
        assert _about(left.height, sf["CampaignMember"].height, MEMBER_ORPHAN), column
        bad = dict(zip(seeded["record_id"].to_list(), seeded["bad_value"].to_list(), strict=True))
        assert all(bad[i] == v for i, v in left.select("Id", column).iter_rows()), column
