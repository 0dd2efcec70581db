"""What every run leaves behind, whatever its exit: ``summary.json``, ``report.html`` and its line in
``runs/index.html``, and the webhook's post when it did not end clean.

A run that finishes writes its full summary (``crm_ops.runner``); one that stops early (a configuration
error, both CRMs down, the API budget, the lock, a full disk, a crash) gets a summary and a page of its
own saying what failed, at which step, and what to do, so a night that failed is never only a line in
run.log. Writing that record never hides the error that stopped the run: if the disk is full, the
record is logged as not written and the run's own error goes on to the caller. Earlier runs' files
are read through ``crm_ops.report.history``, which skips a damaged one with a warning.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from crm_ops import durable
from crm_ops.config import NotifySettings, redact
from crm_ops.exitcodes import ExitCode, exit_for
from crm_ops.notify import notify_run
from crm_ops.report import render_index
from crm_ops.report.failed import render_failed
from crm_ops.report.history import summaries

log = structlog.get_logger("crm_ops.runner")
INTERRUPTED = 130  # SIGINT, as a shell reports it

WHAT_TO_DO = {
    ExitCode.CONFIG: "Fix the configuration named above (the file, table and key are in the error), then "
    "run again. Nothing was written to either CRM.",
    ExitCode.API: "A CRM refused or failed a call (the host is named above). What was done is journaled: "
    "the next run resumes once it answers. Check the CRM's status page, the network and the credentials.",
    ExitCode.BUDGET: "The run stopped before spending more of the daily API allowance than configured "
    "(api_budget_share); the next run resumes where this one stopped.",
    ExitCode.LOCKED: "Another run held the lock (named above); this one did nothing. If runs overlap "
    "every night, space them further apart.",
    ExitCode.OPERATIONAL: "Fix the machine (free disk space, the state dir's permissions), then run "
    "again: what was done is journaled and the next run resumes.",
    ExitCode.CRASH: "A bug in crm-ops: the traceback is in run.log and on stderr. What was done is "
    "journaled; the next run resumes. Please report it with the traceback.",
    INTERRUPTED: "The run was interrupted; what was done is journaled and the next run resumes.",
}


def failure_code(exc: BaseException) -> tuple[int, str]:
    """The exit code and message of the error that stopped a run (as the command line names it)."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED, "interrupted"
    named = exit_for(exc)
    if named is not None:
        return int(named[0]), named[1]
    return ExitCode.CRASH, redact(f"crashed ({type(exc).__name__}): {exc}")


def write_record(
    folder: Path, profile: str, notify: NotifySettings, summary: Mapping[str, Any], report: str
) -> None:
    """The run's summary, page and index line, then the webhook (for any exit but 0)."""
    durable.write_text(folder / "summary.json", json.dumps(summary, indent=2, default=str))
    durable.write_text(folder / "report.html", report)
    runs = folder.parent
    durable.write_text(runs / "index.html", render_index(profile, summaries(runs, None)))
    notify_run(notify, summary, str(folder / "report.html"))  # failure or breach only


def record_failure(
    folder: Path,
    *,
    run_id: str,
    profile: str,
    notify: NotifySettings,
    started: datetime,
    stage: str,
    exc: BaseException,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record a run that stopped early: its summary and page, its index line, the webhook. Returns the
    summary; a record that cannot be written is logged (the run's own error is what the caller sees)."""
    code, error = failure_code(exc)
    summary: dict[str, Any] = {
        "run_id": run_id,
        "profile": profile,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "exit_code": code,
        "finished": False,
        "stage": stage,
        "error": error,
        "what_to_do": WHAT_TO_DO.get(code, "See run.log."),
        **(extra or {}),
    }
    log.error("run.failed", exit_code=code, stage=stage, error=error)  # into the run's log first
    try:
        write_record(folder, profile, notify, summary, render_failed(summary))
    except Exception as failed:  # noqa: BLE001 - the run's own error must reach the caller, not this one
        log.error("run.record_not_written", folder=str(folder), error=redact(str(failed)))
    return summary
