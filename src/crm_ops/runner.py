"""``crm-ops run``: the batch cron calls. Pull (incremental) -> check -> match -> plan -> apply the safe part.

Each run writes ``runs/<run id>/`` under the state dir: findings.parquet, plan.jsonl, plan.csv,
summary.json, report.html and run.log (JSON lines, the run id on each), and rewrites ``runs/index.html``
(every run, with a link to its report). A lock file keeps two runs from
overlapping; a lock left by a process that is gone (or older than ``stale_after``) is taken over.

Exit codes (for cron):
    0  clean: no error finding (or fewer than the configured threshold)
    1  findings at or above the threshold
    2  configuration error
    3  CRM error (what was done is journaled; the next run resumes)
    4  stopped before the API budget was spent (the next run resumes)
    5  another run holds the lock
    6  partial: some entities could not be pulled (each named in the summary and report); the rest were
       pulled, checked, matched and planned, the failed ones from their previous snapshot if any

Safe auto-apply is configuration: ``[profiles.P.run] auto_apply = ["person.email.normalised", ...]``
(rule ids or ``tag:x``) with ``min_confidence`` (default 0.95); ``fail_on = "error"`` (or "warning") and
``max_findings = 0`` set exit code 1. A production profile never writes without ``allow_production``.
A run that ends with any code but 0 (or cannot finish) posts to ``[profiles.P.notify]``'s webhook
(``crm_ops.notify``); a failed post is logged and changes nothing.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops import durable, logs
from crm_ops.check import current_frames, profile_rules, rule_set_versions, snapshot_versions
from crm_ops.config import Profile
from crm_ops.errors import BudgetExhaustedError, ConfigError, CrmOpsError, PartialPullError, PullFailure
from crm_ops.match import run_matching
from crm_ops.match.run import settings_from_profile
from crm_ops.notify import notify_run
from crm_ops.plan import build_plan, write_plan
from crm_ops.plan.apply import Applier
from crm_ops.plan.context import Context, addresses
from crm_ops.plan.format import new_plan_id
from crm_ops.plan.review import Review, auto_apply
from crm_ops.progress import Steps
from crm_ops.pull import Puller
from crm_ops.report import RunData, Threshold, render_index, render_run, score_counts
from crm_ops.rules import run_rules

log = structlog.get_logger("crm_ops.runner")
EXIT_CLEAN, EXIT_FINDINGS, EXIT_CONFIG, EXIT_API, EXIT_BUDGET, EXIT_LOCKED, EXIT_PARTIAL = 0, 1, 2, 3, 4, 5, 6


class LockedError(CrmOpsError):
    """Another run holds the lock."""


class RunLock:
    """An exclusive lock file holding the owner's pid and start time; stale locks are taken over."""

    def __init__(self, path: Path, *, stale_after: float = 6 * 3600) -> None:
        self.path = path
        self.stale_after = stale_after
        self.held = False

    def _stale(self) -> bool:
        try:
            data = json.loads(self.path.read_text())
            pid, started = int(data["pid"]), float(data["started"])
        except (OSError, ValueError, KeyError):
            return True
        if time.time() - started > self.stale_after:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def acquire(self) -> None:
        """Take the lock, or raise ``LockedError``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self._stale():
                    log.warning(
                        "run.stale_lock", path=str(self.path), content=self.path.read_text(errors="replace")
                    )
                    self.path.unlink(missing_ok=True)
                    continue
                raise LockedError(f"another run holds {self.path}") from None
            with os.fdopen(fd, "w") as handle:
                json.dump({"pid": os.getpid(), "started": time.time()}, handle)
            self.held = True
            return
        raise LockedError(f"could not take {self.path}")

    def release(self) -> None:
        """Give the lock back."""
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


@dataclass
class RunResult:
    """A run's id, folder, exit code and summary."""

    run_id: str
    folder: Path
    exit_code: int
    summary: dict[str, Any] = field(default_factory=dict)


# [profiles.P.run]: setting -> (default, what it does); docs/reference/config.md is generated from it
RUN_SETTINGS: dict[str, tuple[Any, str]] = {
    "auto_apply": ([], "rules (ids or tag:<tag>) whose fixes the run applies unattended"),
    "min_confidence": (0.95, "... when at least this confident (0-1)"),
    "fail_on": ("error", "the severity that counts toward exit code 1: error or warning"),
    "max_findings": (0, "exit 1 when more findings than this are at fail_on or above"),
}


def _run_settings(profile: Profile) -> dict[str, Any]:
    raw = dict(profile.run)
    unknown = set(raw) - set(RUN_SETTINGS)
    if unknown:
        raise ConfigError(
            f"{profile.source} profiles.{profile.name}.run: unknown setting(s) {', '.join(sorted(unknown))}"
        )
    if raw.get("fail_on", "error") not in ("error", "warning"):
        raise ConfigError(f"{profile.source} profiles.{profile.name}.run.fail_on: must be error or warning")
    value = {k: raw.get(k, default) for k, (default, _) in RUN_SETTINGS.items()}
    return {
        "auto_apply": list(value["auto_apply"]),
        "min_confidence": float(value["min_confidence"]),
        "fail_on": str(value["fail_on"]),
        "max_findings": int(value["max_findings"]),
    }


def _history(runs: Path, limit: int | None = 30) -> list[dict[str, Any]]:
    """The runs' summaries, oldest first (the last ``limit``)."""
    out = []
    for summary in sorted(runs.glob("*/summary.json"))[-limit if limit else 0 :]:
        try:
            out.append(json.loads(summary.read_text()))
        except (OSError, ValueError):
            continue
    return out


def _previous(runs: Path, run_id: str) -> tuple[str | None, pl.DataFrame | None]:
    """The last earlier run that left findings, and its findings."""
    for folder in sorted((p for p in runs.iterdir() if p.is_dir() and p.name < run_id), reverse=True):
        try:
            return folder.name, pl.read_parquet(folder / "findings.parquet")
        except (OSError, pl.exceptions.PolarsError):
            continue
    return None, None


def run_batch(
    profile: Profile,
    *,
    allow_production: bool = False,
    now: datetime | None = None,
    log_level: str = "info",
    steps: Steps | None = None,
) -> RunResult:
    """One batch: lock, pull, check, match, plan, apply the safe part, report. Returns the exit code.

    ``steps`` receives progress (rows pulled, actions applied), for a bar on a terminal."""
    started = now or datetime.now(UTC)
    run_id = new_plan_id(started)
    runs = profile.state_dir / "runs"
    folder = runs / run_id
    folder.mkdir(parents=True, exist_ok=True)
    logs.configure(level=log_level, file=folder / "run.log", run_id=run_id)
    lock = RunLock(profile.state_dir / "run.lock")
    lock.acquire()
    try:
        settings = _run_settings(profile)
        puller = Puller(profile)
        if steps is not None:
            puller.on_page = lambda job, rows: steps(f"pulling {job.system} {job.entity}", rows)
            puller.on_total = lambda job, n: steps(f"pulling {job.system} {job.entity}", 0, n)
        failures: list[PullFailure] = []
        try:
            try:
                pulls = puller.pull_many(profile.systems(), profile.entities)
            except PartialPullError as exc:
                pulls, failures = exc.results, exc.failures
            frames = current_frames(puller.state)
            rules, problems, unknown = profile_rules(profile)
            for p in problems:
                log.warning("run.rule_problem", problem=str(p))
            checked = run_rules(rules, frames)
            match_settings = settings_from_profile(profile.match, f"{profile.source} match")
            matched = run_matching(frames, rejected=puller.state.rejections(), **match_settings)
            findings = pl.concat([checked.findings, matched.findings], how="diagonal_relaxed")
            durable.write_parquet(findings, folder / "findings.parquet")
            snapshots = snapshot_versions(puller.state)
            plan = build_plan(
                findings,
                profile=profile.name,
                snapshots=snapshots,
                rules=rule_set_versions(profile),
                now=started,
                context=Context(frames, matched.links, addresses(profile, puller.connector)),
                review=Review.for_rules(rules, profile.review),
            )
            write_plan(plan, folder)
            # field writes by rule or tag, merges only by name; and of those, an action a person has to
            # look at first (approved = no in plan.csv) only when the run settings name its rule
            chosen = auto_apply(
                plan.actions,
                wanted=settings["auto_apply"],
                min_confidence=settings["min_confidence"],
                tags={r.id: set(r.tags) for r in rules},
            )
            applied: dict[str, int] = {}
            outcomes: list[dict[str, Any]] = []
            refused = None
            refusals: list[dict[str, Any]] = []  # what the CRMs refused, grouped by their message
            if chosen and profile.production and not allow_production:
                log.warning("run.apply_refused", reason="production profile without allow_production")
                applied = {"refused (production)": len(chosen)}
                refused = "production profile: the run writes only with --allow-production"
            elif chosen:
                report = Applier(
                    puller.state,
                    puller.connector,
                    steps=steps,
                    converted_status=match_settings["merge_rules"].converted_status,
                ).apply(plan.header.plan_id, chosen, dry_run=False)
                applied, outcomes, refusals = report.counts, report.outcomes, report.refusals()
        finally:
            puller.close()
        severities = ["error"] if settings["fail_on"] == "error" else ["error", "warning"]
        serious = findings.filter(pl.col("severity").is_in(severities)).height
        code = EXIT_FINDINGS if serious > settings["max_findings"] else EXIT_CLEAN
        if failures:
            code = EXIT_PARTIAL  # a pull that failed needs a person more than findings do
        warnings = [w for r in pulls for w in r.warnings]
        counts = score_counts(frames, findings)
        scores_now = {k: v.percent for k, v in counts.items()}
        summary = {
            "run_id": run_id,
            "profile": profile.name,
            "started_at": started.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "exit_code": code,
            "pulled": {f"{r.system}.{r.entity}": {"mode": r.mode, "changed": r.changed} for r in pulls},
            "pull_failures": [str(f) for f in failures],
            "warnings": warnings,
            "findings": findings.height,
            "findings_by_severity": dict(findings.group_by("severity").len().iter_rows()),
            "rule_errors": [e.__dict__ for e in checked.errors],
            "unknown_rule_settings": unknown,
            "plan_actions": len(plan.actions),
            "applied": applied,
            "refused": refusals,
            "match": matched.stats,
            "scores": scores_now,
            "score_counts": {k: {"records": v.records, "passed": v.passed} for k, v in counts.items()},
            "findings_by_rule": dict(findings.group_by("rule").len().iter_rows()) if findings.height else {},
            "threshold": {k: settings[k] for k in ("fail_on", "max_findings")} | {"serious": serious},
        }
        durable.write_text(folder / "summary.json", json.dumps(summary, indent=2, default=str))
        previous_run, previous = _previous(runs, run_id)
        report_data = RunData(
            run_id=run_id,
            profile=profile.name,
            started_at=started.isoformat(),
            exit_code=code,
            counts=counts,
            findings=findings,
            history=_history(runs),  # this run's summary is written: it is the newest
            previous=previous,
            previous_run=previous_run,
            rules={r.id: r.description for r in rules},
            threshold=Threshold(settings["fail_on"], settings["max_findings"], serious),
            actions=[a.__dict__ for a in plan.actions],
            chosen=frozenset(a.action_id for a in chosen),
            outcomes=outcomes,
            refused=refused,
            refusals=refusals,
            applied=applied,
            notices=[*(f"pull failed: {f}" for f in failures), *warnings],
        )
        durable.write_text(folder / "report.html", render_run(report_data))
        durable.write_text(runs / "index.html", render_index(profile.name, _history(runs, None)))
        log.info(
            "run.done", exit_code=code, findings=findings.height, actions=len(plan.actions), applied=applied
        )
        notify_run(profile.notify, summary, str(folder / "report.html"))  # failure or breach only
        return RunResult(run_id, folder, code, summary)
    except CrmOpsError as exc:  # a run that could not finish: said to the webhook, then to the caller
        code = (
            EXIT_CONFIG
            if isinstance(exc, ConfigError)
            else EXIT_BUDGET
            if isinstance(exc, BudgetExhaustedError)
            else EXIT_API
        )
        notify_run(
            profile.notify,
            {"run_id": run_id, "profile": profile.name, "exit_code": code, "error": str(exc)},
        )
        raise
    finally:
        lock.release()


__all__ = [
    "EXIT_CLEAN",
    "EXIT_FINDINGS",
    "EXIT_LOCKED",
    "EXIT_PARTIAL",
    "ConfigError",
    "LockedError",
    "RunLock",
    "RunResult",
    "run_batch",
]
