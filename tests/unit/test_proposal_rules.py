"""Every proposal passes the rules of the field it writes: drift syncs, fixers' values, merge values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl

from crm_ops.match.links import drift
from crm_ops.match.merges import survivorship
from crm_ops.rules import load_rules
from crm_ops.rules.engine import ProposalGate, run_entity
from crm_ops.rules.library import proposals
from crm_ops.rules.model import Rule, RuleContext, example_frame

SHIPPED, _ = load_rules([])


def _frames(sf: list[dict[str, Any]], hs: list[dict[str, Any]]) -> dict[str, dict[str, pl.DataFrame]]:
    return {
        "salesforce": {"Contact": example_frame("Contact", sf, "salesforce")},
        "hubspot": {"Contact": example_frame("Contact", hs, "hubspot")},
    }


def _drift(frames: Mapping[str, Mapping[str, pl.DataFrame]], gate: ProposalGate | None) -> pl.DataFrame:
    sf, hs = frames["salesforce"]["Contact"], frames["hubspot"]["Contact"]
    links = pl.DataFrame({"sf_id": sf["id"], "hs_id": hs["id"]})
    return drift("Contact", sf, hs, links, {}, gate)


OLD, NEW = "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"


def test_a_broken_value_is_not_synced_the_valid_one_is_proposed_the_other_way() -> None:
    frames = _frames(
        [
            {"id": "s1", "email": "ann.lee@acme.com", "title": "CFO", "updated_at": OLD},
            {"id": "s2", "email": "bo.ek@acme.com", "title": "test", "updated_at": NEW},
        ],
        [
            # HubSpot changed last: by the source of truth (latest) its values would win
            {"id": "h1", "email": "ann.lee@@acme.com", "title": "N/A", "updated_at": NEW},
            {"id": "h2", "email": "bo.ek@acme.se", "title": "CTO", "updated_at": OLD},
        ],
    )
    ungated = _drift(frames, None)
    into_sf = ungated.filter(pl.col("record_id") == "s1")
    assert set(into_sf["proposed_value"]) == {"ann.lee@@acme.com", "N/A"}  # what used to be proposed
    out = {(r["record_id"], r["field"]): r for r in _drift(frames, ProposalGate(SHIPPED, frames)).to_dicts()}
    email = out[("h1", "email")]
    assert (email["system"], email["proposed_value"], email["current_value"]) == (
        "hubspot",
        "ann.lee@acme.com",
        "ann.lee@@acme.com",
    )
    assert "HubSpot's value fails person.email.valid, so Salesforce's is proposed" in email["message"]
    assert out[("h1", "title")]["proposed_value"] == "CFO"
    assert "person.title.placeholder" in out[("h1", "title")]["message"]
    # Salesforce is newer for s2, but its title is a placeholder: HubSpot's goes into Salesforce
    assert (out[("s2", "title")]["system"], out[("s2", "title")]["proposed_value"]) == ("salesforce", "CTO")
    assert out[("h2", "email")]["proposed_value"] == "bo.ek@acme.com"  # both valid: the newer one


def test_when_neither_value_passes_the_sync_is_withheld_and_the_finding_says_why() -> None:
    frames = _frames(
        [{"id": "s1", "email": "ann.lee@@acme.com", "title": "asdf", "updated_at": OLD}],
        [{"id": "h1", "email": "ann.leeacme.com", "title": "test", "updated_at": NEW}],
    )
    found = _drift(frames, ProposalGate(SHIPPED, frames))
    assert found.height == 2
    for row in found.to_dicts():
        assert row["proposed_value"] is None and row["confidence"] is None  # a flag, never written
        assert (row["system"], row["record_id"]) == ("salesforce", "s1")  # the preferred direction
        assert "sync withheld" in row["message"]
    email = found.filter(pl.col("field") == "email").row(0, named=True)
    assert (
        "HubSpot's value fails person.email.valid in Salesforce, Salesforce's fails person.email.valid "
        "in HubSpot" in email["message"]
    )


def test_a_value_that_fails_only_in_the_target_crm_is_judged_by_the_targets_rules() -> None:
    # contact.email.account_domain: the address must be at the contact's own account's domain
    frames = _frames(
        [{"id": "s1", "email": "ann@acme.com", "account_id": "a1", "updated_at": OLD}],
        [{"id": "h1", "email": "ann@globex.com", "account_id": "b1", "updated_at": NEW}],
    )
    frames["salesforce"]["Account"] = example_frame("Account", [{"id": "a1", "website": "acme.com"}], "x")
    frames["hubspot"]["Account"] = example_frame("Account", [{"id": "b1", "domain": "globex.com"}], "x")
    row = _drift(frames, ProposalGate(SHIPPED, frames)).row(0, named=True)
    assert row["proposed_value"] is None
    assert "fails contact.email.account_domain in Salesforce" in row["message"]


def _shout(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    return proposals(rows, pl.when(pl.col("id") == "c0").then(pl.lit("TEST")).otherwise(pl.lit("Cfo")), 0.9)


def test_a_fixers_value_that_fails_a_rule_of_its_field_is_withheld() -> None:
    lower = Rule(
        "x.title.lower",
        ("Contact",),
        "info",
        "The title is in lower case.",
        check=lambda frame, ctx, params: pl.col("title") != pl.col("title").str.to_lowercase(),
        field="title",
        fix=_shout,
    )
    frame = example_frame(
        "Contact", [{"id": "c0", "title": "cfo"}, {"id": "c1", "title": "cfo"}], "salesforce"
    )
    found = run_entity([lower, *SHIPPED], frame, RuleContext({}), "salesforce", "Contact")
    rows = {r["record_id"]: r for r in found.findings.filter(pl.col("rule") == "x.title.lower").to_dicts()}
    assert rows["c1"]["proposed_value"] == "Cfo" and rows["c1"]["confidence"] == 0.9
    assert rows["c0"]["proposed_value"] is None and rows["c0"]["confidence"] is None
    assert "fix TEST withheld: it fails person.title.placeholder" in rows["c0"]["message"]
    # the shipped fixers' own values pass: clearing a placeholder (null) is not judged
    cleared = run_entity(
        SHIPPED, example_frame("Contact", [{"title": "asdf"}], "x"), RuleContext({}), "x", "Contact"
    )
    title = cleared.findings.filter(pl.col("rule") == "person.title.placeholder").row(0, named=True)
    assert title["proposed_value"] is None and title["confidence"] == 0.9


def test_a_merge_does_not_give_the_survivor_a_value_that_fails_a_rule() -> None:
    frame = example_frame(
        "Contact",
        [
            {"id": "c0", "email": "ann@acme.com", "phone": "+14155550101", "city": "Oslo",
             "created_at": "2020-01-01T00:00:00Z"},
            {"id": "c1", "email": "ann@acme.com", "title": "test", "mobile_phone": "+14155550199",
             "created_at": "2022-01-01T00:00:00Z"},
        ],
        "salesforce",
    )  # fmt: skip
    pairs = pl.DataFrame({"left_id": ["c0"], "right_id": ["c1"], "score": [0.95], "reasons": ["email"]})
    frames = {"salesforce": {"Contact": frame}}
    plain = json.loads(survivorship(frame, pairs, "salesforce", "Contact")["detail"][0])
    assert {v["field"] for v in plain["values"]} == {"title", "mobile_phone"}
    gated = survivorship(frame, pairs, "salesforce", "Contact", gate=ProposalGate(SHIPPED, frames))
    detail = json.loads(gated["detail"][0])
    assert [v["field"] for v in detail["values"]] == ["mobile_phone"]
    assert "title not taken from c1: 'test' fails person.title.placeholder" in detail["notes"]
