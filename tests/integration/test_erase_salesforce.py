"""Erasure on Salesforce (issue 31), end to end through simple-salesforce and our SOAP client: a person
deleted and emptied from the recycle bin, with what Salesforce deletes with them; undelete refused after
it; ``queryAll`` until the window ends, then nothing, and the values gone from the org's store; more than
200 ids in chunks; a refused emptying reported as not hard-deleted; a resumed erasure and lost replies
ending the same. Each test makes its own people (the session sandbox is shared)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_ops.connectors.base import Connector
from crm_ops.pull import connect
from crm_ops.sandbox.objects import sf_row
from crm_ops.sandbox.server import Sandbox
from tests.erasing import QUICK, erase_losing_replies, own_sandbox
from tests.pulling import profile_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """This module's own sandbox (``tests.erasing.own_sandbox``)."""
    yield from own_sandbox()


_names = itertools.count()


@pytest.fixture
def conn(sandbox: Sandbox, tmp_path: Path) -> Connector:
    return connect(profile_for(sandbox, tmp_path, salesforce=QUICK), "salesforce")


def _person(sf: Any, *, lead: bool = False) -> dict[str, str]:
    """A contact (or lead) of our own with an e-mail, a task, an event and, for a contact, a contact role,
    a case and a campaign membership: their ids, and the e-mail."""
    n = next(_names)
    email = f"erase.me.{n}@example.org"
    kind: Any = sf.Lead if lead else sf.Contact
    values = {"LastName": f"Erasable{n}", "FirstName": "Ada", "Email": email}
    if lead:
        values["Company"] = f"Erasable Ltd {n}"
    person = kind.create(values)["id"]
    start = datetime.now(UTC).replace(microsecond=0)
    ids = {
        "person": person,
        "email": email,
        "task": sf.Task.create({"Subject": f"Call Ada {n}", "WhoId": person})["id"],
        "event": sf.Event.create(
            {
                "Subject": f"Meet Ada {n}",
                "WhoId": person,
                "StartDateTime": start.isoformat(),
                "EndDateTime": (start + timedelta(hours=1)).isoformat(),
            }
        )["id"],
    }
    if not lead:
        opportunity = sf.query("SELECT Id FROM Opportunity WHERE IsDeleted = false LIMIT 1")["records"][0][
            "Id"
        ]
        campaign = sf.query("SELECT Id FROM Campaign WHERE IsDeleted = false LIMIT 1")["records"][0]["Id"]
        role = {"OpportunityId": opportunity, "ContactId": person, "Role": "Influencer"}
        ids["role"] = sf.OpportunityContactRole.create(role)["id"]
        case = {"ContactId": person, "Subject": f"Help Ada {n}", "Status": "New", "Origin": "Email"}
        ids["case"] = sf.Case.create(case)["id"]
        member = {"CampaignId": campaign, "ContactId": person, "Status": "Sent"}
        ids["member"] = sf.CampaignMember.create(member)["id"]
    return ids


def _live(sf: Any, obj: str, record_id: str) -> bool:
    return bool(sf.query(f"SELECT Id FROM {obj} WHERE Id = '{record_id}'")["totalSize"])


def _in_query_all(sf: Any, obj: str, record_id: str) -> dict[str, Any] | None:
    records = sf.query_all(f"SELECT Id, IsDeleted FROM {obj} WHERE Id = '{record_id}'", include_deleted=True)
    return records["records"][0] if records["totalSize"] else None


def _stored(sandbox: Sandbox, obj: str, record_id: str) -> dict[str, Any]:
    prefix = sandbox.salesforce.objects[obj].key_prefix
    row = sf_row(record_id, prefix)
    assert row is not None
    return dict(sandbox.salesforce.store[obj].frame().row(row, named=True))


def test_erased_contact_is_emptied_undeletable_and_then_gone_with_its_values(
    sandbox: Sandbox, sf: Any, conn: Connector
) -> None:
    p = _person(sf)
    (result,) = conn.erase("Contact", [p["person"]])
    assert result.ok, result.error
    assert result.extra["hard_deleted"] is True
    assert not _live(sf, "Contact", p["person"])
    # what Salesforce deletes with a contact: its activities, contact roles and campaign memberships
    for obj, key in (("Task", "task"), ("Event", "event"), ("CampaignMember", "member")):
        assert not _live(sf, obj, p[key]), obj
    # (by the contact: a seeded contact role may share the new role's id, a generator quirk)
    soql = f"SELECT Id FROM OpportunityContactRole WHERE ContactId = '{p['person']}'"
    assert sf.query(soql)["totalSize"] == 0
    # the case stays, its lookup to the contact cleared
    case = sf.Case.get(p["case"])
    assert case["ContactId"] is None
    # emptied: queryAll still returns it for a while, and it can no longer be undeleted
    assert (_in_query_all(sf, "Contact", p["person"]) or {}).get("IsDeleted") is True
    (back,) = conn.restore("Contact", [{"id": p["person"]}])
    assert not back.ok
    assert "UNDELETE_FAILED" in (back.error or "")
    assert _stored(sandbox, "Contact", p["person"])["Email"] == p["email"]  # still in the window
    # the window ends: queryAll no longer returns it, and its values are gone from the store
    assert sandbox.controls.end_recycle_window() >= 1
    for obj, key in (("Contact", "person"), ("Task", "task"), ("Event", "event")):
        assert _in_query_all(sf, obj, p[key]) is None, obj
    stored = _stored(sandbox, "Contact", p["person"])
    assert {k for k, v in stored.items() if v is not None} == {"Id", "IsDeleted"}
    assert not sandbox.salesforce.store["Contact"].frame()["Email"].eq(p["email"]).any()
    assert _stored(sandbox, "Task", p["task"])["Subject"] is None


def test_undelete_before_emptying_brings_back_what_the_delete_reached(sf: Any, conn: Connector) -> None:
    p = _person(sf)
    sf.Contact.delete(p["person"])  # a plain delete: to the recycle bin
    assert not _live(sf, "Task", p["task"])
    assert sf.Case.get(p["case"])["ContactId"] is None
    (task_alone,) = conn.restore("Contact", [{"id": p["task"]}])  # in the bin with its contact, not alone
    assert not task_alone.ok
    assert "UNDELETE_FAILED" in (task_alone.error or "")
    (back,) = conn.restore("Contact", [{"id": p["person"]}])
    assert back.ok, back.error
    for obj, key in (
        ("Contact", "person"),
        ("Task", "task"),
        ("Event", "event"),
        ("CampaignMember", "member"),
    ):
        assert _live(sf, obj, p[key]), obj
    assert sf.Case.get(p["case"])["ContactId"] == p["person"]


def test_a_lead_is_erased_with_its_activities(sf: Any, conn: Connector) -> None:
    p = _person(sf, lead=True)
    (result,) = conn.erase("Lead", [p["person"]])
    assert result.ok and result.extra["hard_deleted"] is True, result
    assert not _live(sf, "Lead", p["person"])
    assert not _live(sf, "Task", p["task"])
    assert not _live(sf, "Event", p["event"])


def test_more_than_200_ids_go_in_chunks_of_200(sf: Any, conn: Connector) -> None:
    ids: list[str] = []
    for start in range(0, 230, 200):
        records = [
            {
                "attributes": {"type": "Contact"},
                "LastName": f"Bulk erase {n}",
                "Email": f"bulk.erase.{n}@example.org",
            }
            for n in range(start, min(230, start + 200))
        ]
        answer = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": records})
        ids += [r["id"] for r in answer]
    conn.describe("Contact")
    before = conn.api_calls
    results = conn.erase("Contact", ids)
    assert conn.api_calls - before == 4  # two composite deletes, two emptyRecycleBin calls
    assert [r.record_id for r in results] == ids
    assert all(r.ok and r.extra["hard_deleted"] for r in results)
    soql = "SELECT COUNT() FROM Contact WHERE LastName LIKE 'Bulk erase %'"
    assert sf.query(soql)["totalSize"] == 0


def test_a_refused_emptying_is_reported_and_a_resumed_erasure_ends_the_same(
    sandbox: Sandbox, sf: Any, conn: Connector
) -> None:
    p = _person(sf)
    sandbox.controls.grant_modify_all_data(False)
    try:
        # a colleague deleted the contact in the UI: without Modify All Data, it is not ours to empty
        sandbox.controls.delete_as_colleague("Contact", [p["person"]])
        (refused,) = conn.erase("Contact", [p["person"]])
        assert refused.ok
        assert refused.extra["hard_deleted"] is False
        assert refused.extra["code"] == "INSUFFICIENT_ACCESS_OR_READONLY"
        assert p["email"] not in str(refused)  # no value of the record in the result
        assert (_in_query_all(sf, "Contact", p["person"]) or {}).get("IsDeleted") is True
    finally:
        sandbox.controls.grant_modify_all_data(True)
    (emptied,) = conn.erase("Contact", [p["person"]])  # resumed with the permission
    assert emptied.ok and emptied.extra["hard_deleted"] is True
    (again,) = conn.erase("Contact", [p["person"]])  # and again: emptied already
    assert again.ok and again.extra["hard_deleted"] is True
    assert "earlier" in again.extra["note"]
    sandbox.controls.end_recycle_window()
    gone, unknown = conn.erase("Contact", [p["person"], "0038d0000099999AAA"])
    assert gone.ok and gone.extra["hard_deleted"] is True and "not in the org" in gone.extra["note"]
    assert unknown.ok and unknown.extra["hard_deleted"] is True
    (bad,) = conn.erase("Contact", ["not-an-id"])
    assert not bad.ok


def test_lost_replies_are_harmless(sandbox: Sandbox, sf: Any, conn: Connector) -> None:
    people = [_person(sf) for _ in range(3)]
    ids = [p["person"] for p in people]
    results, lost = erase_losing_replies(sandbox, conn, "Contact", ids)
    assert lost == 2  # the composite delete's reply and the emptying's
    assert all(r.ok and r.extra["hard_deleted"] for r in results), results
    assert not any(_live(sf, "Contact", i) for i in ids)
    (back,) = conn.restore("Contact", [{"id": ids[0]}])
    assert not back.ok
