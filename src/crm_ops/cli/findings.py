"""``crm-ops findings mute|ack|muted|unmute|export`` and ``crm-ops digest``: the findings workflow (a
shell over ``crm_ops.api.Workspace``: mute, acknowledge, unmute, marks, export_findings, digest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from crm_ops.cli import ConfigPath, ProfileName, _errors, app

findings_app = typer.Typer(
    no_args_is_help=True,
    help="Mute, acknowledge and export findings (kept in the state, each with an expiry).",
)
app.add_typer(findings_app, name="findings")

Rule = Annotated[str, typer.Argument(help="The rule id whose findings are marked (crm-ops rules list).")]
Record = Annotated[str | None, typer.Option("--record", help="Only this record's findings (its CRM id).")]
System = Annotated[
    str | None, typer.Option("--system", help="Only this system's findings (salesforce, hubspot, a source).")
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until",
        help="When the mark expires: a date (2027-01-31) or time; 'never' for a mark that lasts (listed as "
        "such). Default: 30 days.",
    ),
]
Note = Annotated[str, typer.Option("--note", help="Why (who looks at it, the ticket): required.")]
Run = Annotated[str | None, typer.Option("--run", help="The run id (default: the latest run).")]


def _mark(kind: str, rule: str, record: str | None, system: str | None, until: str | None, note: str,
          config: Path | None, profile: str | None) -> None:  # fmt: skip
    from crm_ops.api import open_profile

    with _errors():
        ws = open_profile(config, profile)
        make = ws.mute if kind == "mute" else ws.acknowledge
        mark = make(rule, note=note, system=system, record_id=record, until=until)
    typer.echo(f"{mark['status']}: {_where(mark)} until {mark['until']} ({mark['note']})")


def _where(mark: dict[str, str | None]) -> str:
    return (
        f"{mark['rule']} on {mark.get('system') or 'any system'}, "
        f"{'record ' + str(mark['record_id']) if mark.get('record_id') else 'any record'}"
    )


@findings_app.command("mute")
def mute_command(
    rule: Rule,
    note: Note,
    record: Record = None,
    system: System = None,
    until: Until = None,
    config: ConfigPath = None,
    profile: ProfileName = None,
) -> None:
    """Mute a rule's findings (of one record, one system): shown in the run's report as muted, not counted
    toward the exit code nor in the webhook, never applied unattended, until the mark expires."""
    _mark("mute", rule, record, system, until, note, config, profile)


@findings_app.command("ack")
def ack_command(
    rule: Rule,
    note: Note,
    record: Record = None,
    system: System = None,
    until: Until = None,
    config: ConfigPath = None,
    profile: ProfileName = None,
) -> None:
    """Acknowledge a rule's findings (a person has them in hand): still counted and applied, shown as
    acknowledged and never counted as new, until the mark expires."""
    _mark("ack", rule, record, system, until, note, config, profile)


@findings_app.command("muted")
def muted_command(
    config: ConfigPath = None,
    profile: ProfileName = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the marks as JSON.")] = False,
) -> None:
    """List the mutes and acknowledgements: what each covers, until when (never only when said so), its
    note, and whether it has expired (an expired mark's findings count again)."""
    from crm_ops.api import open_profile

    with _errors():
        marks = open_profile(config, profile).marks()
    if as_json:
        typer.echo(json.dumps(marks, indent=2))
        return
    if not marks:
        typer.echo("no mutes or acknowledgements")
    for m in marks:
        typer.echo(f"{m['status']:<12} {m['kind']:<4} {_where(m)}; until {m['until']}; {m['note']}")


@findings_app.command("unmute")
def unmute_command(
    rule: Rule,
    record: Record = None,
    system: System = None,
    kind: Annotated[str | None, typer.Option("--kind", help="mute or ack (default: both).")] = None,
    config: ConfigPath = None,
    profile: ProfileName = None,
) -> None:
    """Remove the mutes (and acknowledgements) of a rule on the system and record given: its findings count
    again from the next run."""
    from crm_ops.api import open_profile

    with _errors():
        removed = open_profile(config, profile).unmute(rule, system=system, record_id=record, kind=kind)
    typer.echo(f"removed {removed} mark(s) of {rule}")


@findings_app.command("export")
def export_command(
    csv: Annotated[Path, typer.Option("--csv", help="The CSV file to write.")],
    run: Run = None,
    config: ConfigPath = None,
    profile: ProfileName = None,
) -> None:
    """Write a run's findings as CSV: labels, record links, owner, muted or acknowledged, new since the run
    before (values a spreadsheet would run as formulas are shown as text)."""
    from crm_ops.api import open_profile

    with _errors():
        path = open_profile(config, profile).export_findings(csv, run=run)
    typer.echo(f"findings written to {path}")


@app.command("digest")
def digest_command(
    run: Run = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the digest as JSON.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the digest to this file.")] = None,
    config: ConfigPath = None,
    profile: ProfileName = None,
) -> None:
    """The digest of the latest run (or --run) per owner: open, new and resolved since the run before,
    muted and acknowledged findings, the rules with most open, and an https link to the report when
    [profiles.P.notify] report_url is set."""
    from crm_ops import durable
    from crm_ops.api import open_profile

    with _errors():
        found = open_profile(config, profile).digest(run)
        text = json.dumps(found.as_dict(), indent=2) + "\n" if as_json else found.text()
        if out is not None:
            durable.write_text(out, text)
    typer.echo(text, nl=False)


@app.command("profile")
def profile_command(
    config: ConfigPath = None,
    profile: ProfileName = None,
    entity: Annotated[
        list[str] | None, typer.Option("--entity", "-e", help="An entity to audit; repeat.")
    ] = None,
    system: Annotated[
        list[str] | None, typer.Option("--system", "-s", help="A CRM or source; repeat.")
    ] = None,
    below: Annotated[
        float, typer.Option(help="Show only the columns filled below this percent (100: every column).")
    ] = 100.0,
    empty_days: Annotated[
        int, typer.Option(help="Days of empty pulls that make a column 'empty since'.")
    ] = 30,
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Also write every column's audit to this CSV.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of the table.")] = False,
) -> None:
    """Audit the pulled fields: how full each column is, its distinct and commonest values, values off its
    picklist, and the columns empty for --empty-days days (standard, mapped and custom fields alike)."""
    from crm_ops import csvio
    from crm_ops.api import Workspace
    from crm_ops.config import load_profile

    with _errors():
        found = Workspace(load_profile(config, profile)).field_audit(
            entities=entity or None, systems=system or None, empty_days=empty_days
        )
        if csv is not None:
            head = ["system", "entity", "column", "field", "live", "filled", "fill_rate", "distinct", "top",
                    "off_picklist", "off_values", "empty_since"]  # fmt: skip
            rows = [
                [
                    p.system,
                    p.entity,
                    p.column,
                    p.field,
                    p.live,
                    p.filled,
                    round(p.fill_rate, 4),
                    p.distinct,
                    "; ".join(f"{v} ({n})" for v, n in p.top),
                    p.off_picklist,
                    "; ".join(f"{v} ({n})" for v, n in p.off_values),
                    p.empty_since,
                ]
                for p in found
            ]
            csvio.write_file(csv, head, rows)
    shown = [p for p in found if p.fill_rate * 100 < below or below >= 100]
    if as_json:
        typer.echo(json.dumps([p.as_dict() for p in shown], indent=2, default=str))
        return
    last = None
    for p in shown:
        if (p.system, p.entity) != last:
            last = (p.system, p.entity)
            typer.echo(f"{p.system}.{p.entity}: {p.live:,} live records")
        values = ", ".join(f"{v} ({n:,})" for v, n in p.top[:3])
        extra = f"; {p.off_picklist:,} off the picklist" if p.off_picklist else ""
        extra += f"; empty since {p.empty_since[:10]}" if p.empty_since else ""
        typer.echo(
            f"  {p.column:<28} {p.fill_rate:>7.1%} filled  {p.distinct:>8,} distinct  {values[:60]}{extra}"
        )
