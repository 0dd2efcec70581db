"""``crm-ops run``: the batch cron calls. Pull (incremental) -> check -> match -> plan -> apply the safe part.

Each run writes ``runs/<run id>/`` under the state dir: findings.parquet, plan.jsonl, plan.csv,
summary.json, report.html and run.log (JSON lines, the run id on each). A lock file keeps two runs from
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
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops import durable, logs
from crm_ops.check import current_frames, profile_rules, rule_set_versions, snapshot_versions
from crm_ops.config import Profile
from crm_ops.errors import ConfigError, CrmOpsError, PartialPullError, PullFailure
from crm_ops.match import MatchResult, run_matching
from crm_ops.match.run import settings_from_profile
from crm_ops.plan import build_plan, write_plan
from crm_ops.plan.apply import Applier
from crm_ops.plan.context import Context, addresses
from crm_ops.plan.format import new_plan_id
from crm_ops.plan.review import Review, auto_apply
from crm_ops.progress import Steps
from crm_ops.pull import Puller
from crm_ops.report import render, scores
from crm_ops.rules import CheckResult, Rule, run_rules

log = structlog.get_logger("crm_ops.runner")
EXIT_CLEAN, EXIT_FINDINGS, EXIT_LOCKED, EXIT_PARTIAL = 0, 1, 5, 6


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


def _run_settings(profile: Profile) -> dict[str, Any]:
    raw = dict(profile.run)
    unknown = set(raw) - {"auto_apply", "min_confidence", "fail_on", "max_findings"}
    if unknown:
        raise ConfigError(
            f"{profile.source} profiles.{profile.name}.run: unknown setting(s) {', '.join(sorted(unknown))}"
        )
    if raw.get("fail_on", "error") not in ("error", "warning"):
        raise ConfigError(f"{profile.source} profiles.{profile.name}.run.fail_on: must be error or warning")
    return {
        "auto_apply": list(raw.get("auto_apply", [])),
        "min_confidence": float(raw.get("min_confidence", 0.95)),
        "fail_on": str(raw.get("fail_on", "error")),
        "max_findings": int(raw.get("max_findings", 0)),
    }


def _history(runs: Path, limit: int = 30) -> list[dict[str, Any]]:
    out = []
    for summary in sorted(runs.glob("*/summary.json"))[-limit:]:
        try:
            data = json.loads(summary.read_text())
        except (OSError, ValueError):
            continue
        out.append({"run_id": data.get("run_id"), "scores": data.get("scores", {})})
    return out


def _on_spark(
    profile: Profile, rules: list[Rule], match_settings: dict[str, Any]
) -> tuple[CheckResult, MatchResult]:
    """Check and match on Spark, over the snapshots this run just pulled (the state file's)."""
    from crm_ops.spark import (  # noqa: PLC0415 - an optional extra
        run_matching_spark,
        run_rules_spark,
        session,
        snapshot_frames,
    )

    local = replace(profile, spark=replace(profile.spark, snapshots=""))
    frames = snapshot_frames(session(profile), local)
    return run_rules_spark(rules, frames), run_matching_spark(frames, **match_settings)


def run_batch(
    profile: Profile,
    *,
    allow_production: bool = False,
    now: datetime | None = None,
    log_level: str = "info",
    steps: Steps | None = None,
    engine: str | None = None,
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
            match_settings = settings_from_profile(profile.match, f"{profile.source} match")
            match_settings["rejected"] = puller.state.rejections()
            if (engine or profile.engine) == "spark":
                checked, matched = _on_spark(profile, rules, match_settings)
            else:
                checked = run_rules(rules, frames)
                matched = run_matching(frames, **match_settings)
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
            if chosen and profile.production and not allow_production:
                log.warning("run.apply_refused", reason="production profile without allow_production")
                applied = {"refused (production)": len(chosen)}
            elif chosen:
                applied = (
                    Applier(
                        puller.state,
                        puller.connector,
                        steps=steps,
                        converted_status=match_settings["merge_rules"].converted_status,
                    )
                    .apply(plan.header.plan_id, chosen, dry_run=False)
                    .counts
                )
        finally:
            puller.close()
        severities = ["error"] if settings["fail_on"] == "error" else ["error", "warning"]
        serious = findings.filter(pl.col("severity").is_in(severities)).height
        code = EXIT_FINDINGS if serious > settings["max_findings"] else EXIT_CLEAN
        if failures:
            code = EXIT_PARTIAL  # a pull that failed needs a person more than findings do
        warnings = [w for r in pulls for w in r.warnings]
        scores_now = scores(frames, findings)
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
            "match": matched.stats,
            "scores": scores_now,
        }
        durable.write_text(folder / "summary.json", json.dumps(summary, indent=2, default=str))
        durable.write_text(
            folder / "report.html",
            render(
                run_id=run_id,
                profile=profile.name,
                started_at=started.isoformat(),
                exit_code=code,
                scores_now=scores_now,
                history=_history(runs),  # this run's summary is written: it is the newest
                findings=findings,
                actions=[a.__dict__ for a in plan.actions],
                applied=applied,
                notices=[*(f"pull failed: {f}" for f in failures), *warnings],
            ),
        )
        log.info(
            "run.done", exit_code=code, findings=findings.height, actions=len(plan.actions), applied=applied
        )
        return RunResult(run_id, folder, code, summary)
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
