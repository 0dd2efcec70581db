"""Apply and undo of a written plan, as ``crm-ops apply`` / ``crm-ops undo`` do them: the production
guard, the review file's contract (every problem at once, nothing written), edited values checked by
the rules, rejected pairs remembered, one apply of a plan at a time (its lock), pending actions of
killed applies settled, the journal, and a JSON report beside the plan."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crm_ops import durable
from crm_ops.api.results import ApplyRun
from crm_ops.check import profile_rules
from crm_ops.config import Profile
from crm_ops.engines import state_snapshots
from crm_ops.errors import ConfigError
from crm_ops.locks import plan_lock
from crm_ops.match.run import profile_settings
from crm_ops.plan import read_plan, select_actions, write_plan
from crm_ops.plan.apply import Applier, erased_refusals, undo_plan
from crm_ops.plan.edits import Edit, check_edits, read_edits, with_edits
from crm_ops.plan.format import new_plan_id
from crm_ops.plan.outcomes import failures
from crm_ops.plan.picks import checked_picks, with_picks
from crm_ops.plan.review import Review, default_approvals, rejections, verdicts
from crm_ops.plan.reviewfile import ReviewFile, check_profile, read_review_file
from crm_ops.plan.settle import settle_pending
from crm_ops.progress import Steps
from crm_ops.pull import Puller


@dataclass(frozen=True)
class Selection:
    """Which of a plan's actions an apply writes: those approved in ``review`` (a reviewed plan.csv),
    or every action (``all_actions``), or (neither) those approved by default; then only those of these
    rules, severities, entities and systems, at least ``min_confidence`` (empty: no filter)."""

    review: Path | None = None
    all_actions: bool = False
    rules: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    min_confidence: float | None = None
    entities: tuple[str, ...] = ()
    systems: tuple[str, ...] = ()


def plan_file(path: Path | str) -> Path:
    """A plan's file from its folder or the file itself."""
    path = Path(path)
    return path / "plan.jsonl" if path.is_dir() else path


def guard_production(profile: Profile, write: bool, allow_production: bool) -> None:
    """Refuse a write to a production profile's CRMs without ``allow_production`` (``--allow-production``)."""
    if write and profile.production and not allow_production:
        raise ConfigError(
            f"profile {profile.name!r} is production ({profile.source} says production = true, or does not "
            "say: set production = false for a sandbox or test org): add --allow-production to write"
        )


def apply_plan(
    profile: Profile,
    plan_path: Path | str,
    *,
    write: bool,
    allow_production: bool,
    undo: bool,
    selection: Selection,
    batch_size: int | None = None,
    steps: Steps | None = None,
) -> ApplyRun:
    """Apply (or with ``undo``, undo) the plan at ``plan_path`` for ``profile``; a dry run unless ``write``.

    Raises ``ConfigError`` (nothing written) for a production profile without ``allow_production``, a
    plan of another profile, a review file that breaks its contract (a row twice, an unknown id, an
    answer not yes/no/blank, an edited record, another plan's rows) or an edited value the rules refuse;
    ``LockedError`` when another process applies or undoes the same plan."""
    guard_production(profile, write, allow_production)
    path = plan_file(plan_path)
    loaded = read_plan(path)
    review = selection.review
    if review and selection.all_actions:
        raise ConfigError("--review and --all-actions: give one (the review file decides, or every action)")
    # the review file's contract (crm_ops.plan.reviewfile): every problem at once, nothing written
    problems = check_profile(loaded, path, profile.name)
    reviewed: ReviewFile | None = None
    if review and not undo:
        try:
            reviewed = read_review_file(review, loaded)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    approvals: dict[str, bool] | None = None
    erased: list[dict[str, Any]] = []  # an undo's writes whose values an erasure took
    chosen_by = "undo: every write the plan's journal says was done"
    if not undo:
        if reviewed:
            approvals, chosen_by = reviewed.approvals(), f"approved in {review}"
        elif selection.all_actions:
            approvals, chosen_by = None, "every action (--all-actions)"
        else:
            # the defaults the plan holds (a version 1 plan holds none: decided now, by the profile)
            approvals = default_approvals(loaded, Review.for_rules(profile_rules(profile)[0], profile.review))
            chosen_by = "approved by default (review plan.csv and pass --review to choose)"
    converted_status = profile_settings(profile)["merge_rules"].converted_status
    rejected = rejections(reviewed.rejections(loaded)) if reviewed else []
    decided = verdicts(loaded, reviewed.answers) if reviewed and not undo else []
    edits: list[Edit] = []
    if reviewed and approvals is not None:
        edits, refused = read_edits(reviewed.table, loaded, (k for k, v in approvals.items() if v))
        if refused:
            raise ConfigError(refused)
    puller = Puller(profile)
    held = ExitStack()
    try:
        if write:  # one apply or undo of a plan at a time, crm-ops run's auto-apply included
            held.enter_context(plan_lock(puller.state.path.parent, loaded.header.plan_id))
        picks = reviewed_picks(reviewed, approvals)
        if edits or picks:
            # a person's value passes the rules the proposal came from, on the record as pulled; a
            # picked value is the source record's as pulled, and passes its field's rules too
            found = state_snapshots(puller.state, profile)
            rules = profile_rules(profile)[0]
            refused = check_edits(edits, loaded, rules, found.frames, found.large)
            if picks and reviewed:
                table = reviewed.table
                places = {r.get("action_id").strip(): table.where(r, "picks") for r in table}
                picks, wrong = checked_picks(loaded, picks, places, rules, found.frames, found.large)
                refused += wrong
            if refused:
                raise ConfigError(refused)
        if rejected and write:
            # remembered: not proposed again while the records' matched fields are unchanged
            puller.state.remember_rejections(loaded.header.plan_id, rejected)
        if decided and write:
            # what people said of proposed pairs: the model's precision is held to it (match.calibration)
            puller.state.remember_verdicts(loaded.header.plan_id, decided)
        applier = Applier(
            puller.state,
            puller.connector,
            batch_size=batch_size,
            steps=steps,
            converted_status=converted_status,
            edited={e.action_id: e.planned for e in edits},
            reviewers=dict(reviewed.reviewers) if reviewed else None,
        )
        if undo:
            pruned = puller.state.pruned_at(loaded.header.plan_id)
            if pruned is not None:  # its old values are gone: nothing can be put back
                raise ConfigError(
                    f"plan {loaded.header.plan_id}: its journal was deleted on {pruned:%Y-%m-%d} by the "
                    "profile's retention (plans_days), so it can no longer be undone"
                )
            if write:  # a killed apply's pending merges: landed ones are undone too
                settle_pending(puller.state, puller.connector, loaded.header.plan_id)
            erased = erased_refusals(puller.state, loaded.header.plan_id)  # a person's erasure took them
            loaded = undo_plan(puller.state, loaded)
            write_plan(loaded, path.parent / "undo")
            actions = list(loaded.actions)
        else:
            chosen = select_actions(
                loaded,
                approvals=approvals,
                rules=selection.rules,
                severities=selection.severities,
                min_confidence=selection.min_confidence,
                entities=selection.entities,
                systems=selection.systems,
            )
            actions = with_picks(with_edits(chosen, edits), picks)
        report = applier.apply(loaded.header.plan_id, actions, dry_run=not write)
        for lost in erased:
            report.add(lost)
    finally:
        held.close()
        puller.close()
    failed = failures(report.outcomes, loaded.actions)
    name = "undo" if undo else "apply"
    # one file per run, never overwritten: a later dry run leaves the real apply's report as it was
    report_file = (
        path.parent / "reports" / f"{name}-{new_plan_id()}{'-dry-run' if report.dry_run else ''}.json"
    )
    durable.write_text(
        report_file,
        json.dumps(
            {
                "plan_id": report.plan_id,
                "run": name,
                "dry_run": report.dry_run,
                "profile": profile.name,
                "production": profile.production,
                "review": str(review) if review else None,
                "edited": [e.__dict__ for e in edits],
                "counts": report.counts,
                "failed": {g.error: g.records for g in failed},
            },
            indent=2,
            default=str,
        ),
    )
    return ApplyRun(
        plan=loaded,
        selected=actions,
        chosen_by=chosen_by,
        report=report,
        report_file=report_file,
        failed=failed,
        edits=edits,
        rejected=rejected,
        warnings=list(reviewed.warnings) if reviewed else [],
        undo=undo,
    )


def reviewed_picks(
    reviewed: ReviewFile | None, approvals: Mapping[str, bool] | None
) -> dict[str, dict[str, Any]]:
    """The picks of the review file's approved rows (every row's when all actions are applied)."""
    if reviewed is None:
        return {}
    return {k: dict(v) for k, v in reviewed.picks.items() if approvals is None or approvals.get(k)}


def as_tuple(values: Iterable[str] | None) -> tuple[str, ...]:
    """A filter's values as a tuple (None or empty: no filter)."""
    return tuple(values or ())
