"""``crm-ops plan``, ``crm-ops apply`` and ``crm-ops undo``: fix plans and their writes."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from crm_ops import logs
from crm_ops.cli import EXIT_FAILED, ConfigPath, ProfileName, _errors, app

plan_app = typer.Typer(
    add_completion=False,
    help="Turn findings into a fix plan (with options), or show what a plan would do (plan show PLAN).",
)
app.add_typer(plan_app, name="plan")


@plan_app.callback(invoke_without_command=True)
def plan(
    ctx: typer.Context,
    config: ConfigPath = None,
    profile: ProfileName = None,
    findings: Annotated[
        list[Path] | None,
        typer.Option("--findings", "-f", help="Findings files (default: the latest check and match)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for plan.jsonl and plan.csv.")
    ] = None,
) -> None:
    """Turn findings into a fix plan: plan.jsonl (versioned) and plan.csv (review: approve column,
    yes only for the safe fixes). `crm-ops plan show PLAN` shows what a plan would do."""
    if ctx.invoked_subcommand is not None:
        return
    import polars as pl

    from crm_ops.check import current_frames, profile_rules, rule_set_versions, snapshot_versions
    from crm_ops.config import load_profile
    from crm_ops.errors import ConfigError
    from crm_ops.plan import build_plan, latest_findings, links_beside, write_plan
    from crm_ops.plan.context import Context, addresses
    from crm_ops.plan.review import Review
    from crm_ops.plan.settle import settle_pending
    from crm_ops.plan.show import summarise, tables
    from crm_ops.pull import Puller

    logs.configure()
    with _errors(" (what was looked up is journaled; run again)", "run `crm-ops plan` again"):
        prof = load_profile(config, profile)
        sources = findings or latest_findings(prof.state_dir)
        if not sources:
            raise ConfigError(f"{prof.state_dir}: no findings yet; run `crm-ops check` (and `crm-ops match`)")
        frames = []
        for path in sources:
            try:
                frames.append(pl.read_parquet(path))
            except (OSError, pl.exceptions.ComputeError) as exc:
                raise ConfigError(f"{path}: not a findings file: {exc}") from None
        rules, _ = profile_rules(prof)
        puller = Puller(prof)
        try:
            settle_pending(puller.state, puller.connector)  # what killed applies left pending, landed or not
            snapshots = snapshot_versions(puller.state)
            context = Context(
                current_frames(puller.state), links_beside(sources), addresses(prof, puller.connector)
            )
        finally:
            puller.close()
        try:
            built = build_plan(
                pl.concat(frames, how="diagonal_relaxed"),
                profile=prof.name,
                snapshots=snapshots,
                rules=rule_set_versions(prof),
                context=context,
                review=Review.for_rules(rules, prof.review),
            )
        except ValueError as exc:
            raise ConfigError(f"{', '.join(map(str, sources))}: {exc}") from None
    folder = output or prof.state_dir / "plans" / built.header.plan_id
    jsonl, review = write_plan(built, folder)
    out = _console()
    for table in tables(summarise(built))[:2]:
        out.print(table)
    typer.echo(
        f"plan: {jsonl}\nreview: {review} (approve is yes only for the safe fixes; set yes or no, then "
        f"`crm-ops apply {folder} --review {review}`)\nsamples: crm-ops plan show {folder}"
    )


def _console() -> Any:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120, highlight=False, emoji=False)


@plan_app.command("show")
def show(
    plan_path: Annotated[Path, typer.Argument(help="The plan: its folder or its plan.jsonl.")],
    review: Annotated[
        Path | None,
        typer.Option("--review", help="A reviewed plan.csv: show its approvals instead of the defaults."),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", help="Rows shown per rule.", min=0)] = 3,
    merges: Annotated[int, typer.Option("--merges", help="Merges shown.", min=0)] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """What a plan would do: counts by rule, kind, object and approval, samples, merges side by side."""
    import json

    from crm_ops.plan import read_plan
    from crm_ops.plan.reviewfile import read_review_file
    from crm_ops.plan.show import summarise, tables

    with _errors():
        loaded = read_plan(_plan_file(plan_path))
        reviewed = read_review_file(review, loaded) if review else None
    approvals = reviewed.approvals() if reviewed else None
    for warning in reviewed.warnings if reviewed else ():
        typer.echo(f"warning: {warning}", err=True)
    summary = summarise(loaded, approvals=approvals, samples=samples, merges=merges)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    out = _console()
    for table in tables(summary):
        out.print(table)


PlanPath = Annotated[Path, typer.Argument(help="The plan: its folder or its plan.jsonl.")]


def _plan_file(path: Path) -> Path:
    return path / "plan.jsonl" if path.is_dir() else path


def _run_apply(
    config: Path | None,
    profile: str | None,
    plan_path: Path,
    *,
    yes: bool,
    allow_production: bool,
    undo: bool,
    filters: dict[str, Any],
    batch_size: int | None = None,
) -> None:
    import json

    from crm_ops import durable
    from crm_ops.check import current_frames, profile_rules
    from crm_ops.config import load_profile
    from crm_ops.errors import ConfigError
    from crm_ops.locks import plan_lock
    from crm_ops.match.run import settings_from_profile
    from crm_ops.plan import read_plan, select_actions, write_plan
    from crm_ops.plan.apply import Applier, undo_plan
    from crm_ops.plan.edits import Edit, check_edits, read_edits, with_edits
    from crm_ops.plan.format import Plan, new_plan_id
    from crm_ops.plan.outcomes import failure_lines, failures
    from crm_ops.plan.review import Review, default_approvals, rejections
    from crm_ops.plan.reviewfile import ReviewFile, check_profile, read_review_file
    from crm_ops.plan.settle import settle_pending
    from crm_ops.plan.show import summarise, tables
    from crm_ops.progress import bars
    from crm_ops.pull import Puller

    logs.configure()
    name = "undo" if undo else "apply"
    resumes = f"the {name} resumes where it stopped when run again: the journal keeps what was done"
    with _errors(" (the journal keeps what was done; run again to resume)", resumes), bars() as steps:
        prof = load_profile(config, profile)
        if yes and prof.production and not allow_production:
            raise ConfigError(
                f"profile {prof.name!r} is production ({prof.source} says production = true, or does not "
                "say: set production = false for a sandbox or test org): add --allow-production to write"
            )
        plan_file = _plan_file(plan_path)
        loaded = read_plan(plan_file)
        review, every = filters.pop("review", None), filters.pop("all_actions", False)
        approvals: dict[str, bool] | None = None
        chosen_by = ""
        if review and every:
            raise ConfigError(
                "--review and --all-actions: give one (the review file decides, or every action)"
            )
        # the review file's contract (crm_ops.plan.reviewfile): every problem at once, nothing written
        problems = check_profile(loaded, plan_file, prof.name)
        reviewed: ReviewFile | None = None
        if review and not undo:
            try:
                reviewed = read_review_file(review, loaded)
            except ConfigError as exc:
                problems += exc.problems
        if problems:
            raise ConfigError(problems)
        for warning in reviewed.warnings if reviewed else ():
            typer.echo(f"warning: {warning}", err=True)
        if not undo:
            if reviewed:
                approvals, chosen_by = reviewed.approvals(), f"approved in {review}"
            elif every:
                approvals, chosen_by = None, "every action (--all-actions)"
            else:
                # the defaults the plan holds (a version 1 plan holds none: decided now, by the profile)
                rules, _ = profile_rules(prof)
                approvals = default_approvals(loaded, Review.for_rules(rules, prof.review))
                chosen_by = "approved by default (review plan.csv and pass --review to choose)"
        rules = settings_from_profile(
            prof.match, f"{prof.source} profiles.{prof.name}.match", Path(prof.source).parent
        )["merge_rules"]
        rejected = rejections(reviewed.rejections(loaded)) if reviewed else []
        edits: list[Edit] = []
        if reviewed and approvals is not None:
            edits, refused = read_edits(reviewed.table, loaded, (k for k, v in approvals.items() if v))
            if refused:
                raise ConfigError(refused)
        puller = Puller(prof)
        held = ExitStack()
        try:
            if yes:  # one apply or undo of a plan at a time, crm-ops run's auto-apply included
                held.enter_context(plan_lock(puller.state.path.parent, loaded.header.plan_id))
            if edits:
                # a person's value passes the rules the proposal came from, on the record as pulled
                refused = check_edits(edits, loaded, profile_rules(prof)[0], current_frames(puller.state))
                if refused:
                    raise ConfigError(refused)
            if rejected and yes:
                # remembered: not proposed again while the records' matched fields are unchanged
                puller.state.remember_rejections(loaded.header.plan_id, rejected)
            applier = Applier(
                puller.state,
                puller.connector,
                batch_size=batch_size,
                steps=steps,
                converted_status=rules.converted_status,
                edited={e.action_id: e.planned for e in edits},
            )
            if undo:
                if yes:  # a killed apply's pending merges: landed ones are undone too
                    settle_pending(puller.state, puller.connector, loaded.header.plan_id)
                loaded = undo_plan(puller.state, loaded)
                write_plan(loaded, plan_file.parent / "undo")
                actions = list(loaded.actions)
            else:
                actions = with_edits(select_actions(loaded, approvals=approvals, **filters), edits)
            report = applier.apply(loaded.header.plan_id, actions, dry_run=not yes)
        finally:
            held.close()
            puller.close()
    failed_groups = failures(report.outcomes, loaded.actions)
    # one file per run, never overwritten: a later dry run leaves the real apply's report as it was
    report_file = (
        plan_file.parent / "reports" / f"{name}-{new_plan_id()}{'-dry-run' if report.dry_run else ''}.json"
    )
    durable.write_text(
        report_file,
        json.dumps(
            {
                "plan_id": report.plan_id,
                "run": name,
                "dry_run": report.dry_run,
                "profile": prof.name,
                "production": prof.production,
                "review": str(review) if review else None,
                "edited": [e.__dict__ for e in edits],
                "counts": report.counts,
                "failed": {g.error: g.records for g in failed_groups},
            },
            indent=2,
            default=str,
        ),
    )
    verb = "would" if report.dry_run else "did"
    if report.dry_run and not undo:
        out = _console()
        for table in tables(summarise(Plan(loaded.header, tuple(actions)), samples=2, merges=5)):
            out.print(table)
        typer.echo(f"selected {len(actions):,} of {len(loaded.actions):,} actions: {chosen_by}")
    typer.echo(
        f"{name} {report.plan_id} ({verb}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
    )
    if edits:
        typer.echo(
            f"{len(edits):,} proposed value(s) edited in {review} {'applied' if yes else 'would be applied'} "
            "as edited by a person (checked by the rules the proposals came from; journaled)"
        )
    if rejected:
        typer.echo(
            f"{len(rejected):,} rejected pair(s) {'remembered' if yes else 'would be remembered'}: "
            "not proposed again while their matched fields are unchanged (crm-ops match --forget clears them)"
        )
    typer.echo(f"report: {report_file}")
    if report.dry_run:
        typer.echo("dry run: nothing was written; add --yes to write")
    for line in failure_lines(failed_groups):
        typer.echo(line, err=True)
    if failed_groups:
        count = sum(len(g.records) for g in failed_groups)
        typer.echo(f"{count:,} record(s) refused by the CRM (exit {EXIT_FAILED})", err=True)
        raise typer.Exit(EXIT_FAILED)


@app.command()
def apply(
    plan_path: PlanPath,
    config: ConfigPath = None,
    profile: ProfileName = None,
    yes: Annotated[bool, typer.Option("--yes", help="Write (without it, a dry run).")] = False,
    review: Annotated[
        Path | None,
        typer.Option(
            "--review",
            help="The reviewed plan.csv: only the rows whose approve is yes. Held to this plan first: a "
            "row twice, an unknown id, an answer not yes/no/blank, an edited record, another plan's rows "
            "are refused (exit 2), nothing written.",
        ),
    ] = None,
    all_actions: Annotated[
        bool,
        typer.Option(
            "--all-actions",
            help="Every action of the plan, merges and syncs included, approved or not (the filters "
            "still apply). Without it or --review: only the actions approved by default.",
        ),
    ] = False,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Only these rules (repeatable).")] = None,
    severity: Annotated[
        list[str] | None, typer.Option("--severity", help="Only these severities (repeatable).")
    ] = None,
    min_confidence: Annotated[
        float | None, typer.Option("--min-confidence", help="Only actions at least this confident (0-1).")
    ] = None,
    entity: Annotated[
        list[str] | None,
        typer.Option("--entity", "-e", help="Only these entities, e.g. Contact (repeatable)."),
    ] = None,
    system: Annotated[
        list[str] | None, typer.Option("--system", "-s", help="Only salesforce or hubspot (repeatable).")
    ] = None,
    allow_production: Annotated[
        bool,
        typer.Option("--allow-production", help="Let a production profile write (apply refuses without)."),
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Records per write (at most 200 Salesforce, 100 HubSpot)."),
    ] = None,
) -> None:
    """Apply a plan: dry run by default; each record re-read first and skipped if it changed; journaled.

    Which actions: those approved in --review plan.csv; without it, only those approved by default (the
    safe fixes); --all-actions for every action."""
    _run_apply(
        config,
        profile,
        plan_path,
        yes=yes,
        allow_production=allow_production,
        undo=False,
        batch_size=batch_size,
        filters={
            "review": review,
            "all_actions": all_actions,
            "rules": rule or [],
            "severities": severity or [],
            "min_confidence": min_confidence,
            "entities": entity or [],
            "systems": system or [],
        },
    )


@app.command()
def undo(
    plan_path: PlanPath,
    config: ConfigPath = None,
    profile: ProfileName = None,
    yes: Annotated[bool, typer.Option("--yes", help="Write (without it, a dry run).")] = False,
    allow_production: Annotated[
        bool, typer.Option("--allow-production", help="Required to write to prod.")
    ] = False,
) -> None:
    """Restore the values an applied plan replaced (conflict-checked, journaled as undo-<plan id>)."""
    _run_apply(config, profile, plan_path, yes=yes, allow_production=allow_production, undo=True, filters={})
