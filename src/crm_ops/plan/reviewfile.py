"""The review file's contract: what ``crm-ops apply PLAN --review FILE`` (and ``plan show --review``)
accepts of the ``plan.csv`` a person edited, and what it refuses.

``plan.csv`` is written with every action's row and, last, a ``plan_id`` column holding the plan's id on
every row (a column survives a round trip through Excel, LibreOffice or Google Sheets, where a comment
line would not). Read back against its plan, each row must:

- carry an ``action_id`` of that plan, once: a row pasted twice (even with the same answer) or an id
  the plan does not have is refused;
- carry that plan's id in ``plan_id`` (a row or file of another plan is refused);
- answer in ``approve`` with ``yes`` (or ``y``, ``true``, ``1``, ``x``), ``no`` (or ``n``, ``false``,
  ``0``), ``not_duplicate`` (or ``not duplicate``, ``not a duplicate``, ``reject``, ``rejected``: a merge
  or conversion a person rejects, remembered) or a blank (undecided: not applied), in any case; anything
  else (``maybe``) is refused;
- keep the columns that say which record and which change it is (``IDENTITY``: kind, system, entity,
  record_id, field, rule) as the plan wrote them: only ``approve``, an update's ``proposed_value``
  (``crm_ops.plan.edits``), a merge's ``picks`` (``crm_ops.plan.picks``: JSON, each from a record of
  its cluster) and who decided (``reviewed_by``, ``reviewed_at``: the review app fills them, a person
  may; journaled with each applied action) are a person's to change. Leaving a row out is allowed: not
  approved.

A plan is applied (and undone) only with the profile it was made for (its header's ``profile``).

Every problem is listed at once, each naming the file, line and column, as one ``ConfigError`` (exit 2),
before anything is written. A file without the ``plan_id`` column (written by crm-ops before it had
one, or the column deleted) is read with a warning: its rows are still held to the plan's action ids
and identity columns, which a file of another plan fails unless both plans propose the very same change
(the same action id), and refusing it would strand every review in progress at an upgrade.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crm_ops import csvio
from crm_ops.errors import ConfigError
from crm_ops.plan.format import DECIDED_BY_PERSON, PLAN_ID, Action, Plan, csv_row
from crm_ops.plan.journaled import same
from crm_ops.plan.picks import cluster_ids, parse_picks

APPROVING = ("yes", "y", "true", "1", "x")
REJECTING = ("no", "n", "false", "0")
NOT_DUPLICATE = ("not_duplicate", "not duplicate", "not a duplicate", "reject", "rejected")
IDENTITY = ("kind", "system", "entity", "record_id", "field", "rule")  # which record, which change
ANSWERS = (
    "yes (or y, true, 1, x), no (or n, false, 0), not_duplicate (or reject: a merge or conversion "
    "rejected) or blank (undecided)"
)


def answer_of(text: str) -> str | None:
    """``yes``, ``no``, ``not_duplicate`` or ``""`` (blank: undecided) for an ``approve`` cell; ``None``
    for anything else."""
    answer = text.strip().lower()
    if answer in APPROVING:
        return "yes"
    if answer in REJECTING:
        return "no"
    if answer in NOT_DUPLICATE:
        return "not_duplicate"
    return "" if answer == "" else None


@dataclass(frozen=True)
class ReviewFile:
    """A review file read (and, given its plan, held to it): each action's answer and the warnings
    to show (a file without the ``plan_id`` column)."""

    table: csvio.Table
    answers: Mapping[str, str]
    warnings: tuple[str, ...] = ()
    picks: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # action id -> field -> pick
    reviewers: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # action id -> (by, at)

    def approvals(self) -> dict[str, bool]:
        """Approved or not, by action id."""
        return {k: v == "yes" for k, v in self.answers.items()}

    def rejections(self, plan: Plan) -> list[Action]:
        """The merges and conversions a person rejected: ``not_duplicate`` (or ``reject``) on any plan,
        ``no`` on a plan of version 3 or later (where those rows start blank, so ``no`` is a person's
        word)."""
        person_says_no = plan.header.version >= 3
        return [
            a
            for a in plan.actions
            if a.kind in DECIDED_BY_PERSON
            and (
                self.answers.get(a.action_id) == "not_duplicate"
                or (person_says_no and self.answers.get(a.action_id) == "no")
            )
        ]


def read_review_file(path: Path, plan: Plan | None = None) -> ReviewFile:
    """Read a review file; with its ``plan``, held to it (see the module's notes). Every problem at once,
    as one ``ConfigError``."""
    table = csvio.read_file(path, required=("approve", "action_id"))
    actions = {a.action_id: a for a in plan.actions} if plan is not None else {}
    tagged = plan is not None and PLAN_ID in table.positions
    warnings: list[str] = []
    if plan is not None and not tagged:
        warnings.append(
            f"{path}:1: no {PLAN_ID} column (a file written by an older crm-ops, or the column was "
            f"deleted): read as a review of plan {plan.header.plan_id}, each row held to its action ids"
        )
    problems: list[str] = []
    answers: dict[str, str] = {}
    lines: dict[str, int] = {}
    picks: dict[str, dict[str, Any]] = {}
    reviewers: dict[str, tuple[str, str]] = {}
    clusters = cluster_ids(plan) if plan is not None else {}
    for row in table:
        action_id = row.get("action_id").strip()
        if not action_id:
            problems.append(f"{table.where(row, 'action_id')}: a row without action_id")
            continue
        if plan is not None and tagged and row.get(PLAN_ID).strip() != plan.header.plan_id:
            problems.append(
                f"{table.where(row, PLAN_ID)}: a row of plan {row.get(PLAN_ID).strip() or '(none)'!r}, "
                f"not of plan {plan.header.plan_id!r} being applied: give that plan's own review file"
            )
            continue
        if action_id in lines:
            problems.append(
                f"{table.where(row, 'action_id')}: action {action_id} has a row on line {lines[action_id]} "
                "too: one row per action (a row pasted twice?)"
            )
            continue
        lines[action_id] = row.line
        answer = answer_of(row.get("approve"))
        if answer is None:
            problems.append(f"{table.where(row, 'approve')}: {row.get('approve')!r} is not {ANSWERS}")
        else:
            answers[action_id] = answer
        by = row.get("reviewed_by").strip()
        if by:
            reviewers[action_id] = (by, row.get("reviewed_at").strip())
        if plan is None:
            continue
        action = actions.get(action_id)
        if action is None:
            problems.append(
                f"{table.where(row, 'action_id')}: {action_id!r} is not an action of plan "
                f"{plan.header.plan_id} (a row of another plan, or an edited id)"
            )
            continue
        problems += _identity(table, row, action)
        chosen, wrong = parse_picks(row.get("picks"), action, clusters)
        problems += [f"{table.where(row, 'picks')}: {w}" for w in wrong]
        if chosen:
            picks[action_id] = chosen
    if problems:
        raise ConfigError(problems)
    return ReviewFile(table, answers, tuple(warnings), picks, reviewers)


def _identity(table: csvio.Table, row: csvio.Row, action: Action) -> list[str]:
    """The identity columns of ``row`` that are not as the plan wrote them for ``action``."""
    written = csv_row(action)
    out = []
    for column in IDENTITY:
        if column not in table.positions:
            continue  # a column deleted: nothing edited in it
        cell = row.get(column).strip()
        planned = csvio.neutralise(written[column]).strip()
        if cell == planned or csvio.unneutralise(cell) == planned or same(cell or None, planned or None):
            continue
        out.append(
            f"{table.where(row, column)}: {cell!r}, where the plan wrote {planned!r} for action "
            f"{action.action_id}: {', '.join(IDENTITY)} say which record and change a row is and cannot "
            "be edited (only approve, and an update's proposed_value)"
        )
    return out


def check_profile(plan: Plan, plan_file: Path, profile: str) -> list[str]:
    """A plan made for another profile than the one given: its writes, seen values and journal belong
    to that profile's CRM and state."""
    if plan.header.profile == profile:
        return []
    return [
        f"{plan_file}:1: profile: the plan was made for profile {plan.header.profile!r}, and apply was "
        f"given profile {profile!r}: pass --profile {plan.header.profile}, or make a plan with this one"
    ]


def read_review(path: Path) -> dict[str, str]:
    """The ``approve`` column of a review file by action id, as ``yes``, ``no``, ``not_duplicate`` or
    ``""`` (read without its plan: the answers and ids only)."""
    return dict(read_review_file(path).answers)


def read_approvals(path: Path, plan: Plan | None = None) -> dict[str, bool]:
    """Approved or not by action id (yes/y/true/1/x approve); with ``plan``, the file held to it."""
    return read_review_file(path, plan).approvals()


def read_rejections(path: Path, plan: Plan) -> list[Action]:
    """The merges and conversions a person rejected in the review file (``ReviewFile.rejections``)."""
    return read_review_file(path, plan).rejections(plan)
