"""What a plan would do, for the person about to apply it: ``crm-ops plan show`` and ``apply``'s dry run.

``summarise`` gives the figures and samples as plain data (``--json`` prints it): counts by rule, kind,
object and approval state (and why rows need review), a few before -> after rows per rule with their
labels, and merges with both records side by side, the child records each moves to its survivor and
why its records match (the waterfall of its pair's ``explain``: ``why_matched``).
``render`` lays that out as text tables.

CRM values are untrusted: they go into the tables as plain text (never as console markup), with
control characters (terminal escapes among them) shown as ``\\xNN``.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from crm_ops.explain import outcome, waterfall
from crm_ops.plan.format import Action, Plan
from crm_ops.plan.review import irreversible_parts, reason_group

APPROVED, NEEDS_REVIEW, UNSTATED = "approved", "needs review", "not stated (version 1 plan)"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _state(approved: bool | None) -> str:
    return {True: APPROVED, False: NEEDS_REVIEW, None: UNSTATED}[approved]


def _record(
    system: str, entity: str, record_id: str | None, label: str | None, url: str | None
) -> dict[str, Any]:
    return {"system": system, "entity": entity, "id": record_id, "label": label, "url": url}


def summarise(
    plan: Plan,
    *,
    approvals: Mapping[str, bool] | None = None,
    samples: int = 3,
    merges: int = 10,
) -> dict[str, Any]:
    """The plan's figures and samples. ``approvals`` (a reviewed plan.csv) overrides the defaults the
    plan holds; ``samples`` rows per rule, ``merges`` merges shown."""

    def approved(a: Action) -> bool | None:
        return approvals.get(a.action_id, False) if approvals is not None else a.approved

    by_rule: dict[str, dict[str, Any]] = {}
    kinds: Counter[str] = Counter()
    objects: Counter[str] = Counter()
    states: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    sample_rows: dict[str, list[dict[str, Any]]] = {}
    merge_rows: list[dict[str, Any]] = []
    merge_total = 0
    for a in plan.actions:
        ok = approved(a)
        state = _state(ok)
        entry = by_rule.setdefault(a.rule, {"kind": a.kind, "actions": 0, APPROVED: 0, NEEDS_REVIEW: 0})
        entry["actions"] += 1
        if ok is not None:
            entry[APPROVED if ok else NEEDS_REVIEW] += 1
        kinds[a.kind] += 1
        objects[f"{a.system}.{a.entity}"] += 1
        states[state] += 1
        if ok is False:
            reasons[reason_group(a.review_reason) if a.review_reason else "not approved in the review"] += 1
        if a.kind in ("merge", "convert"):
            merge_total += 1
            if len(merge_rows) < merges:
                detail = a.detail or {}
                kept = "Contact" if a.kind == "convert" else a.entity
                merge_rows.append(
                    {
                        "kind": a.kind,
                        "rule": a.rule,
                        "confidence": a.confidence,
                        "approval": state,
                        "review_reason": a.review_reason,
                        "duplicate": _record(a.system, a.entity, a.record_id, a.label, a.url),
                        "survivor": _record(a.system, kept, a.proposed_value, a.other_label, a.other_url),
                        "survivor_values": list(detail.get("values") or []),
                        # the children the merge moves to the survivor (None: the plan did not count)
                        "moves": dict(detail["moves"]) if "moves" in detail else None,
                        "notes": list(detail.get("notes") or []),
                        "cannot_undo": irreversible_parts(a),
                        "reason": a.reason,
                        **why_matched(detail.get("explain")),
                    }
                )
            continue
        rows = sample_rows.setdefault(a.rule, [])
        if len(rows) < samples:
            rows.append(
                {
                    "kind": a.kind,
                    "record": _record(a.system, a.entity, a.record_id, a.label, a.url),
                    "account": a.account,
                    "field": a.field,
                    "before": a.seen_value,
                    "after": a.proposed_value,
                    "other": _record(a.system, a.entity, a.other_id, a.other_label, a.other_url)
                    if a.other_id
                    else None,
                    "confidence": a.confidence,
                    "approval": state,
                    "review_reason": a.review_reason,
                }
            )
    return {
        "plan_id": plan.header.plan_id,
        "created_at": plan.header.created_at,
        "profile": plan.header.profile,
        "version": plan.header.version,
        "review": plan.header.review,
        "actions": len(plan.actions),
        "by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1]["actions"], kv[0]))),
        "by_kind": dict(kinds.most_common()),
        "by_object": dict(objects.most_common()),
        "by_approval": dict(states.most_common()),
        "review_reasons": dict(reasons.most_common()),
        "samples": sample_rows,
        "merges": merge_rows,
        "merges_total": merge_total,
    }


def why_matched(text: str | None) -> dict[str, Any]:
    """Why a merge's or conversion's records are said to match, from its pair's ``explain`` text
    (``crm_ops.explain``): ``waterfall``, the prior then each field with its comparison level, signed
    weight and the running total; ``outcome``, the match probability under the Fellegi-Sunter model (the
    prior is not 0) or the score. Empty lists and None without a text (a plan made before matching
    explained itself)."""
    if not text:
        return {"waterfall": [], "outcome": None}
    try:
        drawn = waterfall(text)
    except ValueError as exc:  # a plan.jsonl edited by hand: said, not fatal to showing the rest
        unreadable = {"field": "(unreadable)", "level": str(exc), "weight": 0.0, "total": 0.0}
        return {"waterfall": [unreadable], "outcome": None}
    rows = [
        {"field": field, "level": level, "weight": weight, "total": running}
        for field, level, weight, running in drawn
    ]
    kind, value = outcome(text)
    return {"waterfall": rows, "outcome": {kind: value}}


def _why(merge: Mapping[str, Any]) -> Text:
    """A merge's waterfall as lines: ``field level +weight = running total``, then the outcome."""
    rows = merge.get("waterfall") or []
    if not rows:
        return safe("")
    lines = [
        f"{r['field']} {r['level']} {r['weight']:+.2f} = {r['total']:+.2f}".replace("  ", " ") for r in rows
    ]
    for kind, value in (merge.get("outcome") or {}).items():
        lines.append(f"{kind} {value:.4f}" if kind == "probability" else f"{kind} {value:.2f}")
    return Text("\n").join(safe(line) for line in lines)


def safe(value: Any) -> Text:
    """A value as plain text for the console: no markup, control characters shown as ``\\xNN``."""
    if value is None:
        return Text("")
    text = value if isinstance(value, str) else str(value)
    return Text(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))


def _quoted(value: Any) -> str:
    return "(empty)" if value is None or value == "" else repr(_CONTROL.sub(" ", str(value)))


def _who(record: Mapping[str, Any] | None) -> Text:
    """A record's id and label, its URL on the next line."""
    if not record or not record.get("id"):
        return Text("")
    label, url = record.get("label"), record.get("url")
    text = safe(f"{record['id']} {label}" if label else record["id"])
    return text + "\n" + safe(url) if url else text


def _change(row: Mapping[str, Any]) -> Text:
    """Before -> after, as a person reads it: a link's target, a sync's source, a flag's value."""
    if row["kind"] == "flag":
        return safe(f"{_quoted(row['before'])} (nothing is written)")
    if row["kind"] == "associate":
        return safe(f"{_quoted(row['before'])} -> ") + _who(row["other"])
    change = safe(f"{_quoted(row['before'])} -> {_quoted(row['after'])}")
    if row["other"]:
        change += Text("\nfrom ") + _who(row["other"])
    return change


def _flag(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _ends_with(merge: Mapping[str, Any]) -> Text:
    """The survivor's changed values, where each comes from, the notes and what undo cannot restore."""
    lines = [
        f"{v.get('field')}: {_quoted(_flag(v.get('before')))} -> {_quoted(_flag(v.get('value')))} "
        f"({v.get('rule')}, from {', '.join(map(str, v.get('from') or []))})"
        for v in merge.get("survivor_values") or []
    ]
    lines += [f"note: {n}" for n in merge.get("notes") or []]
    moves = merge.get("moves")
    if moves is not None:
        moved = ", ".join(f"{n:,} {where}" for where, n in moves.items())
        lines.append(
            f"moves {sum(moves.values()):,} child records to the survivor" + (f": {moved}" if moved else "")
        )
    if merge.get("cannot_undo"):
        lines.append(f"undo: {merge['cannot_undo']}")
    return Text("\n").join(safe(line) for line in lines) if lines else safe("(its own values)")


def _table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[str] = ()
) -> Table:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="right" if col in numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(x if isinstance(x, Text) else safe(x) for x in row))
    return table


def tables(summary: Mapping[str, Any]) -> list[Table]:
    """The summary as tables: by rule, by object and approval, samples per rule, merges."""
    out = [
        _table(
            f"plan {summary['plan_id']} ({summary['profile']}): {summary['actions']:,} actions",
            ("rule", "kind", "actions", APPROVED, NEEDS_REVIEW),
            [
                (rule, e["kind"], f"{e['actions']:,}", f"{e[APPROVED]:,}", f"{e[NEEDS_REVIEW]:,}")
                for rule, e in summary["by_rule"].items()
            ],
            numeric=("actions", APPROVED, NEEDS_REVIEW),
        ),
        _table(
            "by kind, object and approval",
            ("count of", "value", "actions"),
            [
                *(("kind", k, f"{n:,}") for k, n in summary["by_kind"].items()),
                *(("object", k, f"{n:,}") for k, n in summary["by_object"].items()),
                *(("approval", k, f"{n:,}") for k, n in summary["by_approval"].items()),
                *(("needs review because", k, f"{n:,}") for k, n in summary["review_reasons"].items()),
            ],
            numeric=("actions",),
        ),
    ]
    for rule, rows in summary["samples"].items():
        out.append(
            _table(
                f"{rule}: a sample",
                ("record", "account", "field", "before -> after", "confidence", "approval", "why review"),
                [
                    (
                        _who(r["record"]),
                        r["account"],
                        r["field"],
                        _change(r),
                        "" if r["confidence"] is None else f"{r['confidence']:.2f}",
                        r["approval"],
                        r["review_reason"],
                    )
                    for r in rows
                ],
            )
        )
    if summary["merges"]:
        columns = ["object", "merged away", "kept", "survivor ends with", "confidence", "approval"]
        rows = []
        for m in summary["merges"]:
            rows.append(
                [
                    f"{m['duplicate']['system']}.{m['duplicate']['entity']}"
                    + (" (convert)" if m.get("kind") == "convert" else ""),
                    _who(m["duplicate"]),
                    _who(m["survivor"]),
                    _ends_with(m),
                    "" if m["confidence"] is None else f"{m['confidence']:.2f}",
                    m["approval"],
                ]
            )
        title = f"merges and conversions ({len(summary['merges'])} of {summary['merges_total']:,}): "
        out.append(_table(title + "duplicate -> survivor", columns, rows))
        # why they match, in a table of its own (a waterfall is many lines; the merges' table keeps its
        # width): only when a merge says (a plan made before matching explained itself has none)
        why = [
            [_who(m["duplicate"]), _who(m["survivor"]), _why(m)]
            for m in summary["merges"]
            if m.get("waterfall")
        ]
        if why:
            out.append(
                _table(
                    "why they match: each field's weight, and the running total",
                    ["merged away", "kept", "why"],
                    why,
                )
            )
    return out


def render(summary: Mapping[str, Any], *, width: int | None = 120) -> str:
    """The summary as text (``width`` None: the terminal's)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 120, no_color=True, highlight=False, emoji=False)
    for table in tables(summary):
        console.print(table)
    return buffer.getvalue()
