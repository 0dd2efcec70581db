"""A run's page (runs/<run id>/report.html): what a Business Ops Engineer opens in the morning.

Sections: the verdict (exit code and the threshold that set it), the score per object with its counts
and definition, the trend, the rules (description, findings, new and resolved since the last run, the
trend of their counts), the plan's actions counted by rule as applied, awaiting review (the commonest
reasons) or refused, the refused listed (the CRM's message, links to the records) and the command that
opens the review app on the plan, why the proposed merges match (the waterfall of each one's pair),
new and resolved findings, and the warnings of the pull.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from crm_ops.explain import outcome, waterfall
from crm_ops.report.html import e, link, page, pct, table
from crm_ops.report.monitors import breaker_section, field_audit_section, monitors_section
from crm_ops.report.owners import render_owners
from crm_ops.report.scores import DEFINITION, Score
from crm_ops.report.trend import counts_trend, trend_svg
from crm_ops.triage import KEY, Triage, changes

APPLIED = ("done", "already done")
SHOWN = 200  # rows per table at most (the files hold them all)
WHY_WAITING = 10  # the commonest reasons actions wait for a person, with their counts
CONFIDENCE_REASON = re.compile(r"^confidence \S+ < (\S+)$")  # plan.review's, grouped by the bar alone
ACTION_COLUMNS = (
    "status", "kind", "object", "record", "field", "now", "proposed", "other record", "rule",
    "why / CRM's message",
)  # fmt: skip


@dataclass
class Threshold:
    """What sets exit code 1: findings at ``fail_on`` or above, more of them than ``max_findings``."""

    fail_on: str = "error"
    max_findings: int = 0
    serious: int = 0  # findings at fail_on or above in this run


@dataclass
class RunData:
    """Everything a run's page shows; the runner fills it with what it has."""

    run_id: str
    profile: str
    started_at: str
    exit_code: int
    counts: Mapping[str, Score]
    findings: pl.DataFrame
    history: Sequence[Mapping[str, Any]] = ()  # summaries of the past runs, this one last
    previous: pl.DataFrame | None = None  # the last run's findings
    previous_run: str | None = None
    rules: Mapping[str, str] = field(default_factory=dict)  # rule id -> description
    threshold: Threshold = field(default_factory=Threshold)
    actions: Sequence[Mapping[str, Any]] = ()  # the plan's actions (as dicts)
    plan_folder: str | None = None  # where the run wrote its plan (the review app's command names it)
    chosen: frozenset[str] = frozenset()  # ids of the actions the run applied (or tried to)
    outcomes: Sequence[Mapping[str, Any]] = ()  # the apply's outcome per action
    refused: str | None = None  # why nothing was applied (rules missing)
    refusals: Sequence[Mapping[str, Any]] = ()  # what the CRMs refused, grouped by their message
    applied: Mapping[str, int] = field(default_factory=dict)
    notices: Sequence[str] = ()
    rule_errors: Sequence[Mapping[str, Any]] = ()  # rules that could not load or raised (summary's)
    triage: Triage | None = None  # owners, new and resolved per owner, muted and acknowledged findings
    monitors: Sequence[Mapping[str, Any]] = ()  # the data monitors' findings (summary's)
    breaker: Mapping[str, Any] | None = None  # the circuit breaker: tripped, reasons, overridden
    field_audit: Sequence[Mapping[str, Any]] = ()  # columns nearly empty or off their picklist


def rule_id(rule: Any) -> str:
    """A rule id that may break after its dots (never inside a word)."""
    return "<code>" + e(rule).replace(".", ".<wbr>") + "</code>"


def _verdict(d: RunData) -> str:
    t = d.threshold
    why = {
        0: f"clean: {t.serious:,} findings at {e(t.fail_on)} or above, at most {t.max_findings:,} allowed",
        1: f"{t.serious:,} findings at {e(t.fail_on)} or above, more than the {t.max_findings:,} allowed",
        9: "a data monitor tripped the circuit breaker (see below): the run applied nothing",
        6: "some entities could not be pulled (see the warnings); the rest were checked and planned",
        7: (
            "some rules could not be loaded or raised (listed below): their findings are missing"
            if d.rule_errors
            else "the CRM refused records the run applied (listed below)"
        ),
    }.get(d.exit_code, "see run.log")
    css = "good" if d.exit_code == 0 else "bad"
    return (
        f'<p>Exit code <b class="{css}">{d.exit_code}</b>: {why}. The threshold is the profile\'s '
        f'<code>[profiles.{e(d.profile)}.run]</code> <code>fail_on = "{e(t.fail_on)}"</code>, '
        f"<code>max_findings = {t.max_findings}</code>.</p>"
    )


def _scores(d: RunData) -> str:
    total = sum(s.records for s in d.counts.values())
    passed = sum(s.passed for s in d.counts.values())
    cards = [
        f'<div class="card">All objects<b>{pct(Score(total, passed).percent if total else 100.0)}</b>'
        f"{passed:,} of {total:,} records passed</div>",
        f'<div class="card">Findings<b>{d.findings.height:,}</b>{d.threshold.serious:,} at '
        f"{e(d.threshold.fail_on)} or above</div>",
        f'<div class="card">Actions planned<b>{len(d.actions):,}</b>'
        f"{sum(d.applied.get(s, 0) for s in APPLIED):,} applied by this run</div>",
    ]
    rows = [
        [e(key), f"{s.records:,}", f"{s.passed:,}", f"{s.records - s.passed:,}", pct(s.percent)]
        for key, s in sorted(d.counts.items())
    ]
    return f'<div class="cards">{"".join(cards)}</div><p class="muted">{e(DEFINITION)}</p>' + table(
        ["object", "records", "passed", "with a finding", "score"], rows, numeric=(1, 2, 3, 4)
    )


def _rules(d: RunData, new: pl.DataFrame, resolved: pl.DataFrame) -> str:
    if d.findings.is_empty() and resolved.is_empty():
        return "<p>No findings.</p>"
    per = (
        d.findings.group_by("rule").agg(
            pl.len().alias("n"), pl.col("severity").first(), pl.col("message").first()
        )
        if d.findings.height
        else pl.DataFrame(
            schema={"rule": pl.String, "n": pl.UInt32, "severity": pl.String, "message": pl.String}
        )
    )
    counts_new = dict(new.group_by("rule").len().iter_rows()) if new.height else {}
    counts_gone = dict(resolved.group_by("rule").len().iter_rows()) if resolved.height else {}
    info = {r["rule"]: r for r in per.iter_rows(named=True)}
    order = sorted(set(info) | set(counts_gone), key=lambda r: (-(info.get(r, {}).get("n") or 0), r))
    rows = []
    for rule in order:
        row = info.get(rule, {})
        n = int(row.get("n") or 0)
        rows.append(
            [
                rule_id(rule),
                e(d.rules.get(rule) or (f"e.g. {row['message']}" if row.get("message") else "")),
                e(row.get("severity") or ""),
                f"{n:,}",
                f"{counts_new.get(rule, 0):,}" if d.previous is not None else "-",
                f"{counts_gone.get(rule, 0):,}" if d.previous is not None else "-",
                e(counts_trend(d.history, rule, n)),
            ]
        )
    since = f"since run {e(d.previous_run)}" if d.previous_run else "(no earlier run to compare with)"
    return f"<p>New and resolved {since}.</p>" + table(
        ["rule", "what it checks", "severity", "findings", "new", "resolved", "trend (last runs)"],
        rows,
        numeric=(3, 4, 5),
    )


def _status(action: Mapping[str, Any], d: RunData, outcome: Mapping[str, Any] | None) -> tuple[str, str, str]:
    """(badge class, status, detail) of an action."""
    if d.refused and action.get("action_id") in d.chosen:
        return "refused", "refused", d.refused
    if outcome is not None:
        status = str(outcome.get("status"))
        if status in APPLIED:
            return "applied", "applied", ""
        return "refused", status, str(outcome.get("error") or "")
    why = action.get("review_reason") or (
        "approved: apply with crm-ops apply" if action.get("approved") else ""
    )
    return "review", "awaiting review", str(why)


def _actions(d: RunData) -> str:
    if not d.actions:
        return "<p>The plan is empty.</p>"
    outcomes = {o.get("action_id"): o for o in d.outcomes}
    groups: dict[str, list[tuple[Mapping[str, Any], str, str]]] = {"applied": [], "refused": [], "review": []}
    for a in d.actions:
        css, status, detail = _status(a, d, outcomes.get(a.get("action_id")))
        groups[css].append((a, status, detail))
    summary = (
        f"<p><span class='badge applied'>applied {len(groups['applied']):,}</span> "
        f"<span class='badge review'>awaiting review {len(groups['review']):,}</span> "
        f"<span class='badge refused'>refused or failed {len(groups['refused']):,}</span> "
        f"of {len(d.actions):,} actions. The run applies only what <code>[profiles.{e(d.profile)}.run] "
        "auto_apply</code> names; the rest waits in plan.csv for a person.</p>"
    )
    parts = [summary]
    if groups["review"]:
        where = e(shlex.quote(str(d.plan_folder))) if d.plan_folder else "PLAN"
        parts.append(
            f"<p>Review them in the browser: <code>crm-ops review {where} --profile "
            f"{e(shlex.quote(d.profile))}</code> "
            "prints the address to open (it holds a token made for that run), or in plan.csv.</p>"
        )
    parts.append(_action_counts(groups))
    reasons: dict[str, int] = {}
    for _, _, detail in groups["review"]:
        # "confidence 0.62 < 0.95": one reason whatever each action's own confidence
        reason = CONFIDENCE_REASON.sub(r"confidence below \1", detail) if detail else "(no reason given)"
        reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        top = sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:WHY_WAITING]
        items = "".join(f"<li>{e(reason)} ({count:,})</li>" for reason, count in top)
        more = (
            f"<li class=muted>{len(reasons) - len(top):,} more reasons</li>"
            if len(reasons) > len(top)
            else ""
        )
        parts.append(f"<p>Why they wait:</p><ul>{items}{more}</ul>")
    # the refused and failed need a person now: each row shown (the applied and waiting are counted)
    rows = []
    for a, status, detail in groups["refused"][:SHOWN]:
        label = a.get("label") or a.get("record_id")
        other = (
            link(a.get("other_url"), a.get("other_label") or a.get("other_id")) if a.get("other_id") else ""
        )
        rows.append(
            [
                f"<span class='badge refused'>{e(status)}</span>",
                e(a.get("kind")),
                f"{e(a.get('system'))}.{e(a.get('entity'))}",
                link(a.get("url"), label) + (f"<br><span class=muted>{e(a.get('record_id'))}</span>"),
                e(a.get("field")),
                f"<span class=v>{e(a.get('seen_value'))}</span>",
                f"<span class=v>{e(a.get('proposed_value'))}</span>",
                other,
                rule_id(a.get("rule")),
                e(detail),
            ]
        )
    if rows:
        parts.append(f"<h3>Refused or failed ({len(groups['refused']):,})</h3>")
        parts.append(table(ACTION_COLUMNS, rows))
        hidden = len(groups["refused"]) - len(rows)
        if hidden > 0:
            parts.append(
                f'<p class="muted">{hidden:,} more; the refusals below group each by the CRM\'s message.</p>'
            )
    return "".join(parts)


def _action_counts(groups: Mapping[str, list[tuple[Mapping[str, Any], str, str]]]) -> str:
    """The actions counted by rule, kind and object: applied, awaiting review, refused or failed; one
    short row each, the most first (issue 29: a row per action made pages tens of thousands of px tall)."""
    counted: dict[tuple[str, str, str], dict[str, int]] = {}
    for css, members in groups.items():
        for a, _, _ in members:
            key = (str(a.get("rule") or ""), str(a.get("kind") or ""), f"{a.get('system')}.{a.get('entity')}")
            counted.setdefault(key, {"applied": 0, "review": 0, "refused": 0})[css] += 1
    ordered = sorted(counted.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    rows = [
        [rule_id(rule), e(kind), e(where), f"{c['applied']:,}", f"{c['review']:,}", f"{c['refused']:,}"]
        for (rule, kind, where), c in ordered[:SHOWN]
    ]
    more = len(ordered) - len(rows)
    tail = f'<p class="muted">{more:,} more rules in plan.csv.</p>' if more > 0 else ""
    columns = ["rule", "kind", "object", "applied", "awaiting review", "refused or failed"]
    return table(columns, rows, numeric=(3, 4, 5)) + tail


WHY_SHOWN = 20  # merges and conversions whose waterfall the page draws (plan show and plan.csv: all)


def _bar(weight: float, widest: float) -> str:
    """A weight as an inline bar (green for, red against the match), its length relative to ``widest``."""
    width = 0.0 if widest <= 0 else min(100.0, 100.0 * abs(weight) / widest)
    side = "pos" if weight >= 0 else "neg"
    return f'<span class="bar {side}" style="width:{width:.0f}%"></span> {weight:+.2f}'


def _readable(text: Any) -> bool:
    """An ``explain`` text that reads (a plan edited by hand may hold anything: left out, not fatal)."""
    if not isinstance(text, str) or not text:
        return False
    try:
        waterfall(text)
    except ValueError:
        return False
    return True


def why_section(actions: Sequence[Mapping[str, Any]]) -> str:
    """Why the proposed merges and conversions match: per proposal (the first ``WHY_SHOWN``), the
    waterfall of its pair's ``explain`` text (``crm_ops.explain``): the prior, each field with its
    comparison level, signed weight (a bar) and the running total, and what they come to (the match
    probability, or the score). Empty when no proposal carries an ``explain``."""
    explained = [
        a
        for a in actions
        if a.get("kind") in ("merge", "convert") and _readable((a.get("detail") or {}).get("explain"))
    ]
    if not explained:
        return ""
    parts = ["<h2>Why the merges match</h2>"]
    for a in explained[:WHY_SHOWN]:
        text = a["detail"]["explain"]
        rows = waterfall(text)
        widest = max((abs(w) for _, _, w, _ in rows), default=0.0)
        kind, value = outcome(text)
        shown = f"{value:.4f}" if kind == "probability" else f"{value:.2f}"
        parts.append(
            f"<h3>{e(a.get('label') or a.get('record_id'))} &rarr; "
            f"{e(a.get('other_label') or a.get('proposed_value'))} "
            f"<span class=muted>({e(a.get('system'))}.{e(a.get('entity'))}, {e(kind)} {shown})</span></h3>"
        )
        parts.append(
            table(
                ["field", "level", "weight", "running total"],
                [[e(f), e(level), _bar(w, widest), f"{t:+.2f}"] for f, level, w, t in rows],
                numeric=(3,),
            )
        )
    if len(explained) > WHY_SHOWN:
        parts.append(f'<p class="muted">{len(explained) - WHY_SHOWN:,} more in plan.csv (explain).</p>')
    return "".join(parts)


def _finding_rows(keys: pl.DataFrame, d: RunData, source: pl.DataFrame | None) -> list[list[str]]:
    urls = {
        (a.get("system"), a.get("entity"), a.get("record_id")): (a.get("url"), a.get("label"))
        for a in d.actions
    }
    shown = keys.sort(KEY, nulls_last=True).head(SHOWN)
    if source is not None and source.height:
        extra = source.select([*KEY, "current_value", "message"]).unique(KEY, keep="first")
        shown = shown.join(extra, on=KEY, how="left", nulls_equal=True)
    rows = []
    for f in shown.iter_rows(named=True):
        url, label = urls.get((f["system"], f["entity"], f["record_id"]), (None, None))
        rows.append(
            [
                rule_id(f["rule"]),
                f"{e(f['system'])}.{e(f['entity'])}",
                link(url, label or f["record_id"]),
                e(f["field"]),
                f"<span class=v>{e(f.get('current_value'))}</span>",
            ]
        )
    return rows


def _changes(d: RunData, new: pl.DataFrame, resolved: pl.DataFrame) -> str:
    if d.previous is None:
        return '<p class="muted">New and resolved findings appear from the second run.</p>'
    head = ["rule", "object", "record", "field", "value"]
    parts = [f"<h3>New ({new.height:,})</h3>"]
    parts.append(table(head, _finding_rows(new, d, d.findings)) if new.height else "<p>None.</p>")
    parts.append(f"<h3>Resolved ({resolved.height:,})</h3>")
    parts.append(table(head, _finding_rows(resolved, d, d.previous)) if resolved.height else "<p>None.</p>")
    if max(new.height, resolved.height) > SHOWN:
        parts.append(
            f'<p class="muted">The first {SHOWN} of each shown; findings.parquet holds them all.</p>'
        )
    return "".join(parts)


def _refusals(d: RunData) -> str:
    """The applied actions the CRMs refused, one table per message (``plan.outcomes.refusal_groups``)."""
    parts = []
    for group in d.refusals:
        where = f"{e(group['system'])}.{e(group['entity'])}"
        parts.append(f"<h3>{where}: {e(group['reason'])} ({int(group['count']):,})</h3>")
        rows = [
            [e(r["record_id"]), e(r.get("field")), e(r.get("error"))] for r in list(group["records"])[:20]
        ]
        parts.append(table(["record", "field", "the CRM said"], rows))
    return "".join(parts)


def rule_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """The rules that could not be loaded or raised, each with where and why (a summary's
    ``rule_errors``): their findings are missing from the run."""
    rows = [
        [
            e("could not load" if err.get("stage") == "load" else "raised"),
            rule_id(err.get("rule") or "(whole file)"),
            e(err.get("source") or " ".join(str(err.get(k) or "") for k in ("system", "entity")).strip()),
            f'<span class="v">{e(err.get("error"))}</span>',
        ]
        for err in errors
    ]
    return (
        f'<p class="bad">{len(rows):,} rule error(s): the findings of these rules are missing from this '
        "run, and the run applied nothing (a fix is judged by every rule of its field).</p>"
        + table(["what", "rule", "where", "error"], rows)
    )


def render_run(d: RunData) -> str:
    """The run page's HTML."""
    new, resolved = changes(d.findings, d.previous)
    body = [
        '<p class="muted"><a href="../index.html">All runs</a></p>',
        f"<h1>Data quality: run {e(d.run_id)}</h1>",
        f'<p class="lead">Profile <code>{e(d.profile)}</code>, started {e(d.started_at)}.</p>',
        _verdict(d),
        breaker_section(d.breaker),
    ]
    if d.rule_errors:
        body += ["<h2>Rule errors</h2>", rule_errors(d.rule_errors)]
    if d.notices:
        body.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in d.notices) + "</ul>")
    body += [
        monitors_section(d.monitors, d.history),
        "<h2>Score per object</h2>",
        _scores(d),
        "<h2>Trend</h2>",
        trend_svg(d.history),
        field_audit_section(d.field_audit),
        *(["<h2>Owners and muted findings</h2>", render_owners(d.triage)] if d.triage else []),
        "<h2>Rules</h2>",
        _rules(d, new, resolved),
        "<h2>Actions</h2>",
        _actions(d),
        why_section(d.actions),
        *(["<h2>Refused by the CRM</h2>", _refusals(d)] if d.refusals else []),
        "<h2>New and resolved findings</h2>",
        _changes(d, new, resolved),
    ]
    return page(f"crm_ops run {d.run_id}", body)
