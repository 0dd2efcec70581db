"""``crm-ops demo``: seed the sandbox and show what it holds, read back through the real CRM clients."""

from __future__ import annotations

import time
from typing import Any

import polars as pl
from rich.console import Console
from rich.table import Table

from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig

SF_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "OpportunityContactRole", "User")
HS_OBJECTS = ("companies", "contacts", "deals")


def run_demo(
    *, records: int = 2000, seed: int = 42, defect_rate: float = 0.05, console: Console | None = None
) -> dict[str, int]:
    """Seed and serve the sandbox, read every object through simple-salesforce and hubspot-api-client.

    Returns the row counts read per object (``salesforce.Contact``, ``hubspot.contacts``...).
    """
    out = console or Console()
    started = time.perf_counter()
    counts: dict[str, int] = {}
    with Sandbox(
        SandboxConfig(seed=SeedConfig(records=records, seed=seed, defect_rate=defect_rate))
    ) as sandbox:
        out.print(
            f"[bold]Sandbox[/] Salesforce {sandbox.env['CRM_OPS_SF_INSTANCE_URL']} (TLS, local CA), "
            f"HubSpot {sandbox.env['CRM_OPS_HUBSPOT_BASE_URL']}"
        )
        sf = salesforce_client(sandbox.env)
        for name in SF_OBJECTS:
            live = sf.query(f"SELECT COUNT() FROM {name}")["totalSize"]
            bulk: Any = sf.bulk2
            rows = getattr(bulk, name).query_all(f"SELECT Id FROM {name}", wait=1)
            counts[f"salesforce.{name}"] = sum(max(0, chunk.count("\n") - 1) for chunk in rows)
            counts[f"salesforce.{name}.live"] = int(live)
        hs = hubspot_client(sandbox.env)
        for name in HS_OBJECTS:
            api = getattr(hs.crm, name).basic_api
            total, after = 0, None
            while True:
                page = api.get_page(limit=100, after=after)
                total += len(page.results)
                if page.paging is None or page.paging.next is None:
                    break
                after = page.paging.next.after
            counts[f"hubspot.{name}"] = total

        table = Table(title="Records read back through the real clients")
        table.add_column("system")
        table.add_column("object")
        table.add_column("records", justify="right")
        table.add_column("not deleted", justify="right")
        for name in SF_OBJECTS:
            table.add_row(
                "salesforce", name, str(counts[f"salesforce.{name}"]), str(counts[f"salesforce.{name}.live"])
            )
        for name in HS_OBJECTS:
            table.add_row("hubspot", name, str(counts[f"hubspot.{name}"]), str(counts[f"hubspot.{name}"]))
        out.print(table)

        manifest = sandbox.data.manifest
        defects = (
            manifest.defects.group_by("system", "kind").len().sort("system", "len", descending=[False, True])
        )
        dt = Table(title="Injected defects (ground truth)")
        for col in ("system", "kind", "records"):
            dt.add_column(col, justify="right" if col == "records" else "left")
        for system, kind, n in defects.iter_rows():
            dt.add_row(system, kind, str(n))
        out.print(dt)
        clusters = manifest.duplicates.select(pl.col("cluster_id").n_unique()).item()
        out.print(
            f"Duplicate clusters: {clusters}; cross-CRM pairs: {manifest.matches.height}; "
            f"drifted fields: {manifest.drift.height}"
        )
    out.print(f"Done in {time.perf_counter() - started:.1f} s.")
    return counts
