"""The webhook: Slack-compatible body, the URL from the environment and never logged, failures harmless."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from crm_ops.config import NotifySettings
from crm_ops.notify import message, notify_run
from tests.webhook import webhook

SUMMARY = {
    "run_id": "20261201T020000-abcdef", "profile": "prod", "exit_code": 1, "findings": 259,
    "findings_by_severity": {"error": 61, "warning": 150}, "applied": {"done": 12},
    "threshold": {"fail_on": "error", "max_findings": 0, "serious": 61},
}  # fmt: skip


def test_the_body_is_slack_compatible() -> None:
    body = message(SUMMARY, "/var/lib/crm-ops/prod/runs/x/report.html")
    assert body["text"].startswith("crm-ops run 20261201T020000-abcdef (prod): exit 1, findings at or above")
    assert [b["type"] for b in body["blocks"]] == ["header", "section"]
    section = body["blocks"][1]["text"]["text"]
    assert "*Findings:* 259 (error 61, warning 150)" in section and "max_findings 0" in section
    assert "report.html" in section


def test_a_failing_run_is_posted_and_the_url_never_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = NotifySettings(webhook_env="CRM_OPS_WEBHOOK_URL")
    with webhook() as hook, capture_logs() as logged:
        monkeypatch.setenv("CRM_OPS_WEBHOOK_URL", hook.url)
        assert notify_run(settings, SUMMARY)
        assert not notify_run(settings, {**SUMMARY, "exit_code": 0})  # a clean run posts nothing
        hook.status = 500
        assert not notify_run(settings, SUMMARY)  # logged, not raised
    assert len(hook.bodies) == 2 and hook.bodies[0]["text"].startswith("crm-ops run")
    assert [e["event"] for e in logged] == ["notify.sent", "notify.failed"]
    assert "s3cr3t" not in repr(logged)


def test_an_unreachable_or_missing_webhook_does_not_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = NotifySettings(webhook_env="CRM_OPS_WEBHOOK_URL", timeout_seconds=2)
    monkeypatch.setenv("CRM_OPS_WEBHOOK_URL", "http://127.0.0.1:9/hooks/s3cr3t")  # nothing listens
    with capture_logs() as logged:
        assert not notify_run(settings, SUMMARY)
        monkeypatch.delenv("CRM_OPS_WEBHOOK_URL")
        assert not notify_run(settings, SUMMARY)
        assert not notify_run(NotifySettings(), SUMMARY)  # none configured: nothing, silently
    assert [(e["event"], e.get("error")) for e in logged] == [
        ("notify.failed", "ConnectionError"),
        ("notify.no_webhook", None),
    ]
    assert "s3cr3t" not in repr(logged)


def test_the_config_takes_a_variable_name_never_a_url(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    from crm_ops.config import load_profile
    from crm_ops.errors import ConfigError

    path = Path(str(tmp_path)) / "crm-ops.toml"
    path.write_text('[profiles.p.notify]\nwebhook_env = "HOOK"\ntimeout_seconds = 5\n')
    assert load_profile(path, "p").notify == NotifySettings("HOOK", None, 5.0)
    path.write_text('[profiles.p.notify]\nwebhook_url = "https://hooks.slack.com/x"\n')
    with pytest.raises(ConfigError, match="name its variable in webhook_env"):
        load_profile(path, "p")
