"""``crm-ops plan``, ``crm-ops apply`` and ``crm-ops undo``: fix plans and their writes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from crm_ops import logs
from crm_ops.cli import ConfigPath, ProfileName, _errors, app


@app.command()
def plan(
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
    """Turn findings into a fix plan: plan.jsonl (versioned) and plan.csv (review, approve column)."""
    import polars as pl
    from rich.console import Console
    from rich.table import Table

    from crm_ops.check import rule_set_versions, snapshot_versions
    from crm_ops.config import load_profile
    from crm_ops.errors import ConfigError
    from crm_ops.plan import build_plan, latest_findings, write_plan
    from crm_ops.state import State

    logs.configure()
    with _errors():
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
        state = State(prof.state_dir / "state.sqlite")
        try:
            snapshots = snapshot_versions(state)
        finally:
            state.close()
        try:
            built = build_plan(
                pl.concat(frames, how="diagonal_relaxed"),
                profile=prof.name,
                snapshots=snapshots,
                rules=rule_set_versions(prof),
            )
        except ValueError as exc:
            raise ConfigError(f"{', '.join(map(str, sources))}: {exc}") from None
    folder = output or prof.state_dir / "plans" / built.header.plan_id
    jsonl, review = write_plan(built, folder)
    counts = (
        pl.DataFrame(
            {"kind": [a.kind for a in built.actions], "rule": [a.rule for a in built.actions]},
            schema={"kind": pl.String, "rule": pl.String},
        )
        .group_by("kind", "rule")
        .len()
        .sort("len", descending=True)
    )
    table = Table(title=f"plan {built.header.plan_id}: {len(built.actions):,} actions")
    for col in ("kind", "rule", "actions"):
        table.add_column(col, justify="right" if col == "actions" else "left")
    for kind, rule, n in counts.iter_rows():
        table.add_row(kind, rule, f"{n:,}")
    Console(width=None if sys.stdout.isatty() else 120).print(table)
    typer.echo(f"plan: {jsonl}\nreview: {review} (set approve to no to leave an action out)")


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
    from crm_ops.config import load_profile
    from crm_ops.errors import ConfigError
    from crm_ops.plan import read_approvals, read_plan, select_actions, write_plan
    from crm_ops.plan.apply import Applier, undo_plan
    from crm_ops.progress import bars
    from crm_ops.pull import Puller

    logs.configure()
    with _errors(" (the journal keeps what was done; run again to resume)"), bars() as steps:
        prof = load_profile(config, profile)
        if yes and prof.production and not allow_production:
            raise ConfigError(f"profile {prof.name!r} is production: add --allow-production to write to it")
        plan_file = _plan_file(plan_path)
        loaded = read_plan(plan_file)
        puller = Puller(prof)
        try:
            applier = Applier(puller.state, puller.connector, batch_size=batch_size, steps=steps)
            if undo:
                loaded = undo_plan(puller.state, loaded)
                write_plan(loaded, plan_file.parent / "undo")
                actions = list(loaded.actions)
            else:
                review = filters.pop("review")
                approvals = read_approvals(review) if review else None
                actions = select_actions(loaded, approvals=approvals, **filters)
            report = applier.apply(loaded.header.plan_id, actions, dry_run=not yes)
        finally:
            puller.close()
    name = "undo" if undo else "apply"
    durable.write_text(
        plan_file.parent / f"{name}-report.json",
        json.dumps({"plan_id": report.plan_id, "dry_run": report.dry_run, "counts": report.counts}, indent=2),
    )
    verb = "would" if report.dry_run else "did"
    typer.echo(
        f"{name} {report.plan_id} ({verb}): "
        + ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
    )
    if report.dry_run:
        typer.echo("dry run: nothing was written; add --yes to write")


@app.command()
def apply(
    plan_path: PlanPath,
    config: ConfigPath = None,
    profile: ProfileName = None,
    yes: Annotated[bool, typer.Option("--yes", help="Write (without it, a dry run).")] = False,
    review: Annotated[
        Path | None, typer.Option("--review", help="The reviewed plan.csv (approve column).")
    ] = None,
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Only these rules (repeatable).")] = None,
    severity: Annotated[list[str] | None, typer.Option("--severity", help="Only these severities.")] = None,
    min_confidence: Annotated[float | None, typer.Option("--min-confidence")] = None,
    entity: Annotated[list[str] | None, typer.Option("--entity", "-e")] = None,
    system: Annotated[list[str] | None, typer.Option("--system", "-s")] = None,
    allow_production: Annotated[
        bool, typer.Option("--allow-production", help="Required to write to prod.")
    ] = False,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Records per write (at most 200 Salesforce, 100 HubSpot)."),
    ] = None,
) -> None:
    """Apply a plan: dry run by default; each record re-read first and skipped if it changed; journaled."""
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
