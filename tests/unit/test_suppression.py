"""The suppression list (issue 31): erased people, kept as keyed digests, are left out of every pull and
never written back by an apply or undo; the subjects of ``crm-ops erase`` are checked, each bad one named."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from crm_ops.erasure.subjects import subjects_from
from crm_ops.errors import ConfigError
from crm_ops.plan.apply import erased_write
from crm_ops.plan.format import Action
from crm_ops.state import State
from crm_ops.suppression import EMAIL, ID, Suppression, split_emails

SYSTEMS = ("salesforce", "hubspot", "billing")


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State(tmp_path / "state.sqlite")


def _suppressed(state: State) -> Suppression:
    key = Suppression(state.suppression_key())
    state.suppress("e1", {key.email("Ann.Lee@Example.com "): EMAIL, key.record("salesforce", "003A"): ID})
    return Suppression.of(state)


def test_digests_are_keyed_and_name_nobody(state: State, tmp_path: Path) -> None:
    sup = _suppressed(state)
    assert sup.erased_email("ann.lee@example.com") and sup.erased_email("  ANN.LEE@example.COM")
    assert not sup.erased_email("ann.lee@example.org")
    assert sup.erased_record("salesforce", "003A") and not sup.erased_record("hubspot", "003A")
    # another state file's key gives other digests: the list cannot be tested without its key
    other = State(tmp_path / "other.sqlite")
    assert Suppression(other.suppression_key()).email("ann.lee@example.com") != sup.email(
        "ann.lee@example.com"
    )
    raw = (tmp_path / "state.sqlite").read_bytes() + (tmp_path / "state.sqlite-wal").read_bytes()
    assert b"ann.lee" not in raw.lower()
    assert "e1" in sup.when(sup.email("ann.lee@example.com"))


def test_an_empty_list_costs_nothing_and_drops_nothing(state: State) -> None:
    sup = Suppression.of(state)
    frame = pl.DataFrame({"id": ["1"], "email": ["ann.lee@example.com"], "is_deleted": [False]})
    assert not sup and sup.filter_frame("hubspot", frame).frame.equals(frame)
    assert state.suppressed() == {}


def test_pulled_rows_of_erased_people_are_left_out(state: State) -> None:
    sup = _suppressed(state)
    frame = pl.DataFrame(
        {
            "id": ["003A", "003B", "003C", "003D", "003E"],
            "email": [None, "ANN.LEE@example.com", "bo@example.com", "cy@example.com", "ann.lee@example.com"],
            "additional_emails": [None, None, "x@example.com;ann.lee@example.com", None, None],
            "is_deleted": [True, False, False, False, True],
        }
    )
    kept = sup.filter_frame("salesforce", frame)
    assert kept.frame["id"].to_list() == ["003D"]
    assert kept.dropped == 4
    # the erased record itself (a recycle-bin row queryAll still shows) is expected; a live record holding
    # the e-mail under another id was created again: named; a deleted one is not
    assert kept.back == ("003B", "003C")


def _action(**changes: object) -> Action:
    base: dict[str, object] = {
        "kind": "update", "system": "hubspot", "entity": "Contact", "record_id": "51", "field": "email",
        "seen_value": None, "proposed_value": "bo@example.com", "rule": "sync.drift", "severity": "warning",
        "confidence": 1.0, "reason": "",
    }  # fmt: skip
    return Action(**{**base, **changes})  # type: ignore[arg-type]


def test_no_write_brings_an_erased_person_back(state: State) -> None:
    sup = _suppressed(state)
    assert erased_write(sup, _action()) is None
    # a drift sync copying the erased e-mail to the other CRM
    why = erased_write(sup, _action(proposed_value="Ann.Lee@example.com"))
    assert why is not None and "ann.lee" not in why.lower() and "erased" in why
    # an undone merge re-creating the record from its journaled JSON
    record = '{"id": "77", "email": "ann.lee@example.com", "first_name": "Ann"}'
    assert erased_write(sup, _action(kind="unmerge", record_id="77", seen_value="78", proposed_value=record))
    # the erased record itself, on whichever CRM the action names it, or as a merge's survivor
    assert erased_write(sup, _action(system="salesforce", record_id="003A"))
    assert erased_write(
        sup, _action(kind="merge", system="salesforce", record_id="003Z", proposed_value="003A")
    )
    assert erased_write(sup, _action(kind="merge", detail={"values": {"email": "ann.lee@example.com"}}))


def test_subjects_are_checked_and_every_bad_one_named(tmp_path: Path) -> None:
    file = tmp_path / "requests.csv"
    file.write_text(
        "email,system,id,reference\n"
        "ann.lee@example.com,,,T-1\n"
        ",salesforce,003A,T-2\n"
        "not-an-email,,,T-3\n"
        ",crm,9,T-4\n"
        ",,,T-5\n"
    )
    with pytest.raises(ConfigError) as raised:
        subjects_from(["bo@example.com", "bad"], ["hubspot:51", "51"], file, systems=SYSTEMS)
    problems = raised.value.problems
    assert any(p.startswith("--email #2") for p in problems)
    assert any(p.startswith("--id #2") for p in problems)
    assert any(":4: email: not an e-mail" in p for p in problems)
    assert any(":5: system, id: no system or source 'crm'" in p for p in problems)
    assert any(":6: neither" in p for p in problems)
    assert len(problems) == 5
    file.write_text("email,system,id,reference\nAnn.Lee@Example.com,,,T-1\n,salesforce,003A,T-2\n")
    subjects = subjects_from([], [], file, systems=SYSTEMS, reference="default")
    assert [(s.email, s.system, s.record_id, s.reference) for s in subjects] == [
        ("ann.lee@example.com", None, None, "T-1"),
        (None, "salesforce", "003A", "T-2"),
    ]
    (tmp_path / "wrong.csv").write_text("mail\nann@example.com\n")
    with pytest.raises(ConfigError, match=r"wrong.csv:1: the header must name email"):
        subjects_from([], [], tmp_path / "wrong.csv", systems=SYSTEMS)
    with pytest.raises(ConfigError, match="name whom to erase"):
        subjects_from([], [], None, systems=SYSTEMS)


def test_a_cell_of_several_e_mails_is_split_as_people_write_them() -> None:
    # HubSpot's hs_additional_emails is ';'-separated; sources and people also use ',' and spaces
    cell = " A@x.com;b@Y.com, c@z.com  d@w.com;;"
    assert split_emails(cell) == ["a@x.com", "b@y.com", "c@z.com", "d@w.com"]
    assert split_emails(None) == [] and split_emails(" ; ") == []
