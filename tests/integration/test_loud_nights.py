"""Nights that never fail silently (issue 24): a rule that cannot load is a rule error (exit 7, first in
the summary, the report and the webhook); a rule name in the config that names nothing is a config
error naming the nearest one; every run, however it ends, leaves a summary, a report and a line in the
index; a production run that would write unattended without leave is refused before it pulls."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crm_ops.config import load_profile
from crm_ops.errors import ApiError, ConfigError
from crm_ops.pull import Puller
from crm_ops.runner import run_batch
from crm_ops.sandbox.server import Sandbox
from crm_ops.state import State
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for
from tests.webhook import webhook

pytestmark = pytest.mark.integration
NOTIFY = '\n[profiles.sandbox.notify]\nwebhook_env = "CRM_OPS_WEBHOOK_URL"\n'
TYPO = """rules:
  - id: acme.contact.title.required
    entity: Contact
    field: titel
    severity: warning
    description: Every contact needs a title.
    check: not_null
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(400, 24) as sb:
        yield sb


def _cli(box: Sandbox, folder: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    # in this process (tests.command)
    return crm_ops(*args, "-c", folder / "crm-ops.toml", env={**os.environ, **box.env, **(env or {})})


def _runs(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "state" / "runs").iterdir() if p.is_dir())


def _summary(run: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((run / "summary.json").read_text())
    return summary


def test_a_rule_file_with_a_typo_fails_check_and_run_and_is_shown_first(box: Sandbox, tmp_path: Path) -> None:
    rules = tmp_path / "team_rules"
    rules.mkdir()
    (rules / "titles.yaml").write_text(TYPO)
    run_settings = '\n[profiles.sandbox.run]\nauto_apply = ["tag:format"]\n'
    folders = '\n[profiles.sandbox.rules]\nfolders = ["team_rules"]\n'
    profile_for(box, tmp_path, extra=folders + run_settings + NOTIFY)

    with webhook() as hook:
        ran = _cli(box, tmp_path, "run", env={"CRM_OPS_WEBHOOK_URL": hook.url})
    assert ran.returncode == 7, ran.stderr
    assert "rule error: acme.contact.title.required could not load" in ran.stderr
    (run,) = _runs(tmp_path)
    summary = _summary(run)
    (error,) = summary["rule_errors"]
    assert error["stage"] == "load" and error["rule"] == "acme.contact.title.required"
    assert "titles.yaml" in error["source"] and "no field 'titel' (did you mean 'title'?)" in error["error"]
    # a fix is judged by every rule of its field: with a rule missing, the run writes nothing
    assert set(summary["applied"]) == {"withheld (rule errors)"} and summary["auto_apply_chosen"] > 0
    report = (run / "report.html").read_text()
    assert report.index("<h2>Rule errors</h2>") < report.index("<h2>Score per object</h2>")
    assert "acme.<wbr>contact.<wbr>title.<wbr>required" in report and "titel" in report
    (body,) = hook.bodies
    assert body["text"].endswith("exit 7, rule errors or records the CRM refused")
    assert "*Rule error:* acme.contact.title.required could not load" in body["blocks"][1]["text"]["text"]

    checked = _cli(box, tmp_path, "check")
    assert checked.returncode == 7, checked.stderr
    assert "titles.yaml" in checked.stderr and "titel" in checked.stderr


def test_a_missing_rules_folder_is_a_rule_error(box: Sandbox, tmp_path: Path) -> None:
    profile = profile_for(box, tmp_path, extra='\n[profiles.sandbox.rules]\nfolders = ["nowhere"]\n')
    result = run_batch(profile)
    assert result.exit_code == 7
    (error,) = result.summary["rule_errors"]
    assert error["source"] == str(tmp_path / "nowhere") and "no such rule file or folder" in error["error"]


def test_a_misspelt_rule_name_in_auto_apply_stops_the_run_before_it_pulls(
    box: Sandbox, tmp_path: Path
) -> None:
    extra = '\n[profiles.sandbox.run]\nauto_apply = ["person.emial.normalised"]\n'
    profile_for(box, tmp_path, extra=extra + '\n[profiles.sandbox.rules]\ndisabled = ["tag:formats"]\n')
    ran = _cli(box, tmp_path, "run")
    assert ran.returncode == 2, ran.stderr
    assert (
        'auto_apply: no rule "person.emial.normalised"; did you mean "person.email.normalised"?' in ran.stderr
    )
    assert 'disabled: no tag "tag:formats"; did you mean "tag:format"?' in ran.stderr
    (run,) = _runs(tmp_path)
    summary = _summary(run)
    assert summary["exit_code"] == 2 and summary["stage"] == "loading the rules"
    assert "person.email.normalised" in summary["error"] and summary["what_to_do"]
    assert not (tmp_path / "state" / "snapshots").exists()  # nothing pulled
    assert run.name in (tmp_path / "state" / "runs" / "index.html").read_text()
    assert _cli(box, tmp_path, "check").returncode == 2  # the same settings, the same refusal


def test_every_run_that_stops_early_leaves_a_summary_a_report_and_an_index_line(
    box: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = profile_for(box, tmp_path, extra=NOTIFY)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ApiError("salesforce", "cannot connect to 127.0.0.1:9 (connection refused)")

    monkeypatch.setattr(Puller, "pull_many", down)
    with webhook() as hook:
        monkeypatch.setenv("CRM_OPS_WEBHOOK_URL", hook.url)
        with pytest.raises(ApiError):
            run_batch(profile)
        monkeypatch.setattr(Puller, "pull_many", lambda *a, **k: 1 / 0)  # a bug
        with pytest.raises(ZeroDivisionError):
            run_batch(profile)
    # two runs in one second: their ids sort by a random part, so tell them apart by their exit code
    failed, crashed = sorted(_runs(tmp_path), key=lambda run: _summary(run)["exit_code"])
    assert _summary(failed)["exit_code"] == 3 and _summary(failed)["stage"] == "pulling"
    assert "127.0.0.1:9" in _summary(failed)["error"]
    assert _summary(crashed)["exit_code"] == 70 and "ZeroDivisionError" in _summary(crashed)["error"]
    page = (failed / "report.html").read_text()
    assert "What to do" in page and "127.0.0.1:9" in page and "next run resumes" in page
    index = (tmp_path / "state" / "runs" / "index.html").read_text()
    assert failed.name in index and crashed.name in index
    assert "stopped while pulling" in index  # not "0 findings, applied nothing", as if it had checked
    assert [b["text"].split(": exit ")[1] for b in hook.bodies] == ["3, CRM error", "70, crashed (a bug)"]
    assert "*What to do:*" in hook.bodies[0]["blocks"][1]["text"]["text"]
    # the next run is not troubled by the failed ones (no findings there, no scores)
    monkeypatch.undo()
    assert run_batch(load_profile(tmp_path / "crm-ops.toml", "sandbox")).exit_code in (0, 1)


def test_a_production_run_that_would_write_unattended_needs_leave_in_the_profile(
    box: Sandbox, tmp_path: Path
) -> None:
    profile_for(box, tmp_path, extra='\n[profiles.sandbox.run]\nauto_apply = ["person.email.normalised"]\n')
    config = tmp_path / "crm-ops.toml"
    config.write_text(config.read_text().replace("production = false", "production = true"))
    refused = _cli(box, tmp_path, "run")
    assert refused.returncode == 2, refused.stderr
    assert "allow_production = true" in refused.stderr and "--allow-production" in refused.stderr
    state = State(tmp_path / "state" / "state.sqlite")
    try:
        assert state.pulls() == []  # refused before any pull
    finally:
        state.close()
    (refused_run,) = _runs(tmp_path)
    assert _summary(refused_run)["exit_code"] == 2

    config.write_text(config.read_text() + "allow_production = true\n")  # in [profiles.sandbox.run]
    allowed = _cli(box, tmp_path, "run")
    assert allowed.returncode == 1, allowed.stderr  # findings, and the fixes applied
    # the run after it, found as the new folder: run ids sort by the second they start, and a refusal
    # takes less than one (in this process, with no imports to pay, the two may share their second)
    (allowed_run,) = set(_runs(tmp_path)) - {refused_run}
    summary = _summary(allowed_run)
    assert summary["applied"].get("done", 0) > 0 and summary["exit_code"] == 1


def test_the_profile_guard_and_rule_names_are_config_errors_from_python_too(tmp_path: Path) -> None:
    config = tmp_path / "crm-ops.toml"
    config.write_text(
        '[profiles.prod]\nstate_dir = "state"\n[profiles.prod.hubspot]\n'
        '[profiles.prod.review]\napprove = ["tag:format", "person.phone.e164x"]\n'
        '[profiles.prod.run]\nauto_apply = ["match.duplicate", "match.drift.title", "match.dupliate"]\n'
    )
    from crm_ops.check import profile_rules

    with pytest.raises(ConfigError) as caught:
        profile_rules(load_profile(config, "prod"))
    assert f'{config} [profiles.prod.review] approve: no rule "person.phone.e164x"' in str(caught.value)
    # matching's findings are named like rules: known, and a misspelling of one is caught
    assert '[profiles.prod.run] auto_apply: no rule "match.dupliate"; did you mean "match.duplicate"?' in str(
        caught.value
    )
    assert len(caught.value.problems) == 2
