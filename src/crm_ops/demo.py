"""``crm-ops demo``: seed the sandbox, pull both CRMs, change records, pull what changed, check the data.

Everything runs through the same code a real org would: the connectors on simple-salesforce and
hubspot-api-client, the config file with secrets from the environment, the state file and snapshots.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from crm_ops.check import run_check, snapshot_frames
from crm_ops.config import load_profile, sandbox_profile
from crm_ops.match import run_matching
from crm_ops.pull import Puller
from crm_ops.runner import run_batch
from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.generator.billing import generate_sources, write_sources
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from crm_ops.tables import figures_table, findings_table, pull_table

DEMO_RUN_SETTINGS = """
[profiles.sandbox.run]
# fixes safe to apply unattended: formats only, and only when the fixer is sure
auto_apply = ["tag:format", "person.email.normalised"]
min_confidence = 0.95
"""


def _edit_some_records(sandbox: Sandbox, puller: Puller) -> None:
    """What a working day does to a CRM: a few updates and a deletion on each side."""
    sf: Any = salesforce_client(sandbox.env)
    contacts = sf.query("SELECT Id FROM Contact ORDER BY Id LIMIT 6")["records"]
    for i, record in enumerate(contacts[:5]):
        sf.Contact.update(record["Id"], {"Title": f"Revenue Operations {i}"})
    sf.Contact.delete(contacts[5]["Id"])
    hs = hubspot_client(sandbox.env)
    page = hs.crm.contacts.basic_api.get_page(limit=4)
    for record in page.results[:3]:
        hs.crm.contacts.basic_api.update(
            record.id, simple_public_object_input={"properties": {"jobtitle": "CRO"}}
        )
    hs.crm.contacts.basic_api.archive(page.results[3].id)


def _cross_source_finding(
    out: Console, findings: pl.DataFrame, frames: dict[str, dict[str, pl.DataFrame]]
) -> None:
    """One finding between billing and the CRM, told as a person would read it."""
    hits = findings.filter(pl.col("rule") == "billing.account.paying_not_customer").sort("record_id")
    if hits.is_empty():
        return
    hit = hits.row(0, named=True)
    account = frames["salesforce"]["Account"].filter(pl.col("id") == hit["record_id"]).row(0, named=True)
    subs = frames["billing"]["Subscription"].filter(
        (pl.col("account_external_id") == hit["record_id"])
        | (pl.col("account_domain").str.contains(account["website"] or "-", literal=True))
    )
    plan = f"{subs['plan'][0]} plan, {subs['status'][0]}" if subs.height else "an active subscription"
    fix = f"; proposed: {hit['proposed_value']!r}" if hit["proposed_value"] else "; flagged for a person"
    told = (
        f"({hits.height} like it): Salesforce account {account['name']!r} ({hit['record_id']}) pays in "
        f"billing ({plan}) but its Type is {hit['current_value']!r}{fix}"
    )
    out.print(f"[bold]Across billing and the CRM[/] {escape(told)}")  # CRM values are plain text


def run_demo(
    *,
    records: int = 2000,
    seed: int = 42,
    defect_rate: float = 0.05,
    workdir: Path | None = None,
    console: Console | None = None,
) -> dict[str, int]:
    """Seed and serve the sandbox, pull it whole, edit it, pull again incrementally.

    Returns the rows in each snapshot (``salesforce.Contact``, ``hubspot.Account``...).
    """
    out = console or Console(width=None if sys.stdout.isatty() else 110)
    started = time.perf_counter()
    work = workdir or Path(tempfile.mkdtemp(prefix="crm-ops-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    with Sandbox(
        SandboxConfig(seed=SeedConfig(records=records, seed=seed, defect_rate=defect_rate))
    ) as sandbox:
        out.print(
            f"[bold]Sandbox[/] Salesforce {sandbox.env['CRM_OPS_SF_INSTANCE_URL']} (TLS, local CA), "
            f"HubSpot {sandbox.env['CRM_OPS_HUBSPOT_BASE_URL']}"
        )
        # billing (a SQLite table of subscriptions) and the product's users (Parquet), from the same companies
        sources = write_sources(generate_sources(sandbox.data), work / "sources")
        # secrets in the environment, as a deployment sets them
        profile = sandbox_profile(sandbox.env, work, extra=sources)
        config = Path(profile.source)
        puller = Puller(profile)
        try:
            first = puller.pull_many(profile.all_systems())
            out.print(pull_table("Full pull into snapshots", first))
            _edit_some_records(sandbox, puller)
            second = puller.pull_many(["salesforce", "hubspot"], ["Contact"])
            out.print(pull_table("Incremental pull after a few edits", second))
        finally:
            puller.close()
        counts = {f"{r.system}.{r.entity}": r.total for r in first}
        out.print(f"Snapshots and state: {work / 'state'} (config: {config})")
        run = run_check(profile)
        found = run.result.findings
        title = f"Data-quality findings: {found.height:,} from {len(run.rules)} rules"
        table = findings_table(title, found, limit=15)
        out.print(table)
        out.print(f"Findings: {run.findings_path}")
        _cross_source_finding(out, found, snapshot_frames(profile))
        matched = run_matching(snapshot_frames(profile), rules=run.rules)
        out.print(figures_table("Duplicates and Salesforce-HubSpot links", matched.stats))

        # the nightly batch: pull, check, match, plan, apply the safe fixes, report; then once more
        with config.open("a") as handle:
            handle.write(DEMO_RUN_SETTINGS)
        profile = load_profile(config, "sandbox")
        first_run = run_batch(profile, log_level="warning")
        second_run = run_batch(profile, log_level="warning")
        applied = first_run.summary["applied"]
        done = ", ".join(f"{k} {v}" for k, v in applied.items()) or "none"
        out.print(
            f"[bold]Batch[/] applied the safe fixes ({done}); "
            f"findings {first_run.summary['findings']:,} -> {second_run.summary['findings']:,}; "
            f"plan of the first run: {first_run.folder / 'plan.csv'}"
        )
        out.print(f"[bold]Report:[/] {second_run.folder / 'report.html'}")
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
