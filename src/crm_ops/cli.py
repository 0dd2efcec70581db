"""The ``crm-ops`` command."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crm_ops import logs

if TYPE_CHECKING:
    from rich.console import Console

    from crm_ops.config import Profile
    from crm_ops.pull import Puller, PullResult
    from crm_ops.rules.loader import RuleProblem
    from crm_ops.state import PullJob

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Data-quality operations for Salesforce and HubSpot."
)
sandbox_app = typer.Typer(
    no_args_is_help=True, help="Local emulators of both CRMs, seeded with known defects."
)
app.add_typer(sandbox_app, name="sandbox")

Records = Annotated[
    int, typer.Option("--records", "-n", help="Contacts per CRM (other objects in proportion).")
]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the generator: same seed, same data.")]
DefectRate = Annotated[
    float, typer.Option("--defect-rate", help="Share of records given an injected defect.")
]


@sandbox_app.command("serve")
def sandbox_serve(
    env_file: Annotated[
        Path, typer.Option("--env-file", help="Where to write the clients' settings (KEY=value).")
    ],
    records: Records = 1000,
    seed: Seed = 42,
    defect_rate: DefectRate = 0.05,
    faults: Annotated[
        str, typer.Option("--faults", help="none, flaky, hostile, slow, or e.g. '429=0.1,503=0.1,drop=0.02'.")
    ] = "none",
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Folder for the manifest and CA.")] = None,
    salesforce_port: Annotated[int, typer.Option("--salesforce-port")] = 0,
    hubspot_port: Annotated[int, typer.Option("--hubspot-port")] = 0,
    hubspot_rate: Annotated[
        int, typer.Option("--hubspot-rate", help="HubSpot requests allowed per 10 s window.")
    ] = 190,
    accounts: Annotated[
        int | None, typer.Option("--accounts", help="Accounts (default: records / 4).")
    ] = None,
    leads: Annotated[int | None, typer.Option("--leads", help="Leads (default: records / 2).")] = None,
    opportunities: Annotated[
        int | None, typer.Option("--opportunities", help="Opportunities (default: records / 2).")
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config-file", help="Also write a crm-ops config (profile 'sandbox') for this sandbox."
        ),
    ] = None,
) -> None:
    """Seed and serve both emulators in the foreground until interrupted."""
    from crm_ops.sandbox.generator import SeedConfig
    from crm_ops.sandbox.http import parse_fault_profile
    from crm_ops.sandbox.hubspot import HubSpotLimits
    from crm_ops.sandbox.server import Sandbox, SandboxConfig

    logs.configure()
    try:
        seed_config = SeedConfig(
            records=records,
            seed=seed,
            defect_rate=defect_rate,
            accounts=accounts,
            leads=leads,
            opportunities=opportunities,
        )
        profile = parse_fault_profile(faults)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None
    config = SandboxConfig(
        seed=seed_config,
        faults=profile,
        fault_seed=seed,
        salesforce_port=salesforce_port,
        hubspot_port=hubspot_port,
        hubspot_limits=HubSpotLimits(per_ten_seconds=hubspot_rate),
        workdir=workdir or env_file.resolve().parent / "sandbox",
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with Sandbox(config) as sandbox:
        sandbox.write_env(env_file)
        if config_file is not None:
            from crm_ops.config import sandbox_config

            state = config_file.resolve().parent / ".crm-ops" / "sandbox"
            config_file.write_text(sandbox_config(sandbox.env, state, hubspot_rate=max(1, hubspot_rate - 10)))
        typer.echo(f"sandbox ready; settings in {env_file}", err=True)
        stop.wait()


@app.command()
def demo(
    records: Records = 2000,
    seed: Seed = 42,
    defect_rate: DefectRate = 0.05,
    workdir: Annotated[
        Path | None, typer.Option("--workdir", help="Where to keep the config, state and snapshots.")
    ] = None,
) -> None:
    """Seed the sandbox, pull both CRMs, edit a few records, pull the changes, run the rules."""
    from crm_ops.demo import run_demo

    logs.configure(level="warning")
    run_demo(records=records, seed=seed, defect_rate=defect_rate, workdir=workdir)


ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $CRM_OPS_CONFIG or ./crm-ops.toml)."),
]
ProfileName = Annotated[
    str | None,
    typer.Option("--profile", "-p", help="Profile in the config (default: $CRM_OPS_PROFILE or sandbox)."),
]


@contextmanager
def _errors(api_hint: str = "") -> Iterator[None]:
    """Our errors as exit codes for cron, with the message on stderr."""
    from crm_ops.errors import ApiError, BudgetExhaustedError, ConfigError

    try:
        yield
    except ConfigError as e:
        typer.echo(f"configuration error: {e}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    except BudgetExhaustedError as e:
        typer.echo(f"stopped: {e}", err=True)
        raise typer.Exit(EXIT_BUDGET) from None
    except ApiError as e:
        typer.echo(f"CRM error: {e}{api_hint}", err=True)
        raise typer.Exit(EXIT_API) from None


# Exit codes, for cron (docs/architecture.md lists them).
EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_API = 3
EXIT_BUDGET = 4


@app.command()
def pull(
    config: ConfigPath = None,
    profile: ProfileName = None,
    entity: Annotated[
        list[str] | None, typer.Option("--entity", "-e", help="Entity to pull (repeatable; default: all).")
    ] = None,
    system: Annotated[
        list[str] | None,
        typer.Option("--system", "-s", help="salesforce or hubspot (repeatable; default: both configured)."),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Pull everything, not only what changed.")] = False,
) -> None:
    """Pull CRM records into Parquet snapshots: incremental from the last watermark unless --full.

    A pull stopped for any reason (a kill, the API budget, an error) resumes where it stopped.
    """
    from rich.console import Console

    from crm_ops.config import load_profile
    from crm_ops.errors import ConfigError
    from crm_ops.pull import Puller
    from crm_ops.tables import pull_table

    logs.configure()
    console = Console(stderr=True)
    with _errors():
        prof = load_profile(config, profile)
        systems = system or prof.systems()
        unknown = [s for s in systems if s not in ("salesforce", "hubspot")]
        if unknown:
            raise ConfigError(f"unknown system {', '.join(unknown)}; use salesforce or hubspot")
        puller = Puller(prof)
        try:
            results = _pull_with_progress(puller, systems, entity, full, console)
        finally:
            puller.close()
    table = pull_table(f"pulled ({prof.name})", results)
    Console(width=None if sys.stdout.isatty() else 120).print(table)


def _pull_with_progress(
    puller: Puller, systems: list[str], entities: list[str] | None, full: bool, console: Console
) -> list[PullResult]:
    from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

    if not console.is_terminal:
        return puller.pull_many(systems, entities, full=full)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        tasks: dict[str, TaskID] = {}

        def on_page(job: PullJob, rows: int) -> None:
            key = f"{job.system} {job.entity}"
            if key not in tasks:
                tasks[key] = progress.add_task(key, total=None)
            progress.advance(tasks[key], rows)

        puller.on_page = on_page
        return puller.pull_many(systems, entities, full=full)


rules_app = typer.Typer(no_args_is_help=True, help="List and test the data-quality rules.")
app.add_typer(rules_app, name="rules")
RulePaths = Annotated[
    list[Path] | None,
    typer.Option("--rules", "-r", help="Extra rule file or folder (repeatable), besides the profile's."),
]


def _optional_profile(config: Path | None, profile: str | None) -> Profile | None:
    from crm_ops.config import DEFAULT_CONFIG, load_profile

    if config is None and profile is None and not Path(DEFAULT_CONFIG).exists():
        return None
    return load_profile(config, profile)


def _print_problems(problems: list[RuleProblem], unknown: list[str]) -> None:
    for p in problems:
        typer.echo(f"rule problem: {p}", err=True)
    for name in unknown:
        typer.echo(f"config names a rule or tag that does not exist: {name}", err=True)


@rules_app.command("list")
def rules_list(config: ConfigPath = None, profile: ProfileName = None, rules: RulePaths = None) -> None:
    """Every rule the profile runs: id, entities, severity, systems, whether it proposes fixes."""
    from rich.console import Console
    from rich.table import Table

    from crm_ops.check import profile_rules

    with _errors():
        found, problems, unknown = profile_rules(_optional_profile(config, profile), rules or [])
    table = Table(title=f"{len(found)} rules")
    for col in ("id", "entity", "severity", "systems", "fix", "description"):
        table.add_column(col)
    for r in sorted(found, key=lambda r: r.id):
        table.add_row(
            r.id,
            ", ".join(r.entities),
            r.severity,
            ", ".join(r.systems) or "both",
            "yes" if r.fix else "",
            r.description,
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    _print_problems(problems, unknown)
    if problems:
        raise typer.Exit(1)


@rules_app.command("test")
def rules_test(
    config: ConfigPath = None,
    profile: ProfileName = None,
    rules: RulePaths = None,
    no_shipped: Annotated[
        bool, typer.Option("--no-shipped", help="Only the given and the profile's rules.")
    ] = False,
) -> None:
    """Run every rule's examples (rows that pass, rows that fail, the fix expected). Exit 1 on a failure."""
    from crm_ops.check import profile_rules
    from crm_ops.rules.testing import run_examples

    logs.configure(level="warning")
    with _errors():
        found, problems, unknown = profile_rules(
            _optional_profile(config, profile), rules or [], shipped=not no_shipped
        )
    results = run_examples(found)
    failed = [r for r in results if not r.ok]
    for r in failed:
        typer.echo(f"FAIL {r.rule} [{r.entity}] example {r.number}: {r.message}")
    missing = [r.id for r in found if not r.examples]
    for rid in missing:
        typer.echo(f"WARN {rid}: no examples")
    _print_problems(problems, unknown)
    typer.echo(f"{len(results) - len(failed)} of {len(results)} examples passed, {len(found)} rules")
    if failed or problems:
        raise typer.Exit(1)


@app.command()
def check(
    config: ConfigPath = None,
    profile: ProfileName = None,
    rules: RulePaths = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Findings file (Parquet).")] = None,
) -> None:
    """Run the rules over the current snapshots; write the findings as Parquet and print a summary."""
    from rich.console import Console

    from crm_ops.check import run_check
    from crm_ops.config import load_profile
    from crm_ops.tables import findings_table

    logs.configure()
    with _errors():
        run = run_check(load_profile(config, profile), extra_rules=rules or [], output=output)
    findings = run.result.findings
    table = findings_table(f"{findings.height:,} findings from {len(run.rules)} rules", findings)
    Console(width=None if sys.stdout.isatty() else 140).print(table)
    for failure in run.result.errors:
        typer.echo(
            f"rule error: {failure.rule} on {failure.system} {failure.entity}: {failure.error}", err=True
        )
    _print_problems(run.problems, run.unknown_settings)
    typer.echo(f"findings: {run.findings_path}")


@app.command()
def match(
    config: ConfigPath = None,
    profile: ProfileName = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for findings, pairs, links (Parquet).")
    ] = None,
    survivor: Annotated[
        str | None,
        typer.Option("--survivor", help="Who survives a merge: most_complete, oldest, most_recent."),
    ] = None,
) -> None:
    """Find duplicates in each CRM and link the two CRMs; write merge and sync proposals as findings."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.table import Table

    from crm_ops import durable
    from crm_ops.check import snapshot_frames
    from crm_ops.config import load_profile
    from crm_ops.match import run_matching
    from crm_ops.match.run import settings_from_profile
    from crm_ops.rules.engine import summary
    from crm_ops.tables import figures_table

    logs.configure()
    if survivor not in (None, "most_complete", "oldest", "most_recent"):
        raise typer.BadParameter("--survivor must be most_complete, oldest or most_recent")
    with _errors():
        prof = load_profile(config, profile)
        settings = settings_from_profile(prof.match, f"{prof.source} profiles.{prof.name}.match")
        if survivor:
            settings["survivor_rule"] = survivor
        result = run_matching(snapshot_frames(prof), **settings)
    folder = output or prof.state_dir / "match" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name in ("findings", "duplicates", "links", "unmatched"):
        durable.write_parquet(getattr(result, name), folder / f"{name}.parquet")
    table = figures_table("matching", {**result.stats, "records on one side only": result.unmatched.height})
    out = Console(width=None if sys.stdout.isatty() else 120)
    out.print(table)
    findings = Table(title=f"{result.findings.height:,} proposals")
    for col in ("rule", "system", "entity", "findings"):
        findings.add_column(col)
    for row in summary(result.findings).iter_rows(named=True):
        findings.add_row(row["rule"], row["system"], row["entity"], f"{row['findings']:,}")
    out.print(findings)
    typer.echo(f"written to {folder}")


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


@app.command("run")
def run_command(
    config: ConfigPath = None,
    profile: ProfileName = None,
    allow_production: Annotated[
        bool, typer.Option("--allow-production", help="Let a production profile auto-apply safe fixes.")
    ] = False,
) -> None:
    """The cron batch: pull, check, match, plan, apply the safe fixes, report (runs/<run id>/).

    Exit codes: 0 clean, 1 findings above the threshold, 2 configuration error, 3 CRM error,
    4 stopped at the API budget, 5 another run holds the lock.
    """
    from crm_ops.config import load_profile
    from crm_ops.progress import bars
    from crm_ops.runner import EXIT_LOCKED, LockedError, run_batch

    with _errors(" (journaled; the next run resumes)"):
        prof = load_profile(config, profile)
        try:
            with bars() as steps:
                result = run_batch(prof, allow_production=allow_production, steps=steps)
        except LockedError as e:
            typer.echo(f"locked: {e}", err=True)
            raise typer.Exit(EXIT_LOCKED) from None
    summary = result.summary
    typer.echo(
        f"run {result.run_id}: {summary['findings']:,} findings, "
        f"{summary['plan_actions']:,} planned actions, "
        f"applied {summary['applied'] or 'nothing'}; report: {result.folder / 'report.html'}"
    )
    raise typer.Exit(result.exit_code)


def main() -> None:
    """Entry point of the ``crm-ops`` console script."""
    app()
