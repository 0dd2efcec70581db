"""``crm-ops erase``: a person erased from both CRMs and from crm_ops' own state (``Workspace.erase``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm_ops import logs
from crm_ops.cli import ConfigPath, ProfileName, _errors, app


@app.command()
def erase(
    config: ConfigPath = None,
    profile: ProfileName = None,
    email: Annotated[
        list[str] | None, typer.Option("--email", help="The person's e-mail address (repeatable).")
    ] = None,
    record: Annotated[
        list[str] | None,
        typer.Option(
            "--id", help="A record of the person: SYSTEM:ID (salesforce, hubspot or a source; repeatable)."
        ),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="A CSV of people: columns email and/or system and id, optional reference."
        ),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="The request's reference (a ticket), for the certificate."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Erase (without it, a dry run: shows what it finds).")
    ] = False,
    allow_production: Annotated[
        bool, typer.Option("--allow-production", help="Required to erase in prod.")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Only finish an erasure a kill left unfinished.")
    ] = False,
) -> None:
    """Erase a person: find every record of theirs in both CRMs and the sources, delete them through each
    CRM's permanent path (HubSpot's GDPR delete, Salesforce's delete with the recycle bin emptied), purge
    every copy under the state dir, and write a certificate. Without --yes, shows what it would erase."""
    from crm_ops.api import open_profile

    logs.configure()
    with _errors(" (what was deleted is journaled; run again to finish)", "run `crm-ops erase --resume`"):
        done = open_profile(config, profile).erase(
            emails=email or (),
            ids=record or (),
            file=file,
            reference=reference,
            write=yes,
            allow_production=allow_production,
            resume=resume,
        )
    for erasure_id in done.resumed:
        typer.echo(f"finished an erasure a kill had left unfinished: {erasure_id}")
    if resume and not done.resumed and not done.people:
        typer.echo("no erasure was left unfinished")
    for person in done.people:
        subject = person.subject
        named = subject.email or f"{subject.system}:{subject.record_id}"
        if not person.found:
            typer.echo(f"{named}: no record found (put on the suppression list all the same)" if yes
                       else f"{named}: no record found")  # fmt: skip
            continue
        typer.echo(f"{named}: {len(person.records)} record(s), {len(person.mentions)} mention(s)")
        for r in person.records:
            what = "delete" if r.deletable else ("source: its owner erases it" if r.source else "kept")
            typer.echo(f"  {r.system} {r.entity} {r.record_id} ({r.how}): {what}")
        for m in person.mentions:
            whose = "its owner edits it" if m.source else "checked again after the deletes"
            typer.echo(f"  {m.system} {m.entity} {m.record_id} {m.how}: {whose}; our copy redacted")
    if done.dry_run:
        typer.echo(
            "dry run: nothing erased; add --yes to erase (a production profile also --allow-production)"
        )
        raise typer.Exit(0)
    for line in done.left:
        typer.echo(f"left: {line}", err=True)
    if done.certificate is not None:
        typer.echo(f"certificate: {done.certificate}")
    raise typer.Exit(done.exit_code)
