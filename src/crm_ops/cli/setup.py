"""``crm-ops init`` and ``crm-ops doctor``: the first steps on a real org."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm_ops import logs
from crm_ops.cli import EXIT_CONFIG, EXIT_FINDINGS, ConfigPath, ProfileName, _errors, app


@app.command()
def init(
    path: Annotated[Path, typer.Option("--config", "-c", help="Where to write the config.")] = Path(
        "crm-ops.toml"
    ),
    profile: Annotated[str, typer.Option("--profile", "-p", help="The profile's name.")] = "prod",
    auth: Annotated[
        str, typer.Option(help="Salesforce sign-in: jwt (default), client_credentials, password or session.")
    ] = "jwt",
    login_url: Annotated[
        str, typer.Option(help="login, test, or your My Domain URL (https://<domain>.my.salesforce.com).")
    ] = "login",
    username: Annotated[
        str, typer.Option(help="The Salesforce integration user.")
    ] = "integration@example.com",
    client_id: Annotated[
        str, typer.Option(help="The connected app's consumer key.")
    ] = "REPLACE-with-the-connected-app-consumer-key",
    state_dir: Annotated[
        str | None, typer.Option(help="Where state lives (default .crm-ops/<profile>).")
    ] = None,
    salesforce: Annotated[bool, typer.Option(help="Configure Salesforce.")] = True,
    hubspot: Annotated[bool, typer.Option(help="Configure HubSpot.")] = True,
    production: Annotated[
        bool | None, typer.Option(help="Mark the profile production (default: when it is named prod).")
    ] = None,
    ca_bundle: Annotated[
        str | None, typer.Option(help="CA bundle to verify TLS against (a TLS-inspecting proxy's).")
    ] = None,
    hubspot_url: Annotated[str, typer.Option(help="HubSpot's API base URL.")] = "https://api.hubapi.com",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing config file.")] = False,
) -> None:
    """Write a commented config for a real org (no secret in it) and say which variables to set.

    Safe defaults: JWT sign-in, production guard on for prod, nothing applied unattended.
    """
    from crm_ops import durable
    from crm_ops.errors import ConfigError
    from crm_ops.starter import StarterChoices, secret_variables, starter_config

    with _errors():
        if path.exists() and not force:
            raise ConfigError(f"{path} exists; add --force to replace it (or -c another path)")
        choices = StarterChoices(
            profile=profile,
            salesforce=salesforce,
            hubspot=hubspot,
            auth=auth,
            login_url=login_url,
            username=username,
            client_id=client_id,
            state_dir=state_dir,
            production=production,
            ca_bundle=ca_bundle,
            hubspot_url=hubspot_url,
        )
        durable.write_text(path, starter_config(choices))
    typer.echo(f"wrote {path} (profile {profile}). Set these in the environment crm-ops runs in:")
    for variable, what in secret_variables(choices):
        typer.echo(f"  export {variable}=...   # {what}")
    typer.echo(f"then: crm-ops doctor -c {path} -p {profile}")


@app.command()
def doctor(config: ConfigPath = None, profile: ProfileName = None) -> None:
    """Check that crm-ops can reach each CRM: who it signs in as, API version, allowance left, scopes,
    clock skew, and every mapped field the integration user cannot read or write."""
    from crm_ops.config import load_profile
    from crm_ops.doctor import run_doctor

    logs.configure(level="warning")
    with _errors():
        findings = run_doctor(load_profile(config, profile))
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    for f in findings:
        typer.echo(f"{marks[f.status]}  {f.system:<10} {f.check:<12} {f.detail}")
    failed = [f for f in findings if f.status == "fail"]
    if failed:
        typer.echo(f"{len(failed)} problem(s) block a pull or an apply; see FAIL above", err=True)
        raise typer.Exit(EXIT_FINDINGS)
    if not findings:
        typer.echo("the profile configures no CRM", err=True)
        raise typer.Exit(EXIT_CONFIG)


@app.command()
def discover(
    config: ConfigPath = None,
    profile: ProfileName = None,
    objects: Annotated[
        list[str] | None,
        typer.Option("--object", "-o", help="An object to map (API name: Project__c, p_projects); repeat."),
    ] = None,
    out: Annotated[Path, typer.Option(help="The folder to write the map files into.")] = Path("object-maps"),
    force: Annotated[bool, typer.Option("--force", help="Replace existing map files.")] = False,
) -> None:
    """Write object map files for the org's custom objects no map reads (or the objects named): one per
    CRM, fields named from the org's metadata. Review them, then enable them with object_maps."""
    from crm_ops.api import Workspace
    from crm_ops.config import load_profile

    logs.configure(level="warning")
    with _errors():
        found = Workspace(load_profile(config, profile)).discover(out, objects=objects or (), force=force)
    if not found:
        typer.echo("every custom object of the org is mapped already (name others with --object)")
        return
    for d in found:
        declared = ", ".join(f"{obj} as {entity}" for obj, entity in d.entities.items())
        typer.echo(f"wrote {d.path}: {declared}")
    files = ", ".join(f'"{d.path}"' for d in found)
    typer.echo(f"review them, then add to the profile:  object_maps = [{files}]")
