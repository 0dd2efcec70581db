"""``crm-ops pull``: CRM records into Parquet snapshots, with a progress display on a terminal."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crm_ops import logs
from crm_ops.cli import ConfigPath, ProfileName, _errors, app


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

    from crm_ops.api import open_profile
    from crm_ops.orgwatch import change_line
    from crm_ops.progress import bars
    from crm_ops.tables import pull_table

    logs.configure()
    console = Console(stderr=True)
    with _errors(resumes="the pull resumes where it stopped on the next run"):
        ws = open_profile(config, profile)
        with bars(console) as steps:  # a bar per entity on a terminal, of the COUNT() where there is one
            pulled = ws.pull(systems=system, entities=entity, full=full, steps=steps)
    table = pull_table(f"pulled ({ws.name})", pulled.results)
    Console(width=None if sys.stdout.isatty() else 120).print(table)
    for warning in pulled.warnings:
        typer.echo(f"warning: {warning}", err=True)
    for failure in pulled.failures:
        typer.echo(f"failed: {failure}", err=True)
    for change in pulled.monitors:  # the org's fields changed since the last pull
        typer.echo(f"org changed: {change_line(change)}", err=True)
    for notice in pulled.notices:  # an erased person's record created again
        typer.echo(notice, err=True)
    raise typer.Exit(pulled.exit_code)
