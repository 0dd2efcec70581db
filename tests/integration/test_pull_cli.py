"""`crm-ops pull` as cron runs it: the config file, secrets from the environment, exit codes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import polars as pl
import pytest

from crm_ops.plan import read_plan
from crm_ops.rules import FINDINGS_SCHEMA
from crm_ops.sandbox.server import Sandbox
from tests.command import crm_ops
from tests.pulling import profile_for

pytestmark = pytest.mark.integration


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``crm-ops`` in this process (tests.command): these tests are of its arguments, output and codes."""
    return crm_ops(*args, env=env)


def test_pull_command_full_then_incremental(sandbox: Sandbox, tmp_path: Path) -> None:
    profile_for(sandbox, tmp_path)
    env = {**os.environ, **sandbox.env}
    config = str(tmp_path / "crm-ops.toml")
    first = _run("pull", "--config", config, "--entity", "Contact", "--entity", "Account", env=env)
    assert first.returncode == 0, first.stderr
    assert "salesforce" in first.stdout and "hubspot" in first.stdout
    assert first.stdout.count("full") == 4
    second = _run("pull", "-c", config, "-e", "Contact", "-s", "salesforce", env=env)
    assert second.returncode == 0, second.stderr
    assert "incremental" in second.stdout and "hubspot" not in second.stdout
    # the log is JSON off a terminal, and never carries the secrets it was given
    assert '"event": "pull.done"' in first.stderr
    assert '"event"' not in first.stdout  # human output alone on stdout, logs alone on stderr
    for secret in ("CRM_OPS_SF_ACCESS_TOKEN", "CRM_OPS_HUBSPOT_TOKEN"):
        assert sandbox.env[secret] not in first.stderr + first.stdout


def test_pull_command_exit_codes_name_the_problem(sandbox: Sandbox, tmp_path: Path) -> None:
    profile_for(sandbox, tmp_path)
    config = str(tmp_path / "crm-ops.toml")
    env = {**os.environ, **sandbox.env}
    missing = {k: v for k, v in env.items() if k != "CRM_OPS_HUBSPOT_TOKEN"}
    no_token = _run("pull", "-c", config, "-s", "hubspot", env=missing)
    assert no_token.returncode == 2
    assert "set CRM_OPS_HUBSPOT_TOKEN" in no_token.stderr
    unknown = _run("pull", "-c", config, "-e", "Contacts", env=env)
    assert unknown.returncode == 2
    assert "unknown entity Contacts" in unknown.stderr
    bad_token = _run("pull", "-c", config, "-s", "hubspot", env={**env, "CRM_OPS_HUBSPOT_TOKEN": "nope"})
    assert bad_token.returncode == 3
    assert "401" in bad_token.stderr


def test_a_failing_entity_does_not_stop_the_others_and_exits_partial(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # a required column mapped to a field the org lacks fails Salesforce Contact alone; an optional one
    # the org lacks is an empty column and a warning
    extra = """
[profiles.sandbox.maps.salesforce.Contact]
last_name = "Surname__c"

[profiles.sandbox.maps.hubspot.Contact]
custom_tier = {property = "no_such_tier", optional = true}
"""
    profile_for(sandbox, tmp_path, extra=extra)
    env = {**os.environ, **sandbox.env}
    result = _run("pull", "-c", str(tmp_path / "crm-ops.toml"), "-e", "Contact", "-e", "Account", env=env)
    assert result.returncode == 6, result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1
    assert (
        "salesforce Contact" in failed[0] and "'Surname__c'" in failed[0] and "Contact.last_name" in failed[0]
    )
    warned = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "'no_such_tier'" in warned[0] and "the column stays empty" in warned[0]
    # the three others were pulled and are current
    assert result.stdout.count("full") == 3
    from crm_ops.pull import read_snapshot

    state = tmp_path / "state"
    assert read_snapshot(state, "salesforce", "Account").height > 0
    hubspot_contacts = read_snapshot(state, "hubspot", "Contact")
    assert (
        hubspot_contacts.height > 0
        and hubspot_contacts["custom_tier"].null_count() == hubspot_contacts.height
    )


ROOT = Path(__file__).resolve().parents[2]


def test_rules_and_check_commands_with_custom_rules(sandbox: Sandbox, tmp_path: Path) -> None:
    profile_for(sandbox, tmp_path)
    env = {**os.environ, **sandbox.env}
    config = str(tmp_path / "crm-ops.toml")
    custom = str(ROOT / "examples" / "rules")
    tested = _run("rules", "test", "--rules", custom, env=env)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "examples passed" in tested.stdout
    listed = _run("rules", "list", "--rules", custom, env=env)
    assert "acme.person.title.vp_spelled_out" in listed.stdout and "person.email.valid" in listed.stdout
    assert _run("pull", "-c", config, env=env).returncode == 0
    out = tmp_path / "findings.parquet"
    samples = tmp_path / "samples.csv"
    checked = _run(
        "check", "-c", config, "--rules", custom, "--output", str(out), "--samples-csv", str(samples),
        "--samples", "3", env=env,
    )  # fmt: skip
    # the sandbox holds error-level defects: --fail-on error (the default) exits 1, as cron needs
    assert checked.returncode == 1, checked.stderr
    assert "findings at --fail-on error or above" in checked.stderr
    lenient = _run(
        "check", "-c", config, "--fail-on", "never", "--output", str(tmp_path / "f2.parquet"), env=env
    )
    assert lenient.returncode == 0, lenient.stderr
    findings = pl.read_parquet(out)
    assert set(findings.columns) == set(FINDINGS_SCHEMA)
    assert {"person.email.valid", "acme.person.title.vp_spelled_out"} <= set(findings["rule"])
    assert "findings" in checked.stdout
    # a few findings of each rule, for people: every rule that found something, three at most each
    sampled = pl.read_csv(samples, infer_schema=False)
    assert set(sampled["rule"]) == set(findings["rule"]) and f"samples: {samples}" in checked.stdout
    assert sampled.group_by("rule").len()["len"].max() == 3
    alone = _run("check", "-c", config, "--samples", "3", env=env)
    assert alone.returncode == 2 and "--samples: give --samples-csv FILE too" in alone.stderr
    matched = _run("match", "-c", config, "--output", str(tmp_path / "match"), env=env)
    assert matched.returncode == 0, matched.stderr
    links = pl.read_parquet(tmp_path / "match" / "links.parquet")
    assert links.height > 1000 and set(links["entity"]) == {"Contact", "Account", "Opportunity"}
    assert "match.duplicate" in set(pl.read_parquet(tmp_path / "match" / "findings.parquet")["rule"])
    planned = _run(
        "plan", "-c", config, "-f", str(out), "-f", str(tmp_path / "match" / "findings.parquet"),
        "-o", str(tmp_path / "plan"), env=env,
    )  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    built = read_plan(tmp_path / "plan" / "plan.jsonl")
    assert {"update", "merge"} <= {a.kind for a in built.actions}
    assert (tmp_path / "plan" / "plan.csv").read_text().startswith("approve,review_reason,kind,")


def test_rules_test_fails_on_a_broken_rule_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - id: x.wrong\n    entity: Contact\n    field: email\n    severity: error\n"
        "    description: expects the wrong thing\n    check: not_null\n    examples:\n"
        "      - pass: {email: null}\n"
    )
    result = _run("rules", "test", "--no-shipped", "--rules", str(bad), env=dict(os.environ))
    assert result.returncode == 1
    assert "FAIL x.wrong [Contact] example 1: expected to pass" in result.stdout
