"""Duplicates found against the sandbox's ground truth in every object either CRM can merge: Salesforce
contacts, accounts, leads (and leads that duplicate contacts) and cases; HubSpot contacts, companies,
tickets (the shipped "cases" map) and deals (deduplicated when a profile names ``[match.Opportunity]``)."""

from __future__ import annotations

from datetime import date

from crm_ops.match import run_matching
from crm_ops.match.config import OPT_IN
from crm_ops.sandbox.generator import SeedConfig, generate
from tests.match_eval import CASES, DEALS, canonical_frames, dedupe_scores

MERGEABLE = {
    ("salesforce", "Contact"),
    ("salesforce", "Account"),
    ("salesforce", "Lead"),
    ("salesforce", "Lead-Contact"),
    ("salesforce", "Case"),
    ("hubspot", "Contact"),
    ("hubspot", "Account"),
    ("hubspot", "Case"),
    ("hubspot", "Opportunity"),
}


def test_every_mergeable_object_has_seeded_duplicates_and_matching_finds_them() -> None:
    """Precision >= 0.95 and recall >= 0.9 in each, and none of the look-alikes (issue 28: namesakes,
    households, namesake companies, a colleague's case, another deal of one company) merged (measured at
    4,000 records with the harder copies and look-alikes: precision 1.0 in each but Salesforce cases'
    0.980, two cases of one contact with one subject opened within two days, which no field tells from a
    copy; recall 1.0 in each; 0 of 139 look-alikes merged)."""
    data = generate(SeedConfig(records=4000, seed=3, as_of=date(2026, 6, 1)))
    frames = canonical_frames(data, ["cases"])
    result = run_matching(frames, configs={"Opportunity": OPT_IN["Opportunity"], "Case": OPT_IN["Case"]})
    truth = data.manifest
    scores = dedupe_scores(truth.duplicates, result, {**CASES, **DEALS}, truth.lookalikes)
    # Salesforce merges no opportunities: none seeded there, and what its rule set finds is flagged
    assert {(s.system, s.entity) for s in scores} - {("salesforce", "Opportunity")} == MERGEABLE
    weak = [
        s
        for s in scores
        if (s.system, s.entity) in MERGEABLE and (s.seeded < 15 or s.precision < 0.95 or s.recall < 0.9)
    ]
    assert weak == []
    seeded = {(s.system, s.entity) for s in scores if s.lookalikes}
    assert seeded == MERGEABLE - {("salesforce", "Lead-Contact")}
    assert [(s.system, s.entity, s.merged) for s in scores if s.merged] == []
