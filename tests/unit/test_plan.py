"""The FixPlan format: built from findings, written as JSONL and CSV, read back, reviewed, filtered."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from crm_ops.errors import ConfigError
from crm_ops.plan import build_plan, read_approvals, read_plan, select_actions, write_plan
from crm_ops.rules.model import FINDINGS_SCHEMA


def _findings(rows: list[dict[str, object]]) -> pl.DataFrame:
    base = dict.fromkeys(FINDINGS_SCHEMA)
    return pl.DataFrame([{**base, **r} for r in rows], schema=FINDINGS_SCHEMA)


FINDINGS = _findings(
    [
        {"rule": "person.email.normalised", "entity": "Contact", "system": "salesforce", "record_id": "c1",
         "field": "email", "current_value": " Ann@Acme.com", "severity": "warning", "message": "spaces",
         "proposed_value": "ann@acme.com", "confidence": 0.99},
        {"rule": "match.drift.email", "entity": "Contact", "system": "salesforce", "record_id": "c1",
         "field": "email", "current_value": " Ann@Acme.com", "severity": "warning", "message": "drift",
         "proposed_value": "ann@acme.org", "confidence": 0.7},
        {"rule": "person.title.placeholder", "entity": "Contact", "system": "hubspot", "record_id": "101",
         "field": "title", "current_value": "=cmd|' /C calc'!A0", "severity": "info", "message": "junk",
         "proposed_value": None, "confidence": 0.9},
        {"rule": "match.duplicate", "entity": "Contact", "system": "salesforce", "record_id": "c2",
         "field": "merge_into", "severity": "warning", "message": "dup", "proposed_value": "c1",
         "confidence": 0.95},
        {"rule": "person.email.required", "entity": "Lead", "system": "salesforce", "record_id": "l1",
         "field": "email", "severity": "error", "message": "no email"},
        {"rule": "person.stale", "entity": "Lead", "system": "salesforce", "record_id": "l2",
         "field": "updated_at", "severity": "info", "message": "stale"},
    ]
)  # fmt: skip


def test_findings_become_actions_one_per_field_best_first() -> None:
    plan = build_plan(FINDINGS, profile="sandbox", snapshots={"salesforce.Contact": "p1"})
    by_kind = {(a.kind, a.record_id): a for a in plan.actions}
    assert set(by_kind) == {("update", "c1"), ("update", "101"), ("merge", "c2"), ("flag", "l1")}
    email = by_kind[("update", "c1")]
    assert (email.proposed_value, email.rule) == ("ann@acme.com", "person.email.normalised")
    assert "also proposed by: match.drift.email" in email.reason
    assert email.seen_value == " Ann@Acme.com"
    assert by_kind[("update", "101")].proposed_value is None  # clearing a junk value
    assert by_kind[("merge", "c2")].proposed_value == "c1"
    again = build_plan(FINDINGS, profile="sandbox")
    assert [a.action_id for a in again.actions] == [a.action_id for a in plan.actions]  # stable ids


def test_orphans_get_associations_and_merged_away_records_nothing_but_their_merge() -> None:
    findings = pl.concat(
        [
            FINDINGS,
            _findings(
                [
                    {"rule": "person.orphan", "entity": "Contact", "system": "hubspot", "record_id": "102",
                     "field": "account_id", "severity": "warning", "message": "no account",
                     "proposed_value": "201", "confidence": 0.9},
                    {"rule": "person.name.casing", "entity": "Contact", "system": "salesforce",
                     "record_id": "c2", "field": "last_name", "current_value": "lee", "severity": "info",
                     "message": "casing", "proposed_value": "Lee", "confidence": 0.9},
                ]
            ),
        ]
    )  # fmt: skip
    by_record = {(a.system, a.record_id): a for a in build_plan(findings, profile="sandbox").actions}
    orphan = by_record[("hubspot", "102")]
    assert (orphan.kind, orphan.field, orphan.proposed_value) == ("associate", "account_id", "201")
    assert (
        by_record[("salesforce", "c2")].kind == "merge"
    )  # the casing fix of a record merged away is dropped
    assert [a.kind for a in build_plan(findings, profile="sandbox").actions if a.record_id == "c2"] == [
        "merge"
    ]


def test_plan_round_trips_and_the_review_file_is_honoured(tmp_path: Path) -> None:
    plan = build_plan(FINDINGS, profile="sandbox", rules={"people.yaml": "abc"})
    jsonl, review = write_plan(plan, tmp_path)
    assert read_plan(jsonl) == plan
    header = json.loads(jsonl.read_text().splitlines()[0])
    assert header["format"] == "crm_ops.fixplan" and header["version"] == 3
    text = review.read_text()
    assert "'=cmd" in text  # a formula-looking value cannot run in a spreadsheet
    # a reviewer approves every row but the first
    rows = list(csv.DictReader(io.StringIO(text)))
    for n, row in enumerate(rows):
        row["approve"] = "no" if n == 0 else "yes"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    review.write_text(buffer.getvalue())
    approvals = read_approvals(review)
    chosen = select_actions(plan, approvals=approvals)
    assert len(chosen) == len(plan.actions) - 1
    assert [a.kind for a in select_actions(plan, severities=["error"])] == ["flag"]
    assert all(a.confidence and a.confidence >= 0.95 for a in select_actions(plan, min_confidence=0.95))
    assert {a.system for a in select_actions(plan, systems=["hubspot"])} == {"hubspot"}


def test_a_damaged_plan_names_its_line(tmp_path: Path) -> None:
    plan = build_plan(FINDINGS, profile="sandbox")
    jsonl, _ = write_plan(plan, tmp_path)
    lines = jsonl.read_text().splitlines()
    lines[2] = lines[2][:20]
    lines.append(json.dumps({"type": "action", **{**json.loads(lines[1]), "kind": "explode"}}))
    jsonl.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as raised:
        read_plan(jsonl)
    text = str(raised.value)
    assert f"{jsonl}:3: column 19: not JSON" in text
    assert f"{jsonl}:{len(lines)}: unknown action kind 'explode'" in text
