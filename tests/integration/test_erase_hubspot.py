"""Erasure on HubSpot (issue 31), end to end through hubspot-api-client: a contact GDPR-deleted by id or
by e-mail is served by no read path again (read, batch read, list and archived list, search,
associations), its values are gone from the portal's store, and its addresses are blocklisted (a create,
batch create, update or secondary address with one is refused); an address no contact holds is
blocklisted too. Other object types are archived and reported not hard-deleted; a contact archived before
is reported as such; a resumed erasure and lost replies end the same. Each test makes its own records."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import ApiException

from crm_ops.connectors.hserase import email_key
from crm_ops.connectors.hubspot import HubSpotConnector
from crm_ops.pull import connect
from crm_ops.sandbox.server import Sandbox
from tests.erasing import QUICK, erase_losing_replies, hubspot_session, hubspot_url, own_sandbox
from tests.pulling import profile_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """This module's own sandbox (``tests.erasing.own_sandbox``)."""
    yield from own_sandbox()


_names = itertools.count()


@pytest.fixture
def conn(sandbox: Sandbox, tmp_path: Path) -> HubSpotConnector:
    connector = connect(profile_for(sandbox, tmp_path, hubspot=QUICK), "hubspot")
    assert isinstance(connector, HubSpotConnector)
    return connector


def _contact(hs: HubSpot, sandbox: Sandbox) -> dict[str, str]:
    """A contact of our own with an e-mail, a secondary address and a company: their ids and addresses."""
    n = next(_names)
    email, other = f"gdpr.erase.{n}@example.org", f"gdpr.erase.{n}.home@example.net"
    props = {"email": email, "firstname": "Grace", "lastname": f"Erasable{n}"}
    contact = hs.crm.contacts.basic_api.create(simple_public_object_input_for_create={"properties": props}).id
    company = hs.crm.companies.basic_api.create(
        simple_public_object_input_for_create={"properties": {"name": f"Erasable Works {n}"}}
    ).id
    hs.crm.associations.v4.batch_api.create_default(
        "contacts",
        "companies",
        batch_input_public_default_association_multi_post={
            "inputs": [{"from": {"id": contact}, "to": {"id": company}}]
        },
    )
    answer = hubspot_session(sandbox).put(
        hubspot_url(sandbox, f"/contacts/v1/secondary-email/{contact}/email/{other}")
    )
    answer.raise_for_status()
    return {"id": contact, "email": email, "other": other, "company": company}


def _status(call: Any) -> int:
    """The HTTP status a client call answers (each API module of the client has its own exceptions)."""
    try:
        call()
    except ApiException as exc:
        return int(exc.status)
    except Exception as exc:  # another module's ApiException
        if not hasattr(exc, "status"):
            raise
        return int(exc.status)
    return 200


def _served_nowhere(hs: HubSpot, sandbox: Sandbox, p: dict[str, str]) -> None:
    """No read path of the API serves the contact, and the store holds nothing of it but its id."""
    api = hs.crm.contacts
    assert _status(lambda: api.basic_api.get_by_id(p["id"])) == 404
    assert _status(lambda: api.basic_api.get_by_id(p["id"], archived=True)) == 404
    assert _status(lambda: api.basic_api.get_by_id(p["email"], id_property="email")) == 404
    batch = api.batch_api.read(
        batch_read_input_simple_public_object_id={"inputs": [{"id": p["id"]}], "properties": []}
    )
    assert not batch.results
    session = hubspot_session(sandbox)
    for archived in ("false", "true"):
        after = str(int(p["id"]) - 1)
        page = session.get(
            hubspot_url(sandbox, "/crm/v3/objects/contacts"),
            params={"after": after, "limit": 5, "archived": archived},
        ).json()
        assert p["id"] not in [r["id"] for r in page["results"]], archived
    search = {
        "filterGroups": [{"filters": [{"propertyName": "email", "operator": "EQ", "value": p["email"]}]}]
    }
    assert api.search_api.do_search(public_object_search_request=search).total == 0
    links = session.get(
        hubspot_url(sandbox, f"/crm/v4/objects/companies/{p['company']}/associations/contacts")
    ).json()
    assert p["id"] not in [str(r["toObjectId"]) for r in links["results"]]
    live = api.basic_api.create(simple_public_object_input_for_create={"properties": {"lastname": "Live"}}).id
    merge = {"primaryObjectId": live, "objectIdToMerge": p["id"]}  # nothing left to merge
    merged = session.post(hubspot_url(sandbox, "/crm/v3/objects/contacts/merge"), json=merge)
    assert merged.status_code == 400
    table = sandbox.hubspot.objects["contacts"]
    row = int(p["id"]) - sandbox.hubspot.types["contacts"].id_base
    stored = table.frame().row(row, named=True)
    assert {k for k, v in stored.items() if v is not None} == {"id", "archived"}
    for column in ("email", "hs_additional_emails", "lastname"):
        values = table.frame()[column].cast(str).to_list() if column in table.schema else []
        assert not any(p["email"] in (v or "") or p["other"] in (v or "") for v in values), column


def _refused_everywhere(hs: HubSpot, sandbox: Sandbox, address: str) -> None:
    """A blocklisted address: no create, batch create, update or secondary address takes it."""
    api = hs.crm.contacts
    new = {"properties": {"email": address, "lastname": "Back again"}}
    assert _status(lambda: api.basic_api.create(simple_public_object_input_for_create=new)) == 400
    assert (
        _status(
            lambda: api.batch_api.create(
                batch_input_simple_public_object_batch_input_for_create={"inputs": [new]}
            )
        )
        == 400
    )
    someone = api.basic_api.create(
        simple_public_object_input_for_create={"properties": {"email": f"someone.{next(_names)}@example.org"}}
    ).id
    update = {"properties": {"email": address}}
    assert _status(lambda: api.basic_api.update(someone, simple_public_object_input=update)) == 400
    answer = hubspot_session(sandbox).put(
        hubspot_url(sandbox, f"/contacts/v1/secondary-email/{someone}/email/{address}")
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR" and address not in body["message"]


def test_gdpr_delete_by_id_leaves_no_trace_and_blocklists_the_addresses(
    sandbox: Sandbox, hs: HubSpot, conn: HubSpotConnector
) -> None:
    p = _contact(hs, sandbox)
    (result,) = conn.erase("Contact", [p["id"]])
    assert result.ok, result.error
    assert result.extra["hard_deleted"] is True
    _served_nowhere(hs, sandbox, p)
    _refused_everywhere(hs, sandbox, p["email"])
    _refused_everywhere(hs, sandbox, p["other"].upper())  # the secondary address too, in any case
    # the company stays
    assert hs.crm.companies.basic_api.get_by_id(p["company"]).id == p["company"]


def test_gdpr_delete_by_email_and_an_address_no_contact_holds(
    sandbox: Sandbox, hs: HubSpot, conn: HubSpotConnector
) -> None:
    p = _contact(hs, sandbox)
    result = conn.gdpr_delete_email(p["email"])
    assert result.ok and result.extra["hard_deleted"] is True
    assert result.record_id == email_key(p["email"]) and p["email"] not in str(result)
    _served_nowhere(hs, sandbox, p)
    stranger = f"never.here.{next(_names)}@example.org"
    assert conn.gdpr_delete_email(stranger).ok
    _refused_everywhere(hs, sandbox, stranger)


def test_a_resumed_erasure_and_lost_replies_end_the_same(
    sandbox: Sandbox, hs: HubSpot, conn: HubSpotConnector
) -> None:
    people = [_contact(hs, sandbox) for _ in range(3)]
    ids = [p["id"] for p in people]
    results, lost = erase_losing_replies(sandbox, conn, "Contact", ids)
    assert lost == 2
    assert all(r.ok and r.extra["hard_deleted"] for r in results), results
    again = conn.erase("Contact", ids)  # resumed: gone already
    assert all(r.ok and r.extra["hard_deleted"] and "not found" in r.extra["note"] for r in again)
    for p in people:
        _served_nowhere(hs, sandbox, p)


def test_an_archived_contact_and_other_types_are_reported_not_hard_deleted(
    sandbox: Sandbox, hs: HubSpot, conn: HubSpotConnector
) -> None:
    p = _contact(hs, sandbox)
    hs.crm.contacts.basic_api.archive(p["id"])  # deleted the ordinary way before: restorable
    (archived,) = conn.erase("Contact", [p["id"]])
    assert archived.ok and archived.extra["hard_deleted"] is False
    assert "recycle bin" in archived.extra["note"]
    (company,) = conn.erase("Account", [p["company"]])
    assert company.ok and company.extra["hard_deleted"] is False
    assert "contacts only" in company.extra["note"]
    assert _status(lambda: hs.crm.companies.basic_api.get_by_id(p["company"])) == 404
    (bad,) = conn.erase("Contact", ["not-an-id"])
    assert not bad.ok
