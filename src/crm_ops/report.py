"""The run report: one self-contained HTML file (no scripts, no network assets), every CRM value escaped.

Sections: a data-quality score per object (share of live records without an error or warning finding),
its trend over past runs as an inline SVG chart, the top failing rules, the plan's actions, and sample
failing records.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from crm_ops.schema.entities import live

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1f2933;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d9e2ec}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{padding:.3rem .5rem;text-align:left;
border-bottom:1px solid #eef2f6;vertical-align:top}th{background:#f5f7fa}td.n{text-align:right}
.good{color:#2f855a}.warn{color:#b7791f}.bad{color:#c53030}code{background:#f5f7fa;padding:0 .2rem}
"""


def e(value: Any) -> str:
    """HTML-escape anything (CRM values are untrusted)."""
    return html.escape("" if value is None else str(value), quote=True)


def scores(frames: Mapping[str, Mapping[str, pl.DataFrame]], findings: pl.DataFrame) -> dict[str, float]:
    """Per ``system.entity``: 100 x the share of live records with no error or warning finding."""
    out = {}
    bad = findings.filter(pl.col("severity").is_in(["error", "warning"]))
    for system, entities in frames.items():
        for entity, frame in entities.items():
            if entity in ("Owner", "ContactRole"):
                continue
            records = live(frame)
            if records.is_empty():
                continue
            flagged = bad.filter((pl.col("system") == system) & (pl.col("entity") == entity))["record_id"]
            n_bad = records.filter(pl.col("id").is_in(flagged.implode())).height
            out[f"{system}.{entity}"] = round(100.0 * (1 - n_bad / records.height), 2)
    return out


def _trend_svg(history: Sequence[Mapping[str, Any]]) -> str:
    """An inline SVG line per object: score over the past runs (oldest left)."""
    if len(history) < 2:
        return "<p>The trend appears after the second run.</p>"
    keys = sorted({k for h in history for k in h["scores"]})
    width, height, pad = 720, 220, 30
    low = min(min(h["scores"].values(), default=100) for h in history)
    low = max(0.0, min(low, 90.0) - 5)
    step = (width - 2 * pad) / (len(history) - 1)
    colours = ["#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b", "#744210", "#4a5568"]
    lines = []
    for i, key in enumerate(keys):
        points = []
        for j, h in enumerate(history):
            if key in h["scores"]:
                y = pad + (100 - h["scores"][key]) / (100 - low) * (height - 2 * pad)
                points.append(f"{pad + j * step:.1f},{y:.1f}")
        colour = colours[i % len(colours)]
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>'
        )
        lines.append(
            f'<text x="{width - pad + 4}" y="{pad + 14 * i}" font-size="11" fill="{colour}">{e(key)}</text>'
        )
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#9aa5b1"/>'
        f'<text x="2" y="{pad}" font-size="11">100</text>'
        f'<text x="2" y="{height - pad}" font-size="11">{low:.0f}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width + 160}" height="{height}" role="img" '
        f'aria-label="score trend">{axis}{"".join(lines)}</svg>'
    )


def render(
    *,
    run_id: str,
    profile: str,
    started_at: str,
    exit_code: int,
    scores_now: Mapping[str, float],
    history: Sequence[Mapping[str, Any]],
    findings: pl.DataFrame,
    actions: Sequence[Mapping[str, Any]],
    applied: Mapping[str, int],
    notices: Sequence[str] = (),
    refused: Sequence[Mapping[str, Any]] = (),
) -> str:
    """The report's HTML. ``notices``: pulls that failed and mapped fields the org lacks, shown first;
    ``refused``: the applied actions the CRMs refused, grouped by their message (``refusal_groups``)."""
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>crm_ops run {e(run_id)}</title><style>{CSS}</style></head><body>",
        f"<h1>Data quality: run {e(run_id)}</h1>",
        f"<p>Profile <code>{e(profile)}</code>, started {e(started_at)}, exit code {e(exit_code)}.</p>",
    ]
    if notices:
        parts.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notices) + "</ul>")
    parts.append("<h2>Score per object</h2><table><tr><th>object</th><th>score</th></tr>")
    for key, value in sorted(scores_now.items()):
        css = "good" if value >= 98 else "warn" if value >= 90 else "bad"
        parts.append(f'<tr><td>{e(key)}</td><td class="n {css}">{value:.2f}</td></tr>')
    parts.append("</table><h2>Trend</h2>")
    parts.append(_trend_svg(history))
    top = (
        findings.group_by("rule", "severity").agg(pl.len().alias("n")).sort("n", descending=True).head(15)
        if findings.height
        else pl.DataFrame()
    )
    parts.append("<h2>Top failing rules</h2><table><tr><th>rule</th><th>severity</th><th>findings</th></tr>")
    for row in top.iter_rows(named=True):
        parts.append(
            f'<tr><td>{e(row["rule"])}</td><td>{e(row["severity"])}</td><td class="n">{row["n"]:,}</td></tr>'
        )
    parts.append("</table>")
    parts.append(
        "<h2>Plan</h2><p>" + ", ".join(f"{e(k)}: {v:,}" for k, v in sorted(applied.items())) + "</p>"
        "<table><tr><th>kind</th><th>object</th><th>record</th><th>field</th><th>now</th><th>proposed</th>"
        "<th>rule</th><th>confidence</th></tr>"
    )
    for a in actions[:200]:
        parts.append(
            f"<tr><td>{e(a['kind'])}</td><td>{e(a['system'])}.{e(a['entity'])}</td><td>{e(a['record_id'])}</td>"
            f"<td>{e(a['field'])}</td><td>{e(a['seen_value'])}</td><td>{e(a['proposed_value'])}</td>"
            f"<td>{e(a['rule'])}</td><td class=n>{e(a['confidence'])}</td></tr>"
        )
    parts.append(f"</table><p>{len(actions):,} actions in all (the first 200 shown).</p>")
    if refused:
        parts.append("<h2>Refused by the CRM</h2>")
        for group in refused:
            parts.append(
                f"<h3>{e(group['system'])}.{e(group['entity'])}: {e(group['reason'])} "
                f"({group['count']:,})</h3><table><tr><th>record</th><th>field</th><th>the CRM said</th></tr>"
            )
            for r in list(group["records"])[:20]:
                parts.append(
                    f"<tr><td>{e(r['record_id'])}</td><td>{e(r['field'])}</td><td>{e(r['error'])}</td></tr>"
                )
            parts.append("</table>")
    parts.append("<h2>Sample failing records</h2>")
    for row in top.head(8).iter_rows(named=True):
        sample = findings.filter(pl.col("rule") == row["rule"]).head(5)
        parts.append(f"<h3>{e(row['rule'])}</h3><table><tr><th>object</th><th>record</th><th>field</th>"
                     "<th>value</th><th>proposed</th><th>message</th></tr>")  # fmt: skip
        for f in sample.iter_rows(named=True):
            parts.append(
                f"<tr><td>{e(f['system'])}.{e(f['entity'])}</td><td>{e(f['record_id'])}</td><td>{e(f['field'])}</td>"
                f"<td>{e(f['current_value'])}</td><td>{e(f['proposed_value'])}</td><td>{e(f['message'])}</td></tr>"
            )
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)
