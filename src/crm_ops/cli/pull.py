"""``crm-ops pull``: CRM records into Parquet snapshots, with a progress display on a terminal."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from crm_ops import logs
from crm_ops.cli import ConfigPath, ProfileName, _errors, app

if TYPE_CHECKING:
    from rich.console import Console

    from crm_ops.pull import Puller, PullResult
    from crm_ops.state import PullJob


@app.command()
def pull(
    config: ConfigPath = None,
    profile: ProfileName = None,
    entity: Annotated[
        list[str] | None, typer.Option("--entity", "-e", help="Entity to pull (repeatable; default: all).")
    ] = None,
    system: Annotated[
        list[str] | None,
        typer.Option(
            "--system",
            "-s",
            help="salesforce, hubspot or a source's name (billing...; repeatable; default: all configured).",
        ),
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Pull everything, not only what changed.")] = False,
) -> None:
    """Pull CRM records into Parquet snapshots: incremental from the last watermark unless --full.

    A pull stopped for any reason (a kill, the API budget, an error) resumes where it stopped. An
    entity that fails does not stop the others.
    """
    from rich.console import Console

    from crm_ops.cli import EXIT_PARTIAL
    from crm_ops.config import load_profile
    from crm_ops.errors import ConfigError, PartialPullError, PullFailure
    from crm_ops.pull import Puller
    from crm_ops.tables import pull_table

    logs.configure()
    console = Console(stderr=True)
    with _errors(resumes="the pull resumes where it stopped on the next run"):
        prof = load_profile(config, profile)
        systems = system or prof.all_systems()
        known = ("salesforce", "hubspot", *prof.sources)
        unknown = [s for s in systems if s not in known]
        if unknown:
            raise ConfigError(
                f"unknown system {', '.join(unknown)}; use salesforce, hubspot or a source of the profile "
                f"({', '.join(prof.sources) or 'none configured: [profiles.P.sources.<name>]'})"
            )
        puller = Puller(prof)
        failures: list[PullFailure] = []
        try:
            results = _pull_with_progress(puller, systems, entity, full, console)
        except PartialPullError as exc:
            results, failures = exc.results, exc.failures
        finally:
            puller.close()
    table = pull_table(f"pulled ({prof.name})", results)
    Console(width=None if sys.stdout.isatty() else 120).print(table)
    for warning in dict.fromkeys(w for r in results for w in r.warnings):
        typer.echo(f"warning: {warning}", err=True)
    for failure in failures:
        typer.echo(f"failed: {failure}", err=True)
    if failures:
        raise typer.Exit(EXIT_PARTIAL)


def _pull_with_progress(
    puller: Puller, systems: list[str], entities: list[str] | None, full: bool, console: Console
) -> list[PullResult]:
    """Pull with a bar per entity on a terminal: rows so far, of the COUNT() where the CRM gave one."""
    from crm_ops.progress import bars

    with bars(console) as steps:

        def on_page(job: PullJob, rows: int) -> None:
            steps(f"{job.system} {job.entity}", rows)

        def on_total(job: PullJob, total: int) -> None:
            steps(f"{job.system} {job.entity}", 0, total)

        puller.on_page, puller.on_total = on_page, on_total
        return puller.pull_many(systems, entities, full=full)
