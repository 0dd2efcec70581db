"""Reviewing a plan: default approvals by risk, labels and links on every row, version 1 plans, plan show."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest

from crm_ops.config import ReviewSettings, load_profile
from crm_ops.errors import ConfigError
from crm_ops.plan import build_plan, read_plan, select_actions, write_plan
from crm_ops.plan.context import Addresses, Context
from crm_ops.plan.format import Plan
from crm_ops.plan.review import Review, auto_apply, default_approvals
from crm_ops.plan.show import render, safe, summarise
from crm_ops.rules.loader import load_rules
from crm_ops.rules.model import FINDINGS_SCHEMA
from crm_ops.schema.entities import ENTITIES

SHIPPED, _ = load_rules([], shipped=True)
INSTANCE = "https://acme.my.salesforce.com"
ADDRESSES = Addresses(INSTANCE, 4242)


def _findings(rows: list[dict[str, object]]) -> pl.DataFrame:
    base = dict.fromkeys(FINDINGS_SCHEMA)
    return pl.DataFrame([{**base, **r} for r in rows], schema=FINDINGS_SCHEMA)


def _frame(entity: str, rows: list[dict[str, object]]) -> pl.DataFrame:
    schema = ENTITIES[entity]
    return pl.DataFrame([{**dict.fromkeys(schema), "is_deleted": False, **r} for r in rows], schema=schema)


FRAMES = {
    "salesforce": {
        "Account": _frame("Account", [{"id": "001A", "name": "Acme", "domain": "acme.com"}]),
        "Contact": _frame(
            "Contact",
            [
                {"id": "003A", "first_name": "Ann", "last_name": "Lee", "email": " Ann@Acme.com",
                 "account_id": "001A"},
                {"id": "003B", "first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com",
                 "account_id": "001A"},
                {"id": "003C", "first_name": "=HYPERLINK(1)", "last_name": "Bo", "email": "bo@acme.com"},
            ],
        ),
        "Opportunity": _frame("Opportunity", [{"id": "006A", "name": "Acme renewal", "amount": 12500.0,
                                                "account_id": "001A"}]),
    },
    "hubspot": {
        "Account": _frame("Account", [{"id": "201", "name": "Acme", "website": "https://acme.com"}]),
        "Contact": _frame("Contact", [{"id": "101", "first_name": "Ann", "last_name": "Lee",
                                        "email": "ann@acme.org"},
                                       {"id": "102", "first_name": "Cy", "last_name": "Ng", "email": None}]),
    },
}  # fmt: skip
LINKS = pl.DataFrame(
    {"entity": ["Contact"], "sf_entity": ["Contact"], "sf_id": ["003A"], "hs_id": ["101"]},
)

FINDINGS = _findings(
    [
        {"rule": "person.email.normalised", "entity": "Contact", "system": "salesforce", "record_id": "003A",
         "field": "email", "current_value": " Ann@Acme.com", "severity": "warning", "message": "spaces",
         "proposed_value": "ann@acme.com", "confidence": 0.99},
        {"rule": "match.drift.email", "entity": "Contact", "system": "hubspot", "record_id": "101",
         "field": "email", "current_value": "ann@acme.org", "severity": "warning", "message": "drift",
         "proposed_value": "ann@acme.com", "confidence": 0.7},
        {"rule": "person.last_name.format", "entity": "Contact", "system": "salesforce", "record_id": "003C",
         "field": "last_name", "current_value": "Bo", "severity": "info", "message": "casing",
         "proposed_value": "BO", "confidence": 0.6},
        {"rule": "person.title.placeholder", "entity": "Contact", "system": "hubspot", "record_id": "102",
         "field": "title", "current_value": "n/a", "severity": "info", "message": "junk",
         "proposed_value": None, "confidence": 0.99},
        {"rule": "match.duplicate", "entity": "Contact", "system": "salesforce", "record_id": "003B",
         "field": "merge_into", "current_value": "2024-05-01T10:00:00.000Z", "severity": "warning",
         "message": "dup", "proposed_value": "003A", "confidence": 0.97},
        {"rule": "person.orphan", "entity": "Contact", "system": "hubspot", "record_id": "102",
         "field": "account_id", "severity": "warning", "message": "no account", "proposed_value": "201",
         "confidence": 0.99},
        {"rule": "opportunity.amount.negative", "entity": "Opportunity", "system": "salesforce",
         "record_id": "006A", "field": "amount", "current_value": "12500", "severity": "error",
         "message": "odd", "proposed_value": None, "confidence": None},
    ]
)  # fmt: skip


def _plan(settings: ReviewSettings | None = None) -> Plan:
    return build_plan(
        FINDINGS,
        profile="sandbox",
        context=Context(FRAMES, LINKS, ADDRESSES),
        review=Review.for_rules(SHIPPED, settings),
    )


def test_only_safe_confident_updates_start_approved_and_every_other_row_says_why() -> None:
    plan = _plan()
    by_rule = {a.rule: a for a in plan.actions}
    assert by_rule["person.email.normalised"].approved is True  # tagged format, 0.99
    assert by_rule["person.email.normalised"].review_reason == ""
    expected = {
        "match.drift.email": "drift sync overwrites the other CRM",
        "person.last_name.format": "confidence 0.60 < 0.95",
        "person.title.placeholder": "rule not marked safe",  # tagged junk, not format
        "match.duplicate": "merge: a person decides",
        "person.orphan": "association: links the record to another a rule guessed",
        "opportunity.amount.negative": "flag: for a person, nothing is written",
    }
    for rule, why in expected.items():
        assert (by_rule[rule].approved, by_rule[rule].review_reason) == (False, why), rule
    assert plan.header.review == {"approve": ["tag:format"], "min_confidence": 0.95}


def test_a_profile_marks_more_rules_safe_by_id_or_tag_and_tags_never_approve_merges_or_links() -> None:
    settings = ReviewSettings(("tag:junk", "tag:orphan", "tag:format", "match.drift.email"), 0.5)
    by_rule = {a.rule: a for a in _plan(settings).actions}
    assert by_rule["person.title.placeholder"].approved  # by its tag
    assert by_rule["person.last_name.format"].approved  # 0.6 is over a bar of 0.5
    assert by_rule["match.drift.email"].approved  # named by id
    assert not by_rule["person.orphan"].approved  # a tag does not approve an association
    merge = {a.rule: a for a in _plan(ReviewSettings(("match.duplicate",), 0.95)).actions}
    assert merge["match.duplicate"].approved  # a merge needs its rule by name


def test_every_row_carries_labels_and_links_of_the_right_shape(tmp_path: Path) -> None:
    plan = _plan()
    _, review = write_plan(plan, tmp_path)
    with review.open() as handle:
        rows = {(r["system"], r["rule"]): r for r in csv.DictReader(handle)}
    email = rows[("salesforce", "person.email.normalised")]
    assert email["approve"] == "yes" and email["review_reason"] == ""
    assert email["label"] == "Ann Lee <Ann@Acme.com>" and email["account"] == "Acme"
    assert email["url"] == f"{INSTANCE}/lightning/r/Contact/003A/view"
    merge = rows[("salesforce", "match.duplicate")]
    # a merge starts undecided (blank): yes merges, no is remembered as "not a duplicate"
    assert merge["approve"] == "" and merge["review_reason"] == "merge: a person decides"
    assert (merge["seen_value"], merge["proposed_value"]) == (
        "Ann Lee <ann@acme.com>",
        "Ann Lee <Ann@Acme.com>",
    )
    assert merge["other_id"] == "003A" and merge["other_url"].endswith("/lightning/r/Contact/003A/view")
    drift = rows[("hubspot", "match.drift.email")]
    assert drift["url"] == "https://app.hubspot.com/contacts/4242/record/0-1/101"
    assert drift["other_id"] == "003A" and drift["other_url"] == f"{INSTANCE}/lightning/r/Contact/003A/view"
    link = rows[("hubspot", "person.orphan")]
    assert link["other_label"] == "Acme (https://acme.com)"
    assert link["other_url"] == "https://app.hubspot.com/contacts/4242/record/0-2/201"
    flag = rows[("salesforce", "opportunity.amount.negative")]
    assert flag["label"] == "Acme renewal (12,500)" and flag["account"] == "Acme"
    assert flag["url"] == f"{INSTANCE}/lightning/r/Opportunity/006A/view"
    for row in rows.values():
        assert row["label"] and row["url"].startswith(
            ("https://acme.my.salesforce.com/", "https://app.hubspot")
        )
    assert "'=HYPERLINK" in review.read_text()  # a CRM value in a label cannot run in a spreadsheet
    assert '"=HYPERLINK' not in review.read_text()
    assert read_plan(tmp_path / "plan.jsonl") == plan


def test_a_version_1_plan_still_reads_and_its_defaults_are_decided_when_applied(tmp_path: Path) -> None:
    old = tmp_path / "plan.jsonl"
    header = {
        "type": "header",
        "format": "crm_ops.fixplan",
        "version": 1,
        "plan_id": "p1",
        "created_at": "2024-01-01T00:00:00+00:00",
        "profile": "sandbox",
        "snapshots": {},
        "rules": {},
    }
    action = {"type": "action", "action_id": "a1", "kind": "update", "system": "salesforce",
              "entity": "Contact", "record_id": "003A", "field": "email", "seen_value": " A@b.com",
              "proposed_value": "a@b.com", "rule": "person.email.normalised", "severity": "warning",
              "confidence": 0.99, "reason": "spaces"}  # fmt: skip
    merge = {**action, "action_id": "a2", "kind": "merge", "rule": "match.duplicate", "field": "merge_into"}
    old.write_text("\n".join(json.dumps(x) for x in (header, action, merge)) + "\n")
    plan = read_plan(old)
    assert plan.header.version == 1 and [a.approved for a in plan.actions] == [None, None]
    approvals = default_approvals(plan, Review.for_rules(SHIPPED))
    assert approvals == {"a1": True, "a2": False}
    assert [a.action_id for a in select_actions(plan, approvals=approvals)] == ["a1"]
    assert summarise(plan)["by_approval"] == {"not stated (version 1 plan)": 2}
    future = tmp_path / "future.jsonl"
    future.write_text(json.dumps({**header, "version": 9}) + "\n")
    with pytest.raises(ConfigError, match="version 1, 2 or 3 plan"):
        read_plan(future)


def test_the_nightly_run_never_applies_what_needs_a_person_unless_its_rule_is_named() -> None:
    plan = _plan()
    tags = {r.id: set(r.tags) for r in SHIPPED}
    by_tag = auto_apply(plan.actions, wanted=["tag:format", "tag:orphan"], min_confidence=0.95, tags=tags)
    assert [a.rule for a in by_tag] == ["person.email.normalised"]  # not the association its tag lists
    named = auto_apply(
        plan.actions, wanted=["person.orphan", "match.duplicate"], min_confidence=0.95, tags=tags
    )
    assert sorted(a.rule for a in named) == ["match.duplicate", "person.orphan"]


def test_review_settings_are_validated_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "crm-ops.toml"
    path.write_text('[profiles.p.review]\napprove = ["tag:format", "person.title.placeholder"]\n')
    assert load_profile(path, "p").review == ReviewSettings(("tag:format", "person.title.placeholder"), 0.95)
    path.write_text('[profiles.p.review]\napprove = "tag:format"\nmin_confidence = 2\nauto = true\n')
    with pytest.raises(ConfigError) as raised:
        load_profile(path, "p")
    text = str(raised.value)
    assert "profiles.p.review.approve: expected a list" in text
    assert "profiles.p.review.min_confidence: expected a number from 0 to 1, got 2" in text
    assert "profiles.p.review.auto: unknown setting" in text
    path.write_text('[profiles.p.hubspot]\nportal_id = "abc"\n')
    with pytest.raises(ConfigError, match="portal_id: expected int"):
        load_profile(path, "p")


def test_plan_show_counts_samples_and_merges_side_by_side() -> None:
    summary = summarise(_plan())
    assert summary["by_kind"] == {"update": 4, "merge": 1, "associate": 1, "flag": 1}
    assert summary["by_approval"] == {"needs review": 6, "approved": 1}
    assert summary["by_object"]["salesforce.Contact"] == 3
    assert summary["review_reasons"]["confidence under the bar"] == 1
    assert summary["by_rule"]["person.email.normalised"] == {
        "kind": "update", "actions": 1, "approved": 1, "needs review": 0,
    }  # fmt: skip
    sample = summary["samples"]["person.email.normalised"][0]
    assert (sample["before"], sample["after"]) == (" Ann@Acme.com", "ann@acme.com")
    assert sample["record"]["label"] == "Ann Lee <Ann@Acme.com>"
    (merge,) = summary["merges"]
    assert merge["duplicate"]["id"] == "003B" and merge["survivor"]["id"] == "003A"
    text = render(summary, width=300)
    assert "person.email.normalised" in text and "' Ann@Acme.com' -> 'ann@acme.com'" in text
    assert "003B Ann Lee <ann@acme.com>" in text and "003A Ann Lee <Ann@Acme.com>" in text
    json.dumps(summary)  # machine-readable as it is
    # CRM values are shown as text: no console markup, no terminal escapes
    assert safe("[link=http://x]click[/link]\x1b[2J").plain == "[link=http://x]click[/link]\\x1b[2J"
