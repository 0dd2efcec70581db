"""``crm-ops run``: the batch cron calls. Pull (incremental) -> check -> match -> plan -> apply the safe part.

Each run writes ``runs/<run id>/`` under the state dir: findings.parquet, plan.jsonl, plan.csv,
summary.json, report.html and run.log (JSON lines, the run id on each), and rewrites ``runs/index.html``
(every run, with a link to its report). A lock keeps two runs from overlapping: ``flock`` on
``run.lock``, which the kernel releases when its holder dies, so a dead run's lock (whatever its pid) is
taken over by the next run at once.

Exit codes (for cron; the table is ``crm_ops.cli.ExitCode``):
    0  clean: no error finding (or fewer than the configured threshold)
    1  findings at or above the threshold
    2  configuration error
    3  CRM error (what was done is journaled; the next run resumes)
    4  stopped before the API budget was spent (the next run resumes)
    5  another run holds the lock
    6  partial: some entities could not be pulled (each named in the summary and report); the rest were
       pulled, checked, matched and planned, the failed ones from their previous snapshot if any
    7  a rule raised (its findings are missing; named in the summary), or the CRM refused records the
       run applied
    8  operational error (disk full, state dir not writable); 70 a crash (a bug, traceback on stderr)

Safe auto-apply is configuration: ``[profiles.P.run] auto_apply = ["person.email.normalised", ...]``
(rule ids or ``tag:x``) with ``min_confidence`` (default 0.95); ``fail_on = "error"`` (or "warning") and
``max_findings = 0`` set exit code 1. A production profile never writes without ``allow_production``.
A run that ends with any code but 0 (or cannot finish) posts to ``[profiles.P.notify]``'s webhook
(``crm_ops.notify``); a failed post is logged and changes nothing.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops import durable, logs
from crm_ops.check import current_frames, profile_rules, rule_set_versions, snapshot_versions
from crm_ops.cli import ExitCode
from crm_ops.config import Profile
from crm_ops.errors import BudgetExhaustedError, ConfigError, CrmOpsError, PartialPullError, PullFailure
from crm_ops.match import MatchResult, run_matching
from crm_ops.match.run import settings_from_profile
from crm_ops.match.sources import CACHE_KEY, source_links
from crm_ops.notify import notify_run
from crm_ops.plan import build_plan, write_plan
from crm_ops.plan.apply import Applier
from crm_ops.plan.context import Context, addresses
from crm_ops.plan.format import new_plan_id
from crm_ops.plan.review import Review, auto_apply
from crm_ops.progress import Steps
from crm_ops.pull import Puller
from crm_ops.report import RunData, Threshold, render_index, render_run, score_counts
from crm_ops.report.history import previous_findings as _previous
from crm_ops.report.history import summaries as _history
from crm_ops.rules import CheckResult, Rule, run_rules

log = structlog.get_logger("crm_ops.runner")
EXIT_CLEAN, EXIT_FINDINGS, EXIT_LOCKED = ExitCode.OK, ExitCode.FINDINGS, ExitCode.LOCKED
EXIT_PARTIAL, EXIT_FAILED = ExitCode.PARTIAL, ExitCode.FAILED


class LockedError(CrmOpsError):
    """Another run holds the lock."""


class RunLock:
    """An exclusive lock the kernel releases when its holder dies: ``fcntl.flock`` on the lock file.

    A run killed (SIGKILL, a container stopped, the machine rebooted) holds nothing, however its pid is
    reused: a container's pid 1 or a recycled pid never keeps a dead run's lock, and no timeout takes a
    live run's lock away. The file is kept (removing a locked file lets two runs lock two files); it
    holds the holder's pid, host, boot id and start time, for the message another run prints. The state
    dir must be on a local file system (flock over NFS is not reliable everywhere).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held = False
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``LockedError`` naming the holder."""
        durable.private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_all(fd)
            os.close(fd)
            raise LockedError(f"another run holds {self.path}: {holder or 'no details'}") from None
        except BaseException:
            os.close(fd)
            raise
        os.fchmod(fd, 0o600)  # it names the host and pid: for the run's user only
        left = _read_all(fd)
        if left:
            # a run that died holding it (killed, a container stopped): the kernel let it go
            log.warning("run.stale_lock", path=str(self.path), content=left)
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": _boot_id(),
                 "started": time.time()}  # fmt: skip
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(owner).encode(), 0)
        os.fsync(fd)
        self._fd, self.held = fd, True

    def release(self) -> None:
        """Give the lock back (the file stays, empty)."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd, self.held = None, False


def _read_all(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


@dataclass
class RunResult:
    """A run's id, folder, exit code and summary."""

    run_id: str
    folder: Path
    exit_code: int
    summary: dict[str, Any] = field(default_factory=dict)


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
    from crm_ops.spark.sources import source_links_spark  # noqa: PLC0415

    local = replace(profile, spark=replace(profile.spark, snapshots=""))
    frames = snapshot_frames(session(profile), local)
    # the sources' links once, for the cross-source rules and for matching's output (as on polars)
    sourced = source_links_spark(frames, match_settings["lists"])
    checked = run_rules_spark(rules, frames, cache={CACHE_KEY: sourced})
    return checked, run_matching_spark(frames, rules=rules, linked_sources=sourced, **match_settings)


def pulled_entities(profile: Profile) -> list[str] | None:
    """The entities a run pulls: the profile's list (all when unset) and each source's own entity."""
    if profile.entities is None:
        return None
    return list(dict.fromkeys([*profile.entities, *(s.entity for s in profile.sources.values())]))


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
    durable.private_dir(folder)
    logs.configure(level=log_level, file=durable.private_file(folder / "run.log"), run_id=run_id)
    lock = RunLock(profile.state_dir / "run.lock")
    lock.acquire()
    try:
        settings = profile.run  # checked when the profile was loaded
        puller = Puller(profile)
        if steps is not None:
            puller.on_page = lambda job, rows: steps(f"pulling {job.system} {job.entity}", rows)
            puller.on_total = lambda job, n: steps(f"pulling {job.system} {job.entity}", 0, n)
        failures: list[PullFailure] = []
        try:
            try:
                pulls = puller.pull_many(profile.all_systems(), pulled_entities(profile))
            except PartialPullError as exc:
                pulls, failures = exc.results, exc.failures
            frames = current_frames(puller.state)
            rules, problems, unknown = profile_rules(profile)
            for p in problems:
                log.warning("run.rule_problem", problem=str(p))
            match_settings = settings_from_profile(
                profile.match, f"{profile.source} match", Path(profile.source).parent
            )
            match_settings["rejected"] = puller.state.rejections()
            if (engine or profile.engine) == "spark":
                checked, matched = _on_spark(profile, rules, match_settings)
            else:
                # the sources' links once, for the cross-source rules and for matching's output
                sourced = source_links(frames, match_settings["lists"])
                checked = run_rules(rules, frames, cache={CACHE_KEY: sourced})
                matched = run_matching(frames, rules=rules, linked_sources=sourced, **match_settings)
            findings = pl.concat([checked.findings, matched.findings], how="diagonal_relaxed")
            durable.write_parquet(findings, folder / "findings.parquet")
            durable.write_parquet(matched.source_links, folder / "source_links.parquet")
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
                wanted=settings.auto_apply,
                min_confidence=settings.min_confidence,
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
        severities = ["error"] if settings.fail_on == "error" else ["error", "warning"]
        serious = findings.filter(pl.col("severity").is_in(severities)).height
        code = EXIT_FINDINGS if serious > settings.max_findings else EXIT_CLEAN
        if checked.errors or applied.get("failed"):
            code = EXIT_FAILED  # a rule that raised (findings missing) or records refused: a person looks
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
            "threshold": {
                "fail_on": settings.fail_on,
                "max_findings": settings.max_findings,
                "serious": serious,
            },
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
            threshold=Threshold(settings.fail_on, settings.max_findings, serious),
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
            ExitCode.CONFIG
            if isinstance(exc, ConfigError)
            else ExitCode.BUDGET
            if isinstance(exc, BudgetExhaustedError)
            else ExitCode.API
        )
        log.error("run.failed", exit_code=int(code), error=str(exc))  # into the run's log before it closes
        notify_run(
            profile.notify,
            {"run_id": run_id, "profile": profile.name, "exit_code": code, "error": str(exc)},
        )
        raise
    finally:
        lock.release()
        logs.close_run_log()


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
