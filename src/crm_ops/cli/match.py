"""``crm-ops match``: duplicates in each CRM and links between the two, as proposals."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from crm_ops import logs
from crm_ops.cli import ConfigPath, EngineName, ProfileName, _check_engine, _errors, app


@app.command()
def match(
    config: ConfigPath = None,
    profile: ProfileName = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder for findings, pairs, links, sources' links (Parquet)."),
    ] = None,
    survivor: Annotated[
        str | None,
        typer.Option(
            "--survivor",
            help="Who survives a merge: most_complete, oldest, most_recent (instead of the profile's "
            "[match.merge] master ordering).",
        ),
    ] = None,
    forget: Annotated[
        bool,
        typer.Option(
            "--forget",
            help="Forget every pair people rejected (not_duplicate) so that they are proposed again, "
            "then match.",
        ),
    ] = False,
    engine: EngineName = None,
    why: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--why",
            metavar="ID1 ID2",
            help="Say why two records were or were not proposed as a pair (a near miss): the pair "
            "scored under the profile's rules whether or not blocking found it, each field's part in "
            "its score, and whether each blocking key compares it. Matches nothing, writes nothing.",
        ),
    ] = None,
    entity: Annotated[
        str | None,
        typer.Option("--entity", help="With --why: the entity of both ids, when one is in two tables."),
    ] = None,
) -> None:
    """Find duplicates in each CRM and link the two CRMs; write merge, conversion and sync proposals as
    findings. Pairs rejected in a review file are left out while their records are unchanged. With
    --why ID1 ID2: why that pair was or was not proposed."""
    from rich.console import Console
    from rich.table import Table

    from crm_ops.api import open_profile
    from crm_ops.rules.engine import summary
    from crm_ops.tables import figures_table

    logs.configure()
    if why is not None:
        with _errors():
            explained = open_profile(config, profile).why(*why, entity=entity)
        typer.echo("\n".join(_printable(line) for line in explained.lines()))
        return
    _check_engine(engine)
    if survivor not in (None, "most_complete", "oldest", "most_recent"):
        raise typer.BadParameter("--survivor must be most_complete, oldest or most_recent")
    with _errors():
        run = open_profile(config, profile).match(
            output=output, survivor=survivor, forget=forget, engine=engine
        )
    if forget:
        typer.echo(f"forgot {run.forgotten:,} rejected pair(s)")
    result = run.result
    table = figures_table("matching", {**result.stats, "records on one side only": result.unmatched.height})
    out = Console(width=None if sys.stdout.isatty() else 120)
    out.print(table)
    for line in result.notices:  # what blocking could not compare: never silent
        typer.echo(line)
    findings = Table(title=f"{result.findings.height:,} proposals")
    for col in ("rule", "system", "entity", "findings"):
        findings.add_column(col)
    for row in summary(result.findings).iter_rows(named=True):
        findings.add_row(row["rule"], row["system"], row["entity"], f"{row['findings']:,}")
    out.print(findings)
    typer.echo(f"written to {run.folder}")


def _printable(line: str) -> str:
    """A line with control characters (a terminal escape in a record's id) shown as ``\\xNN``."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in line)
