"""What each step of the Python API returns: typed results, each with the exit code the command line
ends with for it (``crm_ops.exitcodes.ExitCode``), so a script decides as cron would."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops.errors import PullFailure
from crm_ops.exitcodes import ExitCode
from crm_ops.match.run import MatchResult
from crm_ops.monitors import MonitorFinding
from crm_ops.plan.edits import Edit
from crm_ops.plan.format import Action, Plan
from crm_ops.plan.outcomes import ApplyReport, FailureGroup, failure_lines
from crm_ops.pull import PullResult


@dataclass(frozen=True)
class PullRun:
    """What ``Workspace.pull`` did: one result per entity pulled, and the entities that failed (the
    others were still pulled; each failed one resumes on the next pull), and the org's field metadata
    changes since the last pull (``monitors``: fields gone, hidden, retyped, picklist values removed...)."""

    results: list[PullResult]
    failures: list[PullFailure] = field(default_factory=list)
    # the org's field metadata changed since the last pull (``crm_ops.orgwatch``): fields gone, retyped...
    monitors: list[MonitorFinding] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """Optional mapped fields the org lacks (their columns are empty), each once."""
        return list(dict.fromkeys(w for r in self.results for w in r.warnings))

    @property
    def notices(self) -> list[str]:
        """What a person must act on besides failures: records of erased people created again."""
        return [n for r in self.results for n in r.erasure_notices()]

    @property
    def exit_code(self) -> ExitCode:
        """``PARTIAL`` (6) when an entity failed; ``FAILED`` (7) when a record of an erased person is back
        in a CRM or source (``notices``); else ``OK``."""
        if self.failures:
            return ExitCode.PARTIAL
        return ExitCode.FAILED if self.notices else ExitCode.OK


@dataclass(frozen=True)
class MatchRun:
    """What ``Workspace.match`` found (``result``: pairs, clusters, links, findings) and the folder its
    Parquet files were written to (``findings``, ``duplicates``, ``links``, ``unmatched``,
    ``source_links``); ``forgotten``: rejected pairs forgotten first (``forget=True``)."""

    result: MatchResult
    folder: Path
    forgotten: int = 0

    @property
    def findings(self) -> pl.DataFrame:
        """The merge, conversion and sync proposals, as findings (the rules' findings' columns)."""
        return self.result.findings

    @property
    def findings_path(self) -> Path:
        """The findings file, for ``Workspace.plan(findings=[...])``."""
        return self.folder / "findings.parquet"


@dataclass(frozen=True)
class PlanRun:
    """A plan built and written by ``Workspace.plan``: ``plan_file`` (plan.jsonl, what apply reads) and
    ``review_file`` (plan.csv: approve is yes only for the safe fixes) in ``folder``, from the findings
    files ``sources``."""

    plan: Plan
    folder: Path
    plan_file: Path
    review_file: Path
    sources: list[Path]

    @property
    def approved(self) -> int:
        """Actions approved by default (the review settings' safe fixes)."""
        return sum(1 for a in self.plan.actions if a.approved)


@dataclass(frozen=True)
class ApplyRun:
    """What ``Workspace.apply`` or ``Workspace.undo`` did (or, as a dry run, would do).

    ``plan`` is the plan applied (for undo: the undo plan, written to ``<plan>/undo/``), ``selected`` the
    actions chosen from it and ``chosen_by`` how (a review file, every action, the defaults), ``report``
    the counts and each action's outcome as journaled, ``failed`` what the CRMs refused grouped by their
    message, ``edits`` the proposed values a person changed in the review file, ``rejected`` the pairs
    marked not duplicates (remembered when written), ``warnings`` what the review file's reading noticed,
    ``report_file`` the JSON report written beside the plan (one per run, never overwritten)."""

    plan: Plan
    selected: list[Action]
    chosen_by: str
    report: ApplyReport
    report_file: Path
    failed: list[FailureGroup] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    undo: bool = False

    @property
    def dry_run(self) -> bool:
        """Whether nothing was written (``write=False``)."""
        return self.report.dry_run

    @property
    def counts(self) -> dict[str, int]:
        """Actions by outcome: done, skipped (a conflict: the record changed), failed, would ..."""
        return self.report.counts

    @property
    def refused(self) -> int:
        """Records the CRMs refused."""
        return sum(len(g.records) for g in self.failed)

    @property
    def exit_code(self) -> ExitCode:
        """``FAILED`` (7) when the CRMs refused records, else ``OK``."""
        return ExitCode.FAILED if self.failed else ExitCode.OK


__all__ = ["ApplyRun", "MatchRun", "PlanRun", "PullRun"]


def run_summary(done: ApplyRun) -> dict[str, Any]:
    """An apply's or undo's end as the review app shows it: the outcome counts, the report file, and
    lines saying what was chosen, what a person edited or rejected, and the records the CRM refused."""
    verb = "would" if done.dry_run else "did"
    lines = [
        f"{'undo' if done.undo else 'apply'} ({verb}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(done.report.counts.items())),
        f"selected {len(done.selected):,} of {len(done.plan.actions):,} actions: {done.chosen_by}",
    ]
    if done.edits:
        lines.append(f"{len(done.edits):,} proposed value(s) as edited by a person")
    if done.rejected:
        lines.append(f"{len(done.rejected):,} rejected pair(s) remembered")
    lines += [*done.warnings, *failure_lines(done.failed)]
    lines.append(f"report: {done.report_file}")
    return {
        "counts": done.counts,
        "report": str(done.report_file),
        "lines": lines,
        "exit_code": int(done.exit_code),
    }
