"""The score trend: an inline SVG line chart (dates along the bottom, a scale with gridlines, one line a
object), and its legend as an HTML list whose swatches line up with their names. It scales to its box."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crm_ops.report.html import e

COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b", "#744210", "#4a5568")


def colour(i: int) -> str:
    """The i-th series' colour."""
    return COLOURS[i % len(COLOURS)]


def _when(run: Mapping[str, Any]) -> str:
    """A run's start as ``YYYY-MM-DD HH:MM`` (UTC)."""
    started = str(run.get("started_at") or "")
    return started[:16].replace("T", " ") if len(started) >= 16 else str(run.get("run_id") or "")[:13]


def labels(history: Sequence[Mapping[str, Any]]) -> list[str]:
    """The x axis' labels: dates, or dates and times when two runs share a day."""
    when = [_when(h) for h in history]
    days = [w[:10] for w in when]
    return days if len(set(days)) == len(days) else [w[5:] for w in when]


def trend_svg(history: Sequence[Mapping[str, Any]]) -> str:
    """Score per object over the runs (oldest left); a sentence before the second run."""
    if len(history) < 2:
        return '<p class="muted">The trend appears after the second run.</p>'
    keys = sorted({k for h in history for k in h.get("scores", {})})
    width, height, left, right, top, bottom = 960, 260, 48, 16, 12, 32
    values = [v for h in history for v in h.get("scores", {}).values()]
    low = max(0.0, (int(min(values, default=100.0)) // 5) * 5 - 5.0) if values else 0.0
    low = min(low, 90.0)
    span = 100.0 - low
    step = (width - left - right) / (len(history) - 1)

    def y(v: float) -> float:
        return top + (100.0 - v) / span * (height - top - bottom)

    parts = []
    ticks = 5
    for i in range(ticks + 1):  # the scale, with gridlines
        v = low + span * i / ticks
        parts.append(
            f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" stroke="#e4e7eb"/>'
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="12" text-anchor="end" fill="#52606d">'
            f"{v:.0f}%</text>"
        )
    every = max(1, (len(history) + 7) // 8)  # at most ~8 date labels
    names = labels(history)
    for j in range(len(history)):
        x = left + j * step
        if j % every == 0 or j == len(history) - 1:
            anchor = "start" if j == 0 else "end" if j == len(history) - 1 else "middle"
            parts.append(
                f'<line x1="{x:.1f}" y1="{height - bottom}" x2="{x:.1f}" y2="{height - bottom + 5}" '
                f'stroke="#9aa5b1"/><text x="{x:.1f}" y="{height - bottom + 20}" font-size="12" '
                f'text-anchor="{anchor}" fill="#52606d">{e(names[j])}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#9aa5b1"/>'
    )
    for i, key in enumerate(keys):
        points = [
            f"{left + j * step:.1f},{y(float(h['scores'][key])):.1f}"
            for j, h in enumerate(history)
            if key in h.get("scores", {})
        ]
        parts.append(
            f'<polyline fill="none" stroke="{colour(i)}" stroke-width="2.5" points="{" ".join(points)}">'
            f"<title>{e(key)}</title></polyline>"
        )
        for point in points:
            cx, cy = point.split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour(i)}"/>')
    legend = "".join(
        f'<li><span class="sw" style="background:{colour(i)}"></span>{e(key)}</li>'
        for i, key in enumerate(keys)
    )
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="score per object, run by run">{"".join(parts)}</svg><ul class="legend">{legend}</ul>'
    )


def counts_trend(history: Sequence[Mapping[str, Any]], rule: str, now: int, last: int = 6) -> str:
    """A rule's findings over the last runs, oldest first, ending with this run's count."""
    seen = [
        int(h.get("findings_by_rule", {}).get(rule, 0)) for h in history[-last:-1] if "findings_by_rule" in h
    ]
    return " → ".join(f"{n:,}" for n in [*seen, now])
