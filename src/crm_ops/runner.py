"""``crm-ops run``: the batch cron calls. Pull (incremental) -> check -> match -> plan -> apply the safe part.

Each run writes ``runs/<run id>/`` under the state dir: findings.parquet, plan.jsonl, plan.csv,
summary.json, report.html and run.log (JSON lines, the run id on each), and rewrites ``runs/index.html``
(every run, with a link to its report). A lock keeps two runs from overlapping: ``flock`` on
``run.lock``, which the kernel releases when its holder dies, so a dead run's lock (whatever its pid) is
taken over by the next run at once.

Exit codes (for cron; the table is ``crm_ops.exitcodes.ExitCode``):
    0  clean: no error finding (or fewer than the configured threshold)
    1  findings at or above the threshold
    2  configuration error
    3  CRM error (what was done is journaled; the next run resumes)
    4  stopped before the API budget was spent (the next run resumes)
    5  another run holds the lock
    6  partial: some entities could not be pulled (each named in the summary and report); the rest were
       pulled, checked, matched and planned, the failed ones from their previous snapshot if any
    7  a rule could not be loaded or raised (its findings are missing; named in the summary, the
       report and the webhook; nothing applied), or the CRM refused records the run applied
    8  operational error (disk full, state dir not writable); 70 a crash (a bug, traceback on stderr)
    9  the circuit breaker held the run back: a monitor at error level (a drop of live records, a
       stalled side of the sync, a mapped field gone from the org; ``crm_ops.monitors``) saw data that
       may be wrong, so the run pulled, checked and planned but applied nothing unattended and merged
       nothing (``--override-breaker`` lets one run apply). Precedence: 6 > 7 > 9 > 1 > 0 (a partial
       pull or a rule error says more about the run than the breaker; the summary's ``breaker`` is
       written whatever the code)

Safe auto-apply is configuration: ``[profiles.P.run] auto_apply = ["person.email.normalised", ...]``
(rule ids or ``tag:x``) with ``min_confidence`` (default 0.95); ``fail_on = "error"`` (or "warning") and
``max_findings = 0`` set exit code 1. Findings a person muted (``crm_ops.triage``) are not counted
toward it and never auto-applied; the summary counts findings per owner (``[profiles.P.owners]``), new
and resolved since the previous run. A production profile's run writes unattended only when its
``[profiles.P.run] allow_production = true`` (or ``--allow-production``) says so; without it, a run
whose ``auto_apply`` names rules is refused before it pulls (exit 2). A rule that could not be loaded
or raised is a rule error: exit 7, listed first in the summary, the report and the webhook, and the run
applies nothing (a fix is judged by every rule of its field). Whatever a run ends with, its folder
gets summary.json and report.html and the index lists it (``crm_ops.runrecord``). A run that ends
with any code but 0 posts to ``[profiles.P.notify]``'s webhook (``crm_ops.notify``); a failed post is
logged and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops import durable, logs
from crm_ops.check import profile_rules
from crm_ops.config import Profile
from crm_ops.engines import check_and_match_spark as _on_spark
from crm_ops.engines import state_snapshots
from crm_ops.errors import ConfigError, PartialPullError, PullFailure
from crm_ops.exitcodes import ExitCode
from crm_ops.fieldaudit import run_audit
from crm_ops.locks import LockedError, RunLock
from crm_ops.match import run_matching
from crm_ops.match.run import profile_settings
from crm_ops.match.sources import source_links
from crm_ops.monitors import breaker_reasons
from crm_ops.monitors.data import data_monitors, live_trend
from crm_ops.orgwatch import org_changes
from crm_ops.plan import write_plan
from crm_ops.plan.apply import Applier
from crm_ops.plan.format import new_plan_id
from crm_ops.plan.review import auto_appliable, auto_apply
from crm_ops.plan.settle import settle_pending
from crm_ops.planning import profile_plan
from crm_ops.progress import Steps
from crm_ops.pull import Puller
from crm_ops.report import RunData, Threshold, render_run, score_counts
from crm_ops.report.history import previous_findings, summaries
from crm_ops.retention import prune
from crm_ops.rules import run_rules
from crm_ops.rules.crosssource import CACHE_KEY
from crm_ops.runrecord import record_failure, write_record
from crm_ops.triage import Router, mark_from_row, triage, unmuted_actions

log = structlog.get_logger("crm_ops.runner")
EXIT_CLEAN, EXIT_FINDINGS, EXIT_LOCKED = ExitCode.OK, ExitCode.FINDINGS, ExitCode.LOCKED
EXIT_PARTIAL, EXIT_FAILED, EXIT_BRAKED = ExitCode.PARTIAL, ExitCode.FAILED, ExitCode.BRAKED


@dataclass
class RunResult:
    """A run's id, folder, exit code and summary."""

    run_id: str
    folder: Path
    exit_code: int
    summary: dict[str, Any] = field(default_factory=dict)


def pulled_entities(profile: Profile) -> list[str] | None:
    """The entities a run pulls: the profile's list (all when unset) and each source's own entity."""
    if profile.entities is None:
        return None
    return list(dict.fromkeys([*profile.entities, *(s.entity for s in profile.sources.values())]))


def refuse_unattended_production(profile: Profile, allow_production: bool) -> None:
    """Refuse, before anything is pulled, a run that would write to a production profile's CRMs without
    leave: its ``auto_apply`` names rules, and neither ``[run] allow_production = true`` nor
    ``--allow-production`` says it may write unattended. A night that would apply nothing must never
    pass for one that did (exit 2, with what to change)."""
    if not profile.production or not profile.run.auto_apply:
        return
    if allow_production or profile.run.allow_production:
        return
    raise ConfigError(
        f"{profile.source} [profiles.{profile.name}]: production = true and [profiles.{profile.name}.run] "
        f"auto_apply = {list(profile.run.auto_apply)}, but the run may not write to production unattended: "
        f"add `allow_production = true` to [profiles.{profile.name}.run] (or pass --allow-production), "
        "or empty auto_apply for a run that only reports"
    )


@dataclass
class Stage:
    """Where a run is, for the record of one that stops early."""

    name: str = "starting"


def run_batch(
    profile: Profile,
    *,
    allow_production: bool = False,
    now: datetime | None = None,
    log_level: str = "info",
    steps: Steps | None = None,
    engine: str | None = None,
    override_breaker: bool = False,
) -> RunResult:
    """One batch: lock, pull, check, match, plan, apply the safe part, report. Returns the exit code.

    A monitor at error level (``crm_ops.monitors.data``, or an org change: ``crm_ops.orgwatch``) trips
    the circuit breaker: the run still checks and plans but applies nothing and merges nothing, and
    exits 9, unless ``override_breaker`` (a person's decision for this one run, recorded in the summary).

    Whatever the run ends with, its folder gets a summary.json and a report.html and the runs index
    lists it; a run that stops early (an error is raised to the caller) records what failed first.
    ``steps`` receives progress (rows pulled, actions applied), for a bar on a terminal."""
    started = now or datetime.now(UTC)
    run_id = new_plan_id(started)
    folder = profile.state_dir / "runs" / run_id
    durable.private_dir(folder)
    logs.configure(level=log_level, file=durable.private_file(folder / "run.log"), run_id=run_id)
    lock = RunLock(profile.state_dir / "run.lock")
    stage = Stage()
    try:
        lock.acquire()
        refuse_unattended_production(profile, allow_production)
        return _batch(
            profile, run_id, folder, started, stage, steps=steps, engine=engine, override=override_breaker
        )
    except BaseException as exc:
        record_failure(
            folder,
            run_id=run_id,
            profile=profile.name,
            notify=profile.notify,
            started=started,
            stage=stage.name,
            exc=exc,
        )
        raise
    finally:
        lock.release()
        logs.close_run_log()


def _batch(
    profile: Profile,
    run_id: str,
    folder: Path,
    started: datetime,
    stage: Stage,
    *,
    steps: Steps | None,
    engine: str | None,
    override: bool = False,
) -> RunResult:
    settings = profile.run  # checked when the profile was loaded
    stage.name = "loading the rules"
    rules, problems = profile_rules(profile)  # an unknown rule name: a config error before any pull
    for p in problems:
        log.error("run.rule_not_loaded", problem=str(p))
    puller = Puller(profile)
    if steps is not None:
        puller.on_page = lambda job, rows: steps(f"pulling {job.system} {job.entity}", rows)
        puller.on_total = lambda job, n: steps(f"pulling {job.system} {job.entity}", 0, n)
    failures: list[PullFailure] = []
    try:
        stage.name = "pulling"
        try:
            pulls = puller.pull_many(profile.all_systems(), pulled_entities(profile))
        except PartialPullError as exc:
            pulls, failures = exc.results, exc.failures
        stage.name = "comparing the org's metadata with the last pull's"
        tried = [(r.system, r.entity) for r in pulls] + [(f.system, f.entity) for f in failures if f.entity]
        org = org_changes(profile, puller.state, puller.connector, tried, rules)
        stage.name = "settling what earlier applies left pending"
        settle_pending(puller.state, puller.connector)  # what killed applies left pending, landed or not
        stage.name = "watching the data"
        # the org's changes and the data's: an error among either (a mapped field gone, a volume drop)
        # trips the circuit breaker
        pulled = [(r.system, r.entity) for r in pulls]
        monitored = [*org, *data_monitors(puller.state, profile.monitors, pulled)]
        breaker = {"tripped": bool(breaker_reasons(monitored)), "reasons": breaker_reasons(monitored)}
        breaker["overridden"] = bool(breaker["tripped"] and override)
        for m in monitored:
            log.warning("run.monitor", **m.as_dict())
        live = live_trend(puller.state, pulled, 1)
        # the columns nearly empty, or holding values off their picklist, from the pulls' statistics
        audited = run_audit(profile, puller.state, pulled)
        # a table too large to hold whole (an activity table) stays on disk, checked a chunk at a time
        found = state_snapshots(puller.state, profile)
        frames = found.frames
        match_settings = profile_settings(profile)
        match_settings["rejected"] = puller.state.rejections()
        match_settings["verdicts"] = puller.state.verdicts()  # the models' precision held to them
        stage.name = "checking and matching"
        if (engine or profile.engine) == "spark":
            checked, matched = _on_spark(profile, rules, match_settings)
        else:
            # the sources' links once, for the cross-source rules and for matching's output
            sourced = source_links(frames, match_settings["lists"])
            checked = run_rules(
                rules,
                frames,
                cache={CACHE_KEY: sourced},
                large=found.large,
                chunk_rows=profile.rules.chunk_rows,
            )
            matched = run_matching(frames, rules=rules, linked_sources=sourced, **match_settings)
        findings = pl.concat([checked.findings, matched.findings], how="diagonal_relaxed")
        durable.write_parquet(findings, folder / "findings.parquet")
        durable.write_parquet(matched.source_links, folder / "source_links.parquet")
        runs = folder.parent
        previous_run, previous = previous_findings(runs, run_id)
        # owners, new and resolved, mutes and acknowledgements (crm_ops.triage): the run's clock judges expiry
        router = Router(profile.owners, {r.id: r.tags for r in rules})
        marks = [mark_from_row(m) for m in puller.state.marks()]
        triaged = triage(findings, previous, router, marks, started)
        stage.name = "planning"
        plan = profile_plan(
            profile,
            findings,
            rules,
            state=puller.state,
            connector=puller.connector,
            links=matched.links,
            frames=found,
            now=started,
        )
        write_plan(plan, folder)
        # field writes by rule or tag, merges only by name; and of those, an action a person has to
        # look at first (approved = no in plan.csv) only when the run settings name its rule
        chosen = auto_apply(
            # what it can choose from (only those become Action objects; none when it names no rule)
            plan.where(auto_appliable(settings.min_confidence)) if settings.auto_apply else [],
            wanted=settings.auto_apply,
            min_confidence=settings.min_confidence,
            tags={r.id: set(r.tags) for r in rules},
        )
        chosen = unmuted_actions(chosen, triaged.findings)  # a muted finding is never applied unattended
        rule_errors = [
            *({"stage": "load", "rule": p.rule, "source": p.source, "error": p.message} for p in problems),
            *({"stage": "run", **e.__dict__} for e in checked.errors),
        ]
        applied: dict[str, int] = {}
        outcomes: list[dict[str, Any]] = []
        withheld = None
        refusals: list[dict[str, Any]] = []  # what the CRMs refused, grouped by their message
        if chosen and breaker["tripped"] and not override:
            # the data this run read may be wrong (records hidden, a side stalled): a person looks first
            applied = {"withheld (circuit breaker)": len(chosen)}
            withheld = "the circuit breaker tripped: the run applied nothing (see Circuit breaker)"
            log.error("run.breaker_tripped", actions=len(chosen), reasons=breaker["reasons"])
        elif chosen and rule_errors:
            # a fix is judged by every rule of its field: with rules missing, nothing is applied
            applied = {"withheld (rule errors)": len(chosen)}
            withheld = "rules could not be loaded or raised: the run applied nothing (see Rule errors)"
            log.error("run.apply_withheld", actions=len(chosen), rule_errors=len(rule_errors))
        elif chosen:
            stage.name = "applying"
            report = Applier(
                puller.state,
                puller.connector,
                steps=steps,
                converted_status=match_settings["merge_rules"].converted_status,
            ).apply(plan.header.plan_id, chosen, dry_run=False)
            applied, outcomes, refusals = report.counts, report.outcomes, report.refusals()
        stage.name = "pruning what is older than the profile's retention"
        pruned = prune(profile.state_dir, puller.state, profile.retention, now=started, keep=[folder])
        unfinished = [  # a killed `crm-ops erase`: the person is suppressed, not yet erased everywhere
            f"erasure: {e['erasure_id']} (started {e['started_at']:%Y-%m-%d %H:%M} UTC) is unfinished: run "
            "`crm-ops erase --resume` to finish it"
            for e in puller.state.erasures(unfinished=True)
        ]
    finally:
        puller.close()
    stage.name = "reporting"
    severities = ["error"] if settings.fail_on == "error" else ["error", "warning"]
    serious = triaged.counted().filter(pl.col("severity").is_in(severities)).height  # muted: not counted
    code = EXIT_FINDINGS if serious > settings.max_findings else EXIT_CLEAN
    erasure_notices = [n for r in pulls for n in r.erasure_notices()] + unfinished
    if rule_errors or applied.get("failed") or pruned.problems or erasure_notices:
        # a rule missing (its findings with it), records refused, or personal data kept past its
        # retention because it could not be deleted: a person looks
        code = EXIT_FAILED
    if breaker["tripped"] and not override and code in (EXIT_CLEAN, EXIT_FINDINGS):
        code = EXIT_BRAKED  # outranks findings; a rule error (7) or a partial pull (6) outranks it
    if failures:
        code = EXIT_PARTIAL  # a pull that failed needs a person more than findings do
    warnings = [w for r in pulls for w in r.warnings]
    counts = score_counts(frames, findings, found.large)
    summary = {
        "run_id": run_id,
        "profile": profile.name,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "exit_code": code,
        "finished": True,
        "pulled": {f"{r.system}.{r.entity}": {"mode": r.mode, "changed": r.changed} for r in pulls},
        "pull_failures": [str(f) for f in failures],
        "warnings": warnings,
        "findings": findings.height,
        "findings_by_severity": dict(triaged.counted().group_by("severity").len().iter_rows()),  # unmuted
        "rule_errors": rule_errors,
        "plan_actions": len(plan),
        "auto_apply_chosen": len(chosen),
        "applied": applied,
        "refused": refusals,
        "match": matched.stats,
        "scores": {k: v.percent for k, v in counts.items()},
        "score_counts": {k: {"records": v.records, "passed": v.passed} for k, v in counts.items()},
        "findings_by_rule": dict(findings.group_by("rule").len().iter_rows()) if findings.height else {},
        "threshold": {"fail_on": settings.fail_on, "max_findings": settings.max_findings, "serious": serious},
        **triaged.summary(),  # owners (each: open, new, resolved, muted, acknowledged), new, resolved...
        "report_link": profile.notify.report_link(run_id),
        # MonitorFinding.as_dict()s (issue 27): the org's changes since the last pull, the data monitors'
        "monitors": [m.as_dict() for m in monitored],
        "breaker": breaker,
        "live_records": {k: v[-1] for k, v in live.items() if v},
        "field_audit": audited,  # columns filled below 10% or off their picklist (crm_ops.fieldaudit)
        "retention": pruned.summary(),  # what was older than [profiles.P.retention] and deleted (issue 31)
    }
    notices = [
        *(f"pull failed: {f}" for f in failures),
        *warnings,
        *(f"org changed: {m.message}" for m in org if m.severity != "info"),
        *(f"matching: {n}" for n in matched.notices),  # what blocking could not compare, calibration
        *pruned.notices(),  # what retention could not delete
        *erasure_notices,  # erased people's records created again in a CRM or source (issue 31)
    ]
    summary["notices"] = notices
    report_data = RunData(
        run_id=run_id,
        profile=profile.name,
        started_at=started.isoformat(),
        exit_code=code,
        counts=counts,
        findings=findings,
        history=[*summaries(runs), summary],  # this run's summary is the newest
        previous=previous,
        previous_run=previous_run,
        rules={r.id: r.description for r in rules},
        threshold=Threshold(settings.fail_on, settings.max_findings, serious),
        actions=plan.rows(detail=("explain",)),  # of a merge's detail, the report shows why it matches
        plan_folder=str(folder),
        chosen=frozenset(a.action_id for a in chosen),
        outcomes=outcomes,
        refused=withheld,
        refusals=refusals,
        applied=applied,
        notices=notices,
        rule_errors=rule_errors,
        triage=triaged,
        monitors=[m.as_dict() for m in monitored],
        breaker=breaker,
        field_audit=audited,
    )
    write_record(folder, profile.name, profile.notify, summary, render_run(report_data))
    log.info("run.done", exit_code=code, findings=findings.height, actions=len(plan), applied=applied)
    return RunResult(run_id, folder, code, summary)


__all__ = [
    "EXIT_CLEAN",
    "EXIT_FAILED",
    "EXIT_FINDINGS",
    "EXIT_LOCKED",
    "EXIT_PARTIAL",
    "ConfigError",
    "LockedError",
    "RunLock",
    "RunResult",
    "run_batch",
]
