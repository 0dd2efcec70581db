"""Activities as a shipped object map (issue 26): a profile enabling ``object_maps = ["activities"]``
pulls Salesforce ``Task`` and HubSpot ``tasks`` as the entity ``Task``, HubSpot ``calls`` as ``Call``,
Salesforce ``Event`` and HubSpot ``meetings`` as ``Event``, HubSpot ``emails`` as ``Email`` and ``notes``
as ``Note`` (about ten a contact in all: the largest tables of the org), incrementally after changes; the
shipped activity rules find exactly the seeded defects (open tasks overdue by over a year, activities on
deleted contacts, meetings ending before they start, sent e-mails on no contact, empty notes); e-mails
are read only with the ``sales-email-read`` scope; a profile without the map pulls and checks as
before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from simple_salesforce.exceptions import SalesforceMalformedRequest

from crm_ops.api import Workspace
from crm_ops.config import Profile
from crm_ops.doctor import run_doctor
from crm_ops.engines import profile_snapshots
from crm_ops.pull import Puller
from crm_ops.rules.testing import run_examples
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator.config import SeedConfig
from crm_ops.sandbox.hubspot import DEFAULT_SCOPES, HubSpotLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.pulling import TODAY, fast_sandbox
from tests.pulling import object_maps_profile as _profile

pytestmark = pytest.mark.integration
RULES = {"activity.task.overdue", "activity.contact.exists"}
ENTITIES = ["Task", "Call"]
HS_KINDS = ("tasks", "calls", "emails", "meetings", "notes")
NEW = ["Event", "Email", "Note"]
ALL_ENTITIES = ENTITIES + NEW
NEW_RULES = {
    "activity.event.ends_before_start",
    "activity.email.contact.required",
    "activity.note.body.required",
}


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(800, 2603) as sb:
        yield sb


def _snapshot(puller: Puller, system: str, entity: str = "Task") -> pl.DataFrame:
    current = puller.state.current(system, entity)
    assert current is not None
    return current.snapshot.read().sort("id")


def test_a_profile_without_the_activities_map_pulls_and_checks_as_before(
    box: Sandbox, tmp_path: Path
) -> None:
    ws = Workspace(_profile(box, tmp_path))
    rules, problems = ws.rules()
    assert not problems and not (RULES | NEW_RULES) & {r.id for r in rules}
    run = ws.pull()
    assert not run.failures
    assert not set(ALL_ENTITIES) & {r.entity for r in run.results}
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    assert not set(ALL_ENTITIES) & set(checked.result.findings["entity"])
    assert not checked.result.findings.filter(pl.col("rule").str.starts_with("activity.")).height


def test_the_shipped_activities_map_pulls_both_crms_incrementally_and_finds_the_seeded_defects(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path, '["activities"]')
    data = box.data
    truth_sf, truth_tasks, truth_calls = data.salesforce["Task"], data.hubspot["tasks"], data.hubspot["calls"]
    # the seed's activities: about ten a contact on each CRM, across the kinds
    sf_all = truth_sf.height + data.salesforce["Event"].height
    assert sf_all >= 9 * data.salesforce["Contact"].filter(~pl.col("IsDeleted")).height
    assert truth_sf.height > 2 * data.salesforce["Event"].height
    hs_all = sum(data.hubspot[name].height for name in HS_KINDS)
    assert hs_all >= 9 * data.hubspot["contacts"].height * 0.95
    assert all(data.hubspot[name].height >= 0.08 * hs_all for name in HS_KINDS)
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
    large = profile_snapshots(small).large
    assert {"Task", "Event"} <= set(large["salesforce"]) and {"Task", "Call"} <= set(large["hubspot"])
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


def _events_emails_notes(puller: Puller) -> dict[tuple[str, str], pl.DataFrame]:
    return {
        (system, entity): _snapshot(puller, system, entity)
        for system, entity in (
            ("salesforce", "Event"),
            ("hubspot", "Event"),
            ("hubspot", "Email"),
            ("hubspot", "Note"),
        )
    }


def _expected(snap: dict[tuple[str, str], pl.DataFrame], contacts: set[str]) -> set[tuple[str, str, str]]:
    """The new rules' findings, worked out from the pulled snapshots alone."""
    out: set[tuple[str, str, str]] = set()
    for (system, entity), frame in snap.items():
        live = frame.filter(~pl.col("is_deleted"))
        bad: dict[str, pl.Expr] = {
            "activity.contact.exists": pl.col("contact_id").str.starts_with("003")
            & ~pl.col("contact_id").is_in(sorted(contacts)),
        }
        if entity == "Event":
            bad["activity.event.ends_before_start"] = pl.col("end_at") < pl.col("start_at")
        if entity == "Email":
            bad["activity.email.contact.required"] = (pl.col("status") == "SENT") & pl.col(
                "contact_id"
            ).is_null()
        if entity == "Note":
            bad["activity.note.body.required"] = pl.col("body").fill_null("").str.strip_chars() == ""
        for rule, expr in bad.items():
            out |= {(system, i, rule) for i in live.filter(expr.fill_null(False))["id"]}
    return out


def test_events_emails_and_notes_pull_incrementally_and_the_rules_find_exactly_their_defects(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = _profile(box, tmp_path, '["activities"]')
    data = box.data
    truth = {
        ("salesforce", "Event"): data.salesforce["Event"],
        ("hubspot", "Event"): data.hubspot["meetings"],
        ("hubspot", "Email"): data.hubspot["emails"],
        ("hubspot", "Note"): data.hubspot["notes"],
    }
    puller = Puller(profile)
    try:
        first = puller.pull_many(["salesforce", "hubspot"], NEW)
        assert {(r.system, r.entity, r.mode) for r in first} == {(s, e, "full") for s, e in truth}
        snap = _events_emails_notes(puller)
    finally:
        puller.close()

    # every record, deleted ones as tombstones, typed from describe and the properties API
    for key, frame in snap.items():
        deleted = truth[key]["IsDeleted" if key[0] == "salesforce" else "archived"].sum()
        assert (frame.height, frame["is_deleted"].sum()) == (truth[key].height, deleted) and deleted > 0
    sf_events, meetings = snap[("salesforce", "Event")], snap[("hubspot", "Event")]
    assert sf_events.schema["start_at"] == meetings.schema["end_at"] == pl.Datetime("ms", "UTC")
    assert sf_events.schema["is_all_day"] == pl.Boolean and sf_events.schema["duration_minutes"] == pl.Int64
    want = (
        truth[("salesforce", "Event")]
        .select("Id", "Subject", "StartDateTime", "EndDateTime", "DurationInMinutes", "WhoId", "AccountId")
        .rows()
    )
    got = sf_events.select(
        "id", "subject", "start_at", "end_at", "duration_minutes", "contact_id", "account_id"
    ).rows()
    assert sorted(got) == sorted(want)
    hs_want = truth[("hubspot", "Event")].select(
        pl.col("id").cast(pl.String), "hs_meeting_title", "hs_meeting_start_time", "hs_meeting_outcome"
    )
    assert sorted(meetings.select("id", "subject", "start_at", "outcome").rows()) == sorted(hs_want.rows())
    # HubSpot's contact, account and deal are the engagement's associations
    links = data.hubspot_associations
    for entity, name in (("Event", "meetings"), ("Email", "emails"), ("Note", "notes")):
        frame = snap[("hubspot", entity)]
        for column, target in (("contact_id", "contacts"), ("account_id", "companies"), ("deal_id", "deals")):
            pairs = {(str(a), str(b)) for a, b in links[(name, target)].select("from_id", "to_id").rows()}
            assert {(i, v) for i, v in frame.select("id", column).rows() if v is not None} == pairs

    # the shipped rules: examples pass; findings are what the snapshots say, and exactly the seeded ones
    ws = Workspace(profile)
    rules, problems = ws.rules()
    assert not problems and {r.id for r in rules} >= NEW_RULES
    assert all(e.ok for e in run_examples([r for r in rules if r.id in NEW_RULES]))
    ws.pull()
    checked = ws.check()
    assert not checked.problems and not checked.result.errors
    mine = checked.result.findings.filter(
        pl.col("entity").is_in(NEW) & pl.col("rule").str.starts_with("activity.")
    )
    found = {(s, r, rule) for s, r, rule in mine.select("system", "record_id", "rule").rows()}
    contacts = _live_contacts(profile)
    assert found == _expected(snap, contacts)
    rule_of = {
        "activity_orphan": "activity.contact.exists",
        "activity_event_order": "activity.event.ends_before_start",
        "activity_email_unlinked": "activity.email.contact.required",
        "activity_note_blank": "activity.note.body.required",
    }
    objects = {"Event", "meetings", "emails", "notes"}
    defects = data.manifest.defects.filter(
        pl.col("kind").is_in(list(rule_of)) & pl.col("object").is_in(objects)
    )
    seeded = {(s, r, rule_of[k]) for s, r, k in defects.select("system", "record_id", "kind").rows()}
    assert {rule for _, _, rule in seeded} == NEW_RULES | {"activity.contact.exists"}
    assert found == seeded

    # changes on each CRM: a meeting's end fixed, a note written, an event deleted
    sfc: Any = salesforce_client(box.env)
    hsc = hubspot_client(box.env)
    backwards = sorted(r for s, r, rule in seeded if rule == "activity.event.ends_before_start")[0]
    start = meetings.filter(pl.col("id") == backwards)["start_at"][0]
    ends = (start + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    hsc.crm.objects.basic_api.update(
        "meetings", backwards, simple_public_object_input={"properties": {"hs_meeting_end_time": ends}}
    )
    blank = sorted(r for s, r, rule in seeded if rule == "activity.note.body.required")[0]
    hsc.crm.objects.basic_api.update(
        "notes", blank, simple_public_object_input={"properties": {"hs_note_body": "Called back."}}
    )
    orphan = sorted(r for s, r, rule in seeded if s == "salesforce")[0]
    sfc.Event.delete(orphan)
    # Salesforce keeps an event's times consistent: a new end sets the duration; an end before the start
    # is refused
    moved = sorted(set(_live(sf_events)) - {r for _, r, _ in seeded})[0]
    moved_start = sf_events.filter(pl.col("id") == moved)["start_at"][0]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sfc.Event.update(moved, {"EndDateTime": (moved_start - timedelta(hours=1)).isoformat()})
    assert refused.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    sfc.Event.update(moved, {"EndDateTime": (moved_start + timedelta(minutes=90)).isoformat()})
    puller = Puller(profile)
    try:
        second = puller.pull_many(["salesforce", "hubspot"], NEW)
        assert {r.mode for r in second} == {"incremental"}
        assert all(r.changed < 50 for r in second)  # the window, not the table again
        snap2 = _events_emails_notes(puller)
    finally:
        puller.close()
    assert snap2[("salesforce", "Event")].filter(pl.col("id") == orphan)["is_deleted"][0] is True
    after = snap2[("salesforce", "Event")].filter(pl.col("id") == moved)
    assert after.select("start_at", "end_at", "duration_minutes").row(0) == (
        moved_start,
        moved_start + timedelta(minutes=90),
        90,
    )
    assert snap2[("hubspot", "Note")].filter(pl.col("id") == blank)["body"][0] == "Called back."
    again = Workspace(profile).check().result.findings.filter(pl.col("entity").is_in(NEW))
    now = {(s, r, rule) for s, r, rule in again.select("system", "record_id", "rule").rows()}
    assert (
        now
        == _expected(snap2, contacts)
        == seeded
        - {
            ("hubspot", backwards, "activity.event.ends_before_start"),
            ("hubspot", blank, "activity.note.body.required"),
            ("salesforce", orphan, "activity.contact.exists"),
        }
    )


def _live(frame: pl.DataFrame) -> list[str]:
    return frame.filter(~pl.col("is_deleted"))["id"].to_list()


def _live_contacts(profile: Profile) -> set[str]:
    """The ids of the live Salesforce contacts as the profile's last pull saw them."""
    puller = Puller(profile)
    try:
        contacts = _snapshot(puller, "salesforce", "Contact")
    finally:
        puller.close()
    return set(contacts.filter(~pl.col("is_deleted"))["id"])


def test_emails_are_read_with_sales_email_read_only_and_other_engagements_with_the_contacts_scope(
    tmp_path: Path,
) -> None:
    """HubSpot serves logged e-mails' details only to an app granted ``sales-email-read`` besides the
    contacts scope; meetings and notes need only the contacts scope; a pull of e-mails and doctor name the
    scope."""
    limits = HubSpotLimits(scopes=DEFAULT_SCOPES - {"sales-email-read"})
    config = SandboxConfig(seed=SeedConfig(records=200, seed=5, as_of=TODAY), hubspot_limits=limits)
    with Sandbox(config) as sb:
        hsc = hubspot_client(sb.env)
        for name in ("meetings", "notes", "tasks", "calls"):
            assert hsc.crm.objects.basic_api.get_page(name, limit=1).results
        with pytest.raises(ObjectsApiException) as raised:
            hsc.crm.objects.basic_api.get_page("emails", limit=1)
        assert raised.value.status == 403
        body = json.loads(raised.value.body)
        assert body["category"] == "MISSING_SCOPES"
        assert body["errors"][0]["context"]["requiredScopes"] == ["sales-email-read"]
        profile = _profile(sb, tmp_path, '["activities"]')
        run = Workspace(profile).pull(systems=["hubspot"], entities=NEW)
        assert [(f.system, f.entity) for f in run.failures] == [("hubspot", "Email")]
        assert "sales-email-read" in str(run.failures[0].error)
        assert {r.entity for r in run.results} == {"Event", "Note"}
        # doctor names the scope too, for a profile whose maps read e-mails
        scopes = [f for f in run_doctor(profile) if f.system == "hubspot" and f.check == "scopes"]
        assert [(f.status, f.detail) for f in scopes] == [
            ("fail", "the private app lacks sales-email-read: add them on its Scopes tab")
        ]
    without_contacts = HubSpotLimits(scopes=DEFAULT_SCOPES - {"crm.objects.contacts.read"})
    config = SandboxConfig(seed=SeedConfig(records=200, seed=5, as_of=TODAY), hubspot_limits=without_contacts)
    with Sandbox(config) as sb:
        with pytest.raises(ObjectsApiException) as raised:
            hubspot_client(sb.env).crm.objects.basic_api.get_page("emails", limit=1)
        scopes = json.loads(raised.value.body)["errors"][0]["context"]["requiredScopes"]
        assert scopes == ["crm.objects.contacts.read"]
