"""``crm-ops rules list``, ``crm-ops rules test`` and ``crm-ops check``: the data-quality rules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from crm_ops import logs
from crm_ops.cli import (
    EXIT_FINDINGS,
    ConfigPath,
    EngineName,
    ProfileName,
    _check_engine,
    _errors,
    app,
)

if TYPE_CHECKING:
    from crm_ops.config import Profile
    from crm_ops.rules.loader import RuleProblem

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


def _print_problems(problems: list[RuleProblem]) -> None:
    for p in problems:
        typer.echo(f"rule error: could not load {p}", err=True)


@rules_app.command("list")
def rules_list(config: ConfigPath = None, profile: ProfileName = None, rules: RulePaths = None) -> None:
    """Every rule the profile runs: id, entities, severity, systems, whether it proposes fixes, which rows
    it judges (its condition and tolerance)."""
    from rich.console import Console
    from rich.table import Table

    from crm_ops.check import profile_rules
    from crm_ops.rules.conditions import judges

    with _errors():
        found, problems = profile_rules(_optional_profile(config, profile), rules or [])
    table = Table(title=f"{len(found)} rules")
    for col in ("id", "entity", "severity", "systems", "fix", "when", "description"):
        table.add_column(col)
    for r in sorted(found, key=lambda r: r.id):
        table.add_row(
            r.id,
            ", ".join(r.entities),
            r.severity,
            ", ".join(r.systems) or "both",
            "yes" if r.fix else "",
            judges(r),
            r.description,
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    _print_problems(problems)
    if problems:
        raise typer.Exit(EXIT_FINDINGS)


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
    from crm_ops.match.sources import source_links
    from crm_ops.rules.crosssource import CACHE_KEY
    from crm_ops.rules.testing import run_examples

    logs.configure(level="warning")
    with _errors():
        found, problems = profile_rules(
            _optional_profile(config, profile), rules or [], shipped=not no_shipped
        )
    results = run_examples(found, cache={CACHE_KEY: source_links})
    failed = [r for r in results if not r.ok]
    for r in failed:
        typer.echo(f"FAIL {r.rule} [{r.entity}] example {r.number}: {r.message}")
    missing = [r.id for r in found if not r.examples]
    for rid in missing:
        typer.echo(f"WARN {rid}: no examples")
    _print_problems(problems)
    typer.echo(f"{len(results) - len(failed)} of {len(results)} examples passed, {len(found)} rules")
    if failed or problems:
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
def check(
    config: ConfigPath = None,
    profile: ProfileName = None,
    rules: RulePaths = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Findings file (Parquet).")] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a finding is at least this severe: error, warning, or never.",
            metavar="error|warning|never",
        ),
    ] = "error",
    engine: EngineName = None,
    samples_csv: Annotated[
        Path | None,
        typer.Option("--samples-csv", help="Also write a few findings of each rule to this CSV file."),
    ] = None,
    samples: Annotated[
        int | None,
        typer.Option("--samples", help="Findings of each rule in --samples-csv (default 20).", min=1),
    ] = None,
) -> None:
    """Run the rules over the current snapshots; write the findings as Parquet and print a summary."""
    from rich.console import Console

    from crm_ops.api import open_profile
    from crm_ops.check import FAIL_ON, SAMPLES_PER_RULE
    from crm_ops.errors import ConfigError
    from crm_ops.tables import findings_table

    logs.configure()
    _check_engine(engine)
    with _errors():
        if fail_on not in FAIL_ON:
            raise ConfigError(f"--fail-on {fail_on!r}: use error, warning or never")
        if samples is not None and samples_csv is None:
            raise ConfigError("--samples: give --samples-csv FILE too (the file the samples go to)")
        ws = open_profile(config, profile)
        run = ws.check(extra_rules=rules or [], output=output, engine=engine)
        if samples_csv is not None:
            run.write_samples(samples_csv, samples or SAMPLES_PER_RULE)
    code = run.exit_code(fail_on)
    findings = run.result.findings
    table = findings_table(f"{findings.height:,} findings from {len(run.rules)} rules", findings)
    Console(width=None if sys.stdout.isatty() else 140).print(table)
    for failure in run.result.errors:
        typer.echo(
            f"rule error: {failure.rule} on {failure.system} {failure.entity}: {failure.error}", err=True
        )
    _print_problems(run.problems)
    typer.echo(f"findings: {run.findings_path}")
    if samples_csv is not None:
        typer.echo(f"samples: {samples_csv}")
    if run.failed:
        # a rule that could not load or raised has no findings: the check is incomplete, whatever
        # --fail-on says
        typer.echo(
            f"{len(run.problems)} rule problem(s) at load, {len(run.result.errors)} rule(s) raised: "
            "their findings are missing",
            err=True,
        )
    elif code:
        typer.echo(f"{run.serious(fail_on):,} findings at --fail-on {fail_on} or above", err=True)
    raise typer.Exit(code)
