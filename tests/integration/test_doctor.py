"""`crm-ops doctor` names what blocks a pull or an apply, and exits 1 for it; passes when nothing does."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.hubspot import DEFAULT_SCOPES, HubSpotLimits
from crm_ops.sandbox.salesforce import SalesforceLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.command import crm_ops
from tests.pulling import profile_for

pytestmark = pytest.mark.integration
FAST = {"per_ten_seconds": 1_000_000, "search_per_second": 100_000}


def _doctor(box: Sandbox, folder: Path) -> subprocess.CompletedProcess[str]:
    profile_for(box, folder)
    return crm_ops("doctor", "-c", folder / "crm-ops.toml", env={**os.environ, **box.env})  # tests.command


def _lines(done: subprocess.CompletedProcess[str], status: str) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith(status)]


def test_doctor_passes_on_an_org_where_nothing_blocks(sandbox: Sandbox, tmp_path: Path) -> None:
    done = _doctor(sandbox, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _lines(done, "FAIL") == []
    assert any("signed in as integration@crm-ops.sandbox" in line for line in _lines(done, "ok"))
    assert any("daily API requests used" in line for line in done.stdout.splitlines())
    assert any("all 10 scopes crm-ops needs are granted" in line for line in done.stdout.splitlines())
    assert sandbox.env["CRM_OPS_HUBSPOT_TOKEN"] not in done.stdout + done.stderr


def test_doctor_names_a_hidden_field_a_missing_scope_and_a_spent_allowance(tmp_path: Path) -> None:
    config = SandboxConfig(
        seed=SeedConfig(records=300, seed=5, org="plain"),
        salesforce_limits=SalesforceLimits(daily_api_requests=15_000, used_at_start=14_900),
        hubspot_limits=HubSpotLimits(**FAST, scopes=DEFAULT_SCOPES - {"crm.objects.owners.read"}),
    )
    with Sandbox(config) as box:
        done = _doctor(box, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failed = _lines(done, "FAIL")
    # field-level security hides the opt-out from the integration user: its column would be empty
    assert any("Contact.email_opt_out" in f and "HasOptedOutOfEmail" in f for f in failed), failed
    assert any("lacks crm.objects.owners.read" in f for f in failed), failed
    spent = re.compile(r"14,9\d\d of 15,000 daily API requests used.*past api_budget_share")
    assert any(spent.search(f) for f in failed), failed
    # what blocks nothing is a warning: our own custom fields, the cross-CRM ids (linking by matching)
    warned = _lines(done, "warn")
    assert any("Account.tier" in w and "Account_Tier__c" in w for w in warned), warned
    assert any("Contact.linked_id" in w for w in warned), warned
    assert "problem(s) block a pull or an apply" in done.stderr
