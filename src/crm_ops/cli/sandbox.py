"""``crm-ops sandbox serve`` and ``crm-ops demo``: the local emulators of both CRMs."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from crm_ops import logs
from crm_ops.cli import app

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
        str,
        typer.Option(
            "--faults",
            help="none, flaky, hostile, slow, real-world, or e.g. '429=0.1,503=0.1,drop=0.02'; replies lost "
            "after the write committed: 'lost_reply=0.2' (a rate), 'lost_reply_every=3', "
            "'lost_reply_ops=merge+create'.",
        ),
    ] = "none",
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Folder for the manifest and CA.")] = None,
    salesforce_port: Annotated[
        int, typer.Option("--salesforce-port", help="Port of the Salesforce emulator (0: any free one).")
    ] = 0,
    hubspot_port: Annotated[
        int, typer.Option("--hubspot-port", help="Port of the HubSpot emulator (0: any free one).")
    ] = 0,
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
    org: Annotated[
        str,
        typer.Option(
            "--org",
            help="crm_ops (our custom fields and HubSpot's Salesforce integration properties) or plain "
            "(an org as crm-ops first meets it: neither, and Contact.HasOptedOutOfEmail hidden by FLS).",
        ),
    ] = "crm_ops",
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
            org=org,
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
