"""A plain org, as crm-ops first meets a real one: none of our custom fields, no HubSpot-Salesforce
integration properties, and field-level security hiding Contact.HasOptedOutOfEmail.

`crm-ops run` must complete with warnings, not errors: every entity pulled, the optional columns the
org lacks empty and named, cross-CRM links found by matching alone, findings and a plan produced.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_ops.check import current_frames
from crm_ops.match import run_matching
from crm_ops.pull import read_snapshot
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from crm_ops.state import State
from tests.command import crm_ops
from tests.match_eval import link_scores
from tests.pulling import FAST_HUBSPOT, profile_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plain() -> Iterator[Sandbox]:
    config = SandboxConfig(seed=SeedConfig(records=2000, seed=23, org="plain"), hubspot_limits=FAST_HUBSPOT)
    with Sandbox(config) as sb:
        yield sb


def test_a_run_on_a_plain_org_completes_with_warnings_and_links_by_matching(
    plain: Sandbox, tmp_path: Path
) -> None:
    profile_for(plain, tmp_path)
    run = crm_ops("run", "-c", tmp_path / "crm-ops.toml", env={**os.environ, **plain.env})
    assert run.returncode == 1, run.stderr[-3000:]  # findings above the threshold: the batch's normal end
    (folder,) = (p for p in (tmp_path / "state" / "runs").iterdir() if p.is_dir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["pull_failures"] == []
    assert len(summary["pulled"]) == 11  # 6 Salesforce entities, 5 HubSpot ones
    warnings = summary["warnings"]
    expected = {
        "Contact.email_opt_out": "'HasOptedOutOfEmail'",  # hidden by field-level security
        "Contact.linked_id": "'HubSpot_Contact_Id__c'",
        "Account.linked_id": "'HubSpot_Company_Id__c'",
        "Account.tier": "'Account_Tier__c'",
        "Contact.language": "'Preferred_Language__c'",
        "Opportunity.linked_id": "'HubSpot_Deal_Id__c'",
    }
    for column, field in expected.items():
        assert any(column in w and field in w and w.startswith("salesforce") for w in warnings), column
    for column in (
        "Contact.linked_id",
        "Contact.linked_lead_id",
        "Account.linked_id",
        "Opportunity.linked_id",
    ):
        assert any(column in w and "Salesforce integration" in w for w in warnings if w.startswith("hubspot"))
    assert "HasOptedOutOfEmail" in (folder / "report.html").read_text()

    state = tmp_path / "state"
    contacts = read_snapshot(state, "salesforce", "Contact")
    assert contacts.height > 1000
    assert contacts["email_opt_out"].null_count() == contacts.height
    assert contacts["linked_id"].null_count() == contacts.height
    assert read_snapshot(state, "hubspot", "Contact")["linked_id"].null_count() > 0

    # links by matching alone: nearly every true pair found, none wrong
    assert summary["match"]["cross.Contact.links"] > 1000
    puller_state = State(state / "state.sqlite")
    try:
        result = run_matching(current_frames(puller_state))
    finally:
        puller_state.close()
    precision, recall, found, truth = link_scores(plain.data.manifest.matches, result)
    assert precision >= 0.99 and recall >= 0.95, (precision, recall, found, truth)
    assert summary["findings"] > 0 and summary["plan_actions"] > 0
