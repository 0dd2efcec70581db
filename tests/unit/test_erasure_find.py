"""Finding a person's records for an erasure (issue 31): by e-mail, secondary e-mail and id, through the
cross-CRM links and the merges the journal kept; a colleague (Owner) and an account's cross-CRM id are
never taken for the person; a record naming them elsewhere is a mention."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from crm_ops.erasure.find import find_people
from crm_ops.erasure.subjects import Subject
from crm_ops.layered import Snapshot
from crm_ops.schema.entities import empty
from crm_ops.state import State

SYSTEMS = ("salesforce", "hubspot", "product")


def _snapshot(state: State, root: Path, system: str, entity: str, rows: list[dict[str, object]]) -> None:
    frame = pl.concat([empty(entity), pl.DataFrame(rows)], how="diagonal_relaxed")
    path = root / "snapshots" / system / entity / "p1.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    job = state.start_pull(system, entity, "full", None, datetime.now(UTC))
    state.finish_pull(job, Snapshot(path), frame.height, None)


@pytest.fixture
def state(tmp_path: Path) -> State:
    state = State(tmp_path / "state.sqlite")
    _snapshot(state, tmp_path, "salesforce", "Contact", [
        {"id": "003A", "email": "Ann.Lee@Example.com ", "first_name": "Ann", "last_name": "Leeson",
         "linked_id": "51"},
        {"id": "003B", "email": "bo@example.com", "first_name": "Bo", "last_name": "Brown"},
        {"id": "003M", "email": "other@example.com", "first_name": "Ann", "last_name": "Leeson-Smith"},
    ])  # fmt: skip
    _snapshot(state, tmp_path, "salesforce", "Account", [
        {"id": "001A", "name": "Acme", "linked_id": "51"},  # a HubSpot company 51: not the person
    ])  # fmt: skip
    _snapshot(state, tmp_path, "salesforce", "Lead", [
        {"id": "00QA", "email": "ann@home.example", "converted_contact_id": "003A", "first_name": "Ann",
         "last_name": "Leeson"},
    ])  # fmt: skip
    _snapshot(state, tmp_path, "salesforce", "Opportunity", [
        {"id": "006A", "name": "Ann Leeson - renewal", "account_id": "001A"},
    ])  # fmt: skip
    _snapshot(state, tmp_path, "salesforce", "Owner", [
        {"id": "005A", "email": "ann.lee@example.com", "first_name": "Ann", "last_name": "Lee"},
    ])  # fmt: skip
    _snapshot(state, tmp_path, "hubspot", "Contact", [
        {"id": "51", "email": "ann.lee@example.com", "additional_emails": "ann.work@example.com"},
        {"id": "52", "email": "x@example.com",
         "additional_emails": "a@example.com, b@example.com ANN@HOME.EXAMPLE"},
        {"id": "53", "email": "cy@example.com"},
    ])  # fmt: skip
    _snapshot(state, tmp_path, "product", "ProductUser", [
        {"id": "u1", "email": "ann.work@example.com"},
        {"id": "u2", "email": "gone@example.com"},
    ])  # fmt: skip
    # a merge applied earlier: 003G (merged away, in no snapshot now) into 003A, its record journaled
    record = {
        "record": {"id": "003G", "email": "gone@example.com", "first_name": "Ann", "last_name": "Leeson"}
    }
    state.record_actions("p1", [
        {"action_id": "m1", "system": "salesforce", "entity": "Contact", "record_id": "003G",
         "field": "merge_into", "before": json.dumps(record), "after": "003A", "status": "done"},
    ])  # fmt: skip
    return state


def test_a_person_is_found_everywhere_and_only_there(state: State) -> None:
    (person,) = find_people(state, [Subject(email="ann.lee@example.com", where="--email #1")], SYSTEMS)
    found = {(r.system, r.entity, r.record_id): (r.how, r.deletable, r.source) for r in person.records}
    assert found == {
        ("salesforce", "Contact", "003A"): ("e-mail", True, False),
        ("hubspot", "Contact", "51"): ("e-mail", True, False),
        ("salesforce", "Contact", "003G"): ("merged away", True, False),  # gone from every snapshot
        ("salesforce", "Lead", "00QA"): ("linked twin", True, False),  # converted into 003A
        ("hubspot", "Contact", "52"): ("e-mail", True, False),  # the lead's e-mail, as a secondary one
        ("product", "ProductUser", "u1"): ("e-mail", False, True),  # HubSpot's secondary e-mail
        ("product", "ProductUser", "u2"): ("e-mail", False, True),  # the merged-away record's e-mail
    }
    # never the colleague with the same e-mail, nor the account HubSpot's company 51 is linked to
    assert person.emails >= {
        "ann.lee@example.com",
        "ann.work@example.com",
        "ann@home.example",
        "gone@example.com",
    }
    assert person.names == {"Ann Leeson"}
    mentions = {(m.system, m.entity, m.record_id, m.how) for m in person.mentions}
    # a deal named after them; the colleague's row holds their e-mail: both copies of ours are redacted,
    # neither is deleted; a longer name that only starts alike (Leeson-Smith) is not them
    assert mentions == {
        ("salesforce", "Opportunity", "006A", "mention (name)"),
        ("salesforce", "Owner", "005A", "mention (email)"),
    }


def test_an_id_finds_the_person_and_nothing_found_is_said(state: State) -> None:
    by_id, nobody = find_people(
        state,
        [Subject(system="hubspot", record_id="53", where="--id #1"), Subject(email="no@example.com")],
        SYSTEMS,
    )
    assert [(r.system, r.record_id, r.how) for r in by_id.records] == [("hubspot", "53", "id")]
    assert by_id.emails == {"cy@example.com"}
    assert not nobody.found and not nobody.records
