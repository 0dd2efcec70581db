"""The page of a run that could not finish (a configuration error, a CRM down, a full disk, a crash):
what failed, at which step, and what to do. It replaces nothing: a run that finishes gets ``run``'s
page; one that stops early gets this one, so every run folder has a report and the index lists it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_ops.report.html import e, page
from crm_ops.report.run import rule_errors


def render_failed(summary: Mapping[str, Any]) -> str:
    """The failed run's page, from its summary (``exit_code``, ``error``, ``stage``, ``what_to_do``)."""
    run_id, profile = summary.get("run_id", "?"), summary.get("profile", "?")
    body = [
        '<p class="muted"><a href="../index.html">All runs</a></p>',
        f"<h1>Data quality: run {e(run_id)}</h1>",
        f'<p class="lead">Profile <code>{e(profile)}</code>, started {e(summary.get("started_at"))}, '
        f"stopped {e(summary.get('finished_at'))}.</p>",
        f'<p>Exit code <b class="bad">{e(summary.get("exit_code"))}</b>: the run did not finish '
        f"(it stopped while it was {e(summary.get('stage') or 'starting')}).</p>",
        "<h2>What failed</h2>",
        f'<pre class="v">{e(summary.get("error"))}</pre>',
        "<h2>What to do</h2>",
        f"<p>{e(summary.get('what_to_do'))}</p>",
    ]
    if summary.get("rule_errors"):
        body += ["<h2>Rule errors</h2>", rule_errors(summary["rule_errors"])]
    body.append('<p class="muted">Every step of the run is in <code>run.log</code> beside this page.</p>')
    return page(f"crm_ops run {run_id}: failed", body)
