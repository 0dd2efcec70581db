"""The run page's "Owners and muted findings" section: each owner's open, new, resolved, muted and
acknowledged findings (``crm_ops.triage``), then the findings a mark covers: muted (not counted, not
applied), acknowledged, or under a mark that has expired (counted again)."""

from __future__ import annotations

import polars as pl

from crm_ops.report.html import e, table
from crm_ops.triage import KEY, Triage

SHOWN = 200  # marked findings listed at most (the findings CSV holds them all)


def render_owners(t: Triage) -> str:
    """The section's HTML."""
    compared = t.compared
    rows = [
        [
            e(name),
            e(" ".join(x for x in (c.get("email"), c.get("channel")) if x)),
            f"{c['open']:,}",
            f"{c['new']:,}" if compared else "-",
            f"{c['resolved']:,}" if compared else "-",
            f"{c['muted']:,}",
            f"{c['acknowledged']:,}",
            e(", ".join(f"{r} {n:,}" for r, n in c["rules"].items())),
        ]
        for name, c in t.owners.items()
    ]
    parts = [
        '<p class="muted">Owners come from <code>[profiles.P.owners]</code> (the most specific setting '
        "wins: rule, tag, entity, system, default). Muted findings are not counted toward the exit code nor "
        "in the webhook, and never applied unattended; <code>crm-ops findings muted</code> lists the "
        "marks.</p>"
    ]
    if rows:
        parts.append(
            table(
                ["owner", "reach", "open", "new", "resolved", "muted", "acknowledged", "most open (rule n)"],
                rows,
                numeric=(2, 3, 4, 5, 6),
            )
        )
    marked = t.findings.filter(pl.col("state") != "open") if t.findings.height else t.findings
    if marked.height:
        shown = marked.sort([*KEY], nulls_last=True).head(SHOWN)
        parts.append(f"<h3>Under a mute or acknowledgement ({marked.height:,})</h3>")
        parts.append(
            table(
                ["state", "rule", "object", "record", "field", "owner", "until", "note"],
                [
                    [
                        f"<span class='badge{' refused' if str(f['state']).startswith('expired') else ''}'>"
                        f"{e(f['state'])}</span>",
                        f"<code>{e(f['rule'])}</code>",
                        f"{e(f['system'])}.{e(f['entity'])}",
                        e(f["record_id"]),
                        e(f["field"]),
                        e(f["owner"]),
                        e(f["mark_until"]),
                        e(f["mark_note"]),
                    ]
                    for f in shown.iter_rows(named=True)
                ],
            )
        )
        if marked.height > SHOWN:
            parts.append(f'<p class="muted">The first {SHOWN}; crm-ops findings export lists them all.</p>')
    return "".join(parts)
