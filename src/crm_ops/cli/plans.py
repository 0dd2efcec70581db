"""``crm-ops plan``, ``crm-ops apply`` and ``crm-ops undo``: fix plans and their writes."""

from __future__ import annotations

import sys
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
    from crm_ops.api import open_profile
    from crm_ops.plan.show import summarise, tables

    logs.configure()
    with _errors(" (what was looked up is journaled; run again)", "run `crm-ops plan` again"):
        planned = open_profile(config, profile).plan(findings, output=output)
    built, folder, jsonl, review = planned.plan, planned.folder, planned.plan_file, planned.review_file
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

    from crm_ops.api import show_plan
    from crm_ops.plan.show import tables

    with _errors():
        summary = show_plan(plan_path, review=review, samples=samples, merges=merges)
    for warning in summary.pop("warnings"):
        typer.echo(f"warning: {warning}", err=True)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    out = _console()
    for table in tables(summary):
        out.print(table)


PlanPath = Annotated[Path, typer.Argument(help="The plan: its folder or its plan.jsonl.")]


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
    from crm_ops.api import open_profile
    from crm_ops.plan.format import Plan
    from crm_ops.plan.outcomes import failure_lines
    from crm_ops.plan.show import summarise, tables
    from crm_ops.progress import bars

    logs.configure()
    name = "undo" if undo else "apply"
    resumes = f"the {name} resumes where it stopped when run again: the journal keeps what was done"
    with _errors(" (the journal keeps what was done; run again to resume)", resumes), bars() as steps:
        ws = open_profile(config, profile)
        if undo:
            done = ws.undo(
                plan_path, write=yes, allow_production=allow_production, batch_size=batch_size, steps=steps
            )
        else:
            done = ws.apply(
                plan_path,
                write=yes,
                allow_production=allow_production,
                batch_size=batch_size,
                steps=steps,
                **filters,
            )
    for warning in done.warnings:
        typer.echo(f"warning: {warning}", err=True)
    report = done.report
    verb = "would" if report.dry_run else "did"
    if report.dry_run and not undo:
        out = _console()
        for table in tables(summarise(Plan(done.plan.header, tuple(done.selected)), samples=2, merges=5)):
            out.print(table)
        typer.echo(f"selected {len(done.selected):,} of {len(done.plan.actions):,} actions: {done.chosen_by}")
    typer.echo(
        f"{name} {report.plan_id} ({verb}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
    )
    review = filters.get("review")
    if done.edits:
        typer.echo(
            f"{len(done.edits):,} proposed value(s) edited in {review} "
            f"{'applied' if yes else 'would be applied'} "
            "as edited by a person (checked by the rules the proposals came from; journaled)"
        )
    if done.rejected:
        typer.echo(
            f"{len(done.rejected):,} rejected pair(s) {'remembered' if yes else 'would be remembered'}: "
            "not proposed again while their matched fields are unchanged (crm-ops match --forget clears them)"
        )
    typer.echo(f"report: {done.report_file}")
    if report.dry_run:
        typer.echo("dry run: nothing was written; add --yes to write")
    for line in failure_lines(done.failed):
        typer.echo(line, err=True)
    if done.failed:
        typer.echo(f"{done.refused:,} record(s) refused by the CRM (exit {EXIT_FAILED})", err=True)
        raise typer.Exit(done.exit_code)


@app.command()
def review(
    plan_path: PlanPath,
    config: ConfigPath = None,
    profile: ProfileName = None,
    reviewer: Annotated[
        str | None,
        typer.Option("--reviewer", help="The name decisions are saved under (default: your login name)."),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="The port on 127.0.0.1 (0: any free one).")] = 0,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the address in the browser.")
    ] = True,
    allow_production: Annotated[
        bool,
        typer.Option(
            "--allow-production", help="Let the app's apply and undo write to a production profile."
        ),
    ] = False,
) -> None:
    """Review a plan in the browser: actions by rule, entity and approval, approve or reject one, a
    selection or a whole rule, edit a proposed value (checked by the field's rules), merges side by side
    with per-field picks. Each decision is saved into the plan's plan.csv as it is made, with your name
    and the time; then apply from the app (or `crm-ops apply PLAN --review PLAN/plan.csv`)."""
    import getpass

    from crm_ops.api import open_profile

    logs.configure()
    name = reviewer or getpass.getuser()
    with _errors():
        ws = open_profile(config, profile)
        ws.review(
            plan_path,
            reviewer=name,
            port=port,
            browser=browser,
            allow_production=allow_production,
            announce=lambda url: typer.echo(
                f"review: {url}\n(the address holds this run's token: keep it to yourself; Ctrl-C ends)"
            ),
        )


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
            "rules": rule,
            "severities": severity,
            "min_confidence": min_confidence,
            "entities": entity,
            "systems": system,
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
