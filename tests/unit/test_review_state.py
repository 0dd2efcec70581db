"""The plan's review state as the review app saves it (issue 29): decisions written into plan.csv under
the review file's contract (so ``apply --review plan.csv`` and a spreadsheet read them), with who and
when; a change made on a stale version refused (409 in the app) unless the rows it touches are as the
reviewer saw them; picks held to the merge's cluster; and applying follows the picks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crm_ops import csvio
from crm_ops.errors import ConfigError
from crm_ops.plan import write_plan
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.plan.picks import PICKED, checked_picks, with_picks
from crm_ops.plan.reviewfile import read_review_file
from crm_ops.plan.reviewstate import REVIEW_COLUMNS, Change, ReviewState, StaleReviewError
from crm_ops.rules.loader import load_rules
from crm_ops.rules.model import example_frame

NOW = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def _plan() -> Plan:
    def update(record: str, seen: str, proposed: str) -> Action:
        rule = "person.email.normalised"
        return Action("update", "salesforce", "Contact", record, "email", seen, proposed, rule,
                      "warning", 0.99, "trim", approved=True).with_id()  # fmt: skip

    detail = {"values": [{"field": "phone", "value": "+1 206", "rule": "most_recent", "from": ["003B"],
                          "before": None}]}  # fmt: skip
    merges = [
        Action("merge", "salesforce", "Contact", dup, "merge_into", "2026-01-01T00:00:00.000Z", "003A",
               "match.duplicate", "info", 0.97, "same person", approved=False, detail=detail).with_id()
        for dup in ("003B", "003C")
    ]  # fmt: skip
    actions = (update("003D", " d@x.com", "d@x.com"), update("003E", "E@x.com", "e@x.com"), *merges)
    return Plan(Header("20261207T140000-abcdef", "2026-12-07T14:00:00Z", "sandbox", version=3), actions)


def _state(tmp_path: Path) -> tuple[Plan, ReviewState]:
    plan = _plan()
    write_plan(plan, tmp_path)
    return plan, ReviewState(tmp_path, plan)


def test_decisions_are_saved_into_plan_csv_and_read_back_by_apply_s_contract(tmp_path: Path) -> None:
    plan, state = _state(tmp_path)
    first, second, merge, _ = plan.actions
    # a plan.csv from before the review app: no picks, reviewed_by, reviewed_at columns
    table = csvio.read_file(tmp_path / "plan.csv")
    header = tuple(c for c in table.header if c not in REVIEW_COLUMNS)
    assert header != table.header
    csvio.write_file(tmp_path / "plan.csv", header, [[r.get(c) for c in header] for r in table])
    held = state.read()
    held = state.change(
        {first.action_id: Change(approve="no"), merge.action_id: Change(approve="yes")},
        reviewer="Ann",
        etag=held.etag,
        now=NOW,
    )
    held = state.change(
        {second.action_id: Change(proposed_value="=e@x.com")}, reviewer="Bo", etag=held.etag, now=NOW
    )
    # what the state holds after its own writes is what the file reads back as
    fresh = ReviewState(tmp_path, plan).read()
    assert (held.etag, held.rows, held.header, held.answers, held.picks, held.reviewers, held.versions) == (
        fresh.etag,
        fresh.rows,
        fresh.header,
        fresh.answers,
        fresh.picks,
        fresh.reviewers,
        fresh.versions,
    )
    # so a row nobody touched is not stale to this process for what another process read
    untouched = plan.actions[3].action_id
    assert held.row_version(untouched) == fresh.row_version(untouched) != ""
    review = read_review_file(tmp_path / "plan.csv", plan)
    assert review.answers[first.action_id] == "no" and review.answers[merge.action_id] == "yes"
    assert review.reviewers[first.action_id] == ("Ann", "2026-12-07T14:00:00+00:00")
    assert review.reviewers[second.action_id][0] == "Bo"
    assert first.action_id not in review.picks
    # a formula-like value is neutralised for spreadsheets, and read back as typed
    cell = next(r for r in csvio.read_file(tmp_path / "plan.csv") if r.get("action_id") == second.action_id)
    assert cell.get("proposed_value") == "'=e@x.com"


def test_a_change_on_a_stale_version_is_refused_unless_its_rows_are_as_seen(tmp_path: Path) -> None:
    plan, state = _state(tmp_path)
    first, second, _, _ = plan.actions
    seen = state.read()
    state.change({first.action_id: Change(approve="no")}, reviewer="Ann", etag=seen.etag, now=NOW)
    # the other reviewer's page is older: a whole-state write is refused, naming who saved last
    with pytest.raises(StaleReviewError, match="last saved by Ann at 2026-12-07T14:00:00"):
        state.change({second.action_id: Change(approve="no")}, reviewer="Bo", etag=seen.etag)
    # the same row Ann changed, as Bo saw it before: refused, nothing of Ann's overwritten
    versions = {first.action_id: seen.row_version(first.action_id)}
    with pytest.raises(StaleReviewError, match="1 of the rows you changed among them"):
        state.change({first.action_id: Change(approve="yes")}, reviewer="Bo", etag=seen.etag, seen=versions)
    assert read_review_file(tmp_path / "plan.csv", plan).answers[first.action_id] == "no"
    # another row, as Bo saw it: saved beside Ann's
    versions = {second.action_id: seen.row_version(second.action_id)}
    state.change({second.action_id: Change(approve="no")}, reviewer="Bo", etag=seen.etag, seen=versions)
    answers = read_review_file(tmp_path / "plan.csv", plan).answers
    assert answers[first.action_id] == "no" and answers[second.action_id] == "no"


def test_changes_the_contract_refuses_are_refused_naming_the_action(tmp_path: Path) -> None:
    plan, state = _state(tmp_path)
    first, _, merge, _ = plan.actions
    etag = state.read().etag
    with pytest.raises(ConfigError) as raised:
        state.change(
            {
                first.action_id: Change(approve="maybe", picks={"phone": {"from": "003B"}}),
                merge.action_id: Change(proposed_value="x", picks={"phone": {"from": "003Z"}}),
            },
            reviewer="Ann",
            etag=etag,
        )
    assert raised.value.problems == [
        f"action {first.action_id}: 'maybe' is not yes (or y, true, 1, x), no (or n, false, 0), "
        "not_duplicate (or reject: a merge or conversion rejected) or blank (undecided)",
        f"action {first.action_id}: only a merge's or conversion's row takes picks, not a update row",
        f"action {merge.action_id}: a merge's proposed value cannot be edited",
        f"action {merge.action_id}: pick of 'phone': '003Z' is not a record of this cluster "
        "(003A, 003B, 003C)",
    ]
    with pytest.raises(ConfigError, match="reviewer's name"):
        state.change({first.action_id: Change(approve="yes")}, reviewer=" ", etag=etag)
    assert state.read().etag == etag  # nothing written


def test_picks_in_the_review_file_are_held_to_the_cluster_and_applied(tmp_path: Path) -> None:
    plan, state = _state(tmp_path)
    _, _, merge, other = plan.actions
    picks = {
        "email": {"from": "003C", "value": "c@x.com", "before": "a@x.com"},
        "phone": {"from": "003A", "value": None, "before": None},
    }
    state.change({merge.action_id: Change(picks=picks)}, reviewer="Ann", etag=state.read().etag)
    review = read_review_file(tmp_path / "plan.csv", plan)
    assert review.picks == {merge.action_id: picks}
    (picked, untouched) = with_picks([merge, other], review.picks)
    assert untouched is other
    # the survivor's own phone kept (the planned value dropped), the e-mail taken from 003C
    assert picked.detail == {
        "values": [
            {"field": "email", "value": "c@x.com", "rule": PICKED, "from": ["003C"], "before": "a@x.com"}
        ]
    }
    assert merge.detail is not None and merge.detail["values"][0]["field"] == "phone"  # not changed in place
    # a pick edited in a spreadsheet to a record outside the cluster is refused, naming line and column
    table = csvio.read_file(tmp_path / "plan.csv")
    rows = [[r.get(c) for c in table.header] for r in table]
    at = next(i for i, r in enumerate(table) if r.get("action_id") == merge.action_id)
    rows[at][table.header.index("picks")] = json.dumps({"email": {"from": "003Z"}})
    csvio.write_file(tmp_path / "plan.csv", table.header, rows)
    with pytest.raises(ConfigError) as raised:
        read_review_file(tmp_path / "plan.csv", plan)
    column = table.header.index("picks") + 1
    assert raised.value.problems == [
        f"{tmp_path / 'plan.csv'}:{at + 2}: column {column} (picks): pick of 'email': '003Z' is not a record "
        "of this cluster (003A, 003B, 003C)"
    ]


def test_a_pick_of_a_field_the_crm_keeps_or_the_entity_lacks_is_refused_in_the_file(tmp_path: Path) -> None:
    plan, state = _state(tmp_path)
    merge = plan.actions[2]
    state.read()
    table = csvio.read_file(tmp_path / "plan.csv")
    rows = [[r.get(c) for c in table.header] for r in table]
    at = next(i for i, r in enumerate(table) if r.get("action_id") == merge.action_id)
    picked = {"id": {"from": "003B", "value": "003B"}, "no_such_field": {"from": "003B", "value": "x"}}
    rows[at][table.header.index("picks")] = json.dumps(picked)
    csvio.write_file(tmp_path / "plan.csv", table.header, rows)
    with pytest.raises(ConfigError) as raised:
        read_review_file(tmp_path / "plan.csv", plan)
    where = f"{tmp_path / 'plan.csv'}:{at + 2}: column {table.header.index('picks') + 1} (picks)"
    assert raised.value.problems == [
        f"{where}: pick of 'id': the CRM keeps id itself; it cannot be picked",
        f"{where}: pick of 'no_such_field': Contact has no field 'no_such_field'",
    ]
    # the app's saves are held to the same contract
    (tmp_path / "app").mkdir()
    _, saving = _state(tmp_path / "app")
    with pytest.raises(ConfigError, match="the CRM keeps linked_id itself"):
        saving.change(
            {merge.action_id: Change(picks={"linked_id": {"from": "003B", "value": "x"}})},
            reviewer="Ann",
            etag=saving.read().etag,
        )


def test_at_apply_a_pick_is_the_source_record_s_value_and_passes_the_field_s_rules() -> None:
    plan = _plan()
    merge = plan.actions[2]
    frame = example_frame(
        "Contact",
        [
            {"id": "003A", "email": "a@x.com"},
            {"id": "003B", "email": "ANN @ acme"},
            {"id": "003C", "email": "c@x.com"},
        ],
        "salesforce",
    )
    frames = {"salesforce": {"Contact": frame}}
    rules = load_rules([], shipped=True)[0]
    place = {merge.action_id: "plan.csv:4: column 14 (picks)"}

    def check(pick: dict[str, object]) -> tuple[dict[str, dict[str, object]], list[str]]:
        return checked_picks(plan, {merge.action_id: {"email": pick}}, place, rules, frames, {})

    # a value typed into the cell is not what 003C holds: refused, nothing taken from the cell
    kept, refused = check({"from": "003C", "value": "evil@outside", "before": "a@x.com"})
    assert refused == [
        f"{place[merge.action_id]}: pick of 'email' from 003C: the record holds 'c@x.com', not "
        "'evil@outside' (changed since it was picked, or the cell was edited); pick again"
    ]
    kept, refused = check({"from": "003C", "value": "c@x.com", "before": "a@x.com"})
    assert refused == [] and kept[merge.action_id]["email"]["value"] == "c@x.com"
    # the record's own value, picked, is judged as an edit of the survivor's e-mail would be
    _, refused = check({"from": "003B", "value": "ANN @ acme", "before": "a@x.com"})
    assert refused and all(
        p.startswith(f"{place[merge.action_id]}: pick of 'email' from 003B") for p in refused
    )
    assert any("fails rule person.email." in p for p in refused), refused
