"""runs/index.html: every run, newest first, with its date, verdict, score and a link to its report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crm_ops.report.html import e, page, pct, table
from crm_ops.report.trend import trend_svg


def overall(summary: Mapping[str, Any]) -> float | None:
    """A run's score over all objects (records-weighted when the counts are known)."""
    counts = summary.get("score_counts") or {}
    if counts:
        total = sum(int(c["records"]) for c in counts.values())
        passed = sum(int(c["passed"]) for c in counts.values())
        return round(100.0 * passed / total, 2) if total else None
    values = list((summary.get("scores") or {}).values())
    return round(sum(values) / len(values), 2) if values else None


def render_index(profile: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """The index page's HTML; ``runs`` are the runs' summaries, oldest first."""
    rows = []
    for s in reversed(runs):
        run_id = str(s.get("run_id"))
        score = overall(s)
        verdict = "good" if s.get("exit_code") == 0 else "bad"
        applied = s.get("applied") or {}
        stopped = s.get("finished") is False  # stopped early: nothing was counted, nor written by it
        rows.append(
            [
                e(str(s.get("started_at", ""))[:19].replace("T", " ")),
                f'<a href="{e(run_id)}/report.html">{e(run_id)}</a>',
                f'<span class="{verdict}">{e(s.get("exit_code"))}</span>',
                pct(score) if score is not None else "-",
                "-" if stopped else f"{int(s.get('findings') or 0):,}",
                "-" if stopped else f"{int(s.get('plan_actions') or 0):,}",
                f'<span class="bad">stopped while {e(s.get("stage") or "starting")}</span>'
                if stopped
                else e(", ".join(f"{k} {v:,}" for k, v in sorted(applied.items())) or "nothing"),
            ]
        )
    body = [
        f"<h1>Data quality runs: {e(profile)}</h1>",
        f'<p class="lead">{len(runs):,} runs, newest first. Each links to its report.</p>',
        "<h2>Score trend</h2>",
        trend_svg(list(runs)),
        "<h2>History</h2>",
        table(["started (UTC)", "run", "exit", "score", "findings", "actions", "applied"], rows, (3, 4, 5)),
    ]
    return page(f"crm_ops runs: {profile}", body)
