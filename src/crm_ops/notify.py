"""Telling people: a run that failed or breached its threshold posts to a webhook (Slack-compatible
JSON, ``{"text": ..., "blocks": [...]}``, which Slack, Mattermost and Teams' Slack-compatible hooks
take). It counts findings per owner, new and resolved since the last run (muted findings are not
counted) and links the report over https when ``[profiles.P.notify] report_url`` says where it is.

The webhook URL is a secret (it is the credential): it comes from the environment variable the profile
names (``[profiles.P.notify] webhook_env = "CRM_OPS_WEBHOOK_URL"``) and never appears in a log line or
an error (a request exception's text names the URL, so only its kind is logged). The post goes through
``CrmSession``: the environment's proxy, the configured CA. A failed post is logged and never fails the
run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests
import structlog

from crm_ops.config import NotifySettings
from crm_ops.connectors.netconf import CrmSession
from crm_ops.triage import owner_line

log = structlog.get_logger("crm_ops.notify")
WHY = {
    1: "findings at or above the threshold",
    2: "configuration error",
    3: "CRM error",
    4: "stopped at the API budget",
    5: "another run held the lock",
    6: "some entities could not be pulled",
    7: "rule errors or records the CRM refused",
    8: "operational error (disk, state dir)",
    9: "the circuit breaker tripped: nothing was applied",
    70: "crashed (a bug)",
    130: "interrupted",
}
SHOWN_ERRORS = 10  # rule errors listed in a post (the report lists them all)


def rule_error_line(err: Mapping[str, Any]) -> str:
    """One of a summary's ``rule_errors`` in words: the rule, what happened, where, why."""
    where = err.get("source") or f"{err.get('system') or ''} {err.get('entity') or ''}".strip()
    verb = "could not load" if err.get("stage") == "load" else "raised"
    return f"{err.get('rule') or '(whole file)'} {verb} ({where}): {err.get('error')}"


SHOWN_OWNERS = 10  # owners listed in a post (the digest and the report list them all)


def owner_facts(summary: Mapping[str, Any]) -> list[str]:
    """A summary's counts per owner (``crm_ops.triage``), a line each: open, new and resolved since the
    last run, muted and acknowledged."""
    owners = summary.get("owners") or {}
    compared = summary.get("new") is not None
    lines = [
        f"*Owner* {owner_line(name, counts, compared)}"
        for name, counts in list(owners.items())[:SHOWN_OWNERS]
    ]
    if len(owners) > SHOWN_OWNERS:
        lines.append(f"*Owners:* {len(owners) - SHOWN_OWNERS:,} more in the digest")
    return lines


def breaker_lines(summary: Mapping[str, Any]) -> list[str]:
    """The circuit breaker's facts for a post (first: it says why nothing was applied) and the data
    monitors' warnings (``summary["breaker"]``, ``summary["monitors"]``)."""
    breaker = summary.get("breaker") or {}
    lines = []
    if breaker.get("tripped"):
        state = (
            "overridden for this run: fixes were applied" if breaker.get("overridden") else "nothing applied"
        )
        lines.append(f"*Circuit breaker tripped ({state}):*")
        lines += [f"• {reason}" for reason in breaker.get("reasons", [])[:SHOWN_ERRORS]]
    warned = [m for m in summary.get("monitors") or [] if m.get("severity") != "error"]
    lines += [f"*Monitor ({m.get('severity')}):* {m.get('message')}" for m in warned[:SHOWN_ERRORS]]
    if len(warned) > SHOWN_ERRORS:
        lines.append(f"*Monitors:* {len(warned) - SHOWN_ERRORS:,} more in the report")
    return lines


def message(summary: Mapping[str, Any], report: str | None = None) -> dict[str, Any]:
    """The webhook's body for a run's summary (``exit_code``, ``profile``, ``run_id``, counts, ``error``)."""
    code = int(summary.get("exit_code", 3))
    profile, run_id = summary.get("profile", "?"), summary.get("run_id", "?")
    headline = f"crm-ops run {run_id} ({profile}): exit {code}, {WHY.get(code, 'failed')}"
    facts = breaker_lines(summary)
    if summary.get("error"):
        facts.append(f"*Error:* {summary['error']}")
    if summary.get("what_to_do"):
        facts.append(f"*What to do:* {summary['what_to_do']}")
    errors = summary.get("rule_errors") or []
    facts += [f"*Rule error:* {rule_error_line(err)}" for err in errors[:SHOWN_ERRORS]]
    if len(errors) > SHOWN_ERRORS:
        facts.append(f"*Rule errors:* {len(errors) - SHOWN_ERRORS:,} more in the report")
    if "findings" in summary:
        by = summary.get("findings_by_severity") or {}
        muted = int(summary.get("muted") or 0)
        facts.append(
            f"*Findings:* {int(summary['findings']) - muted:,} "
            f"({', '.join(f'{k} {v:,}' for k, v in sorted(by.items())) or 'none'})"
            + (f"; {muted:,} muted, not counted" if muted else "")
        )
    facts += owner_facts(summary)
    threshold = summary.get("threshold")
    if threshold:
        facts.append(
            f"*Threshold:* {threshold.get('serious', 0):,} at {threshold.get('fail_on')} or above, "
            f"max_findings {threshold.get('max_findings')}"
        )
    if summary.get("applied"):
        facts.append("*Applied:* " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary["applied"].items())))
    for failure in summary.get("pull_failures") or []:
        facts.append(f"*Pull failed:* {failure}")
    notices = [n for n in summary.get("notices") or [] if not str(n).startswith("pull failed: ")]
    facts += [f"*Notice:* {n}" for n in notices[:SHOWN_ERRORS]]
    if len(notices) > SHOWN_ERRORS:
        facts.append(f"*Notices:* {len(notices) - SHOWN_ERRORS:,} more in the report")
    if summary.get("report_link") or report:
        facts.append(f"*Report:* {summary.get('report_link') or report}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts) or headline}},
    ]
    return {"text": headline, "blocks": blocks}


def post(settings: NotifySettings, body: Mapping[str, Any], *, where: str = "notify") -> bool:
    """Post ``body`` to the profile's webhook; False (and a log line without the URL) when it fails."""
    if not settings.webhook_env:
        return False
    url = os.environ.get(settings.webhook_env)
    if not url:
        log.warning("notify.no_webhook", variable=settings.webhook_env, where=where)
        return False
    session = CrmSession(settings.ca_bundle)
    try:
        answer = session.post(url, json=body, timeout=settings.timeout_seconds)
    except requests.RequestException as exc:
        log.warning("notify.failed", variable=settings.webhook_env, error=type(exc).__name__)
        return False
    finally:
        session.close()
    if not 200 <= answer.status_code < 300:
        log.warning("notify.failed", variable=settings.webhook_env, status=answer.status_code)
        return False
    log.info("notify.sent", variable=settings.webhook_env, status=answer.status_code)
    return True


def notify_run(settings: NotifySettings, summary: Mapping[str, Any], report: str | None = None) -> bool:
    """Post a run that did not end clean (any exit code but 0); a clean run posts nothing."""
    if int(summary.get("exit_code", 0)) == 0:
        return False
    return post(settings, message(summary, report), where=str(summary.get("run_id")))
