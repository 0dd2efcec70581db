"""The run page's circuit breaker and data monitor sections (``crm_ops.monitors``): the breaker first
(why the run applied nothing, or that a person overrode it), then each monitor finding with what was
seen and what was usual, and a trend of the live records per entity over the runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crm_ops.report.html import e, table
from crm_ops.report.trend import trend_svg


def breaker_section(breaker: Mapping[str, Any] | None) -> str:
    """The circuit breaker: tripped (and why), overridden, or held (empty when it did not trip)."""
    if not breaker or not breaker.get("tripped"):
        return ""
    if breaker.get("overridden"):
        head = (
            '<p><b class="bad">The circuit breaker tripped</b> and a person overrode it for this run '
            "(<code>--override-breaker</code>): the run applied its safe fixes anyway.</p>"
        )
    else:
        head = (
            '<p><b class="bad">The circuit breaker tripped</b>: the data this run read may be wrong, so it '
            "checked and planned but applied nothing unattended and merged nothing. Look at the reasons; "
            "when the data is right, <code>crm-ops run --override-breaker</code> applies once.</p>"
        )
    reasons = "".join(f"<li>{e(r)}</li>" for r in breaker.get("reasons", []))
    return f"<h2>Circuit breaker</h2>{head}<ul>{reasons}</ul>"


def live_history(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The runs' live records per entity as the trend chart's series: each entity as a share of its
    largest count over the runs (a drop to 60% reads as one)."""
    most: dict[str, int] = {}
    for run in history:
        for key, n in (run.get("live_records") or {}).items():
            most[key] = max(most.get(key, 0), int(n))
    return [
        {
            "started_at": run.get("started_at"),
            "run_id": run.get("run_id"),
            "scores": {
                k: 100.0 * int(n) / most[k] for k, n in (run.get("live_records") or {}).items() if most[k]
            },
        }
        for run in history
        if run.get("live_records")
    ]


def monitors_section(monitors: Sequence[Mapping[str, Any]], history: Sequence[Mapping[str, Any]]) -> str:
    """Every monitor finding of the run (errors first), and the live records' trend."""
    order = {"error": 0, "warning": 1, "info": 2}
    rows = [
        [
            e(m.get("severity")),
            f"<code>{e(m.get('monitor'))}</code>",
            e(f"{m.get('system')}.{m.get('entity')}" + (f".{m['field']}" if m.get("field") else "")),
            e(m.get("message")),
            e(m.get("observed") or ""),
            e(m.get("expected") or ""),
        ]
        for m in sorted(monitors, key=lambda m: order.get(str(m.get("severity")), 3))
    ]
    found = (
        table(["severity", "monitor", "where", "what", "seen", "usual"], rows)
        if rows
        else "<p>No monitor fired: volume, freshness, empty values and value shares are as usual (or the "
        "monitors are still learning the first runs).</p>"
    )
    trend = live_history(history)
    chart = (
        "<p class='muted'>Live records per entity, as a share of its largest count over the runs.</p>"
        + trend_svg(trend)
        if trend
        else ""
    )
    return f"<h2>Data monitors</h2>{found}{chart}"


def field_audit_section(columns: Sequence[Mapping[str, Any]]) -> str:
    """The run's field audit (``crm_ops.fieldaudit.run_audit``): the columns holding values off their
    field's picklist, then those nearly empty (empty when nothing lists; ``crm-ops profile`` has all)."""
    if not columns:
        return ""

    def off(c: Mapping[str, Any]) -> str:
        if not c.get("off_picklist"):
            return ""
        values = ", ".join(f"{v} ({n:,})" for v, n in c.get("off_values", []))
        return f"{int(c['off_picklist']):,}: {values}"

    rows = [
        [
            e(f"{c.get('system')}.{c.get('entity')}.{c.get('column')}"),
            e(c.get("field") or ""),
            f"{float(c.get('fill_rate', 0)):.1%}",
            e(off(c)),
            e(str(c.get("empty_since") or "")[:10]),
        ]
        for c in columns
    ]
    return (
        "<h2>Field audit</h2><p>Columns holding values their field's picklist no longer offers, and "
        "columns filled on fewer than one record in ten (<code>crm-ops profile</code> audits every "
        "column).</p>" + table(["column", "field", "filled", "off the picklist", "empty since"], rows)
    )
