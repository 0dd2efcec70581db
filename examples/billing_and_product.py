"""Check the CRMs against billing and the product: a SQLite billing table and a CSV of product users,
configured as sources beside Salesforce and HubSpot, pulled, linked and checked with the shipped rules.

Run: ``.venv/bin/python examples/billing_and_product.py``. Prints the sources' pulls, how many billing
customers and product users were linked to CRM records, and the cross-source findings by rule.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from crm_ops.check import profile_rules, snapshot_frames
from crm_ops.config import sandbox_profile
from crm_ops.logs import configure
from crm_ops.match.sources import source_links
from crm_ops.pull import Puller
from crm_ops.rules import run_rules, summary
from crm_ops.rules.crosssource import CACHE_KEY
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.generator.billing import generate_sources, write_sources
from crm_ops.sandbox.server import Sandbox, SandboxConfig

# What a team writes in crm-ops.toml for its own billing database and product export: the billing
# source as the sandbox writes it (a SQLite table and a YAML map), the product users from a CSV with
# the map inline, and the exchange rates the ARR rule converts with.
PRODUCT_FROM_CSV = """
[profiles.sandbox.sources.product]
entity = "ProductUser"
path = "{folder}/product-users.csv"
[profiles.sandbox.sources.product.columns]
id = "user_id"
email = "email"
account_domain = {{field = "company_domain", optional = true}}
signed_up_at = "created"
last_active_at = "last_seen"
"""


def main() -> None:
    """Seed 1,000 contacts per CRM, write billing and product data for the same companies, check them."""
    configure(level="warning")
    work = Path(tempfile.mkdtemp(prefix="crm-ops-sources-"))
    with Sandbox(SandboxConfig(seed=SeedConfig(records=1000, seed=7))) as sandbox:
        generated = generate_sources(sandbox.data)
        config = write_sources(generated, work / "sources")
        billing_only = config.split("[profiles.sandbox.sources.product]")[0]
        rates = config[config.index("[profiles.sandbox.rules.params") :]
        extra = billing_only + PRODUCT_FROM_CSV.format(folder=(work / "sources").as_posix()) + rates
        profile = sandbox_profile(sandbox.env, work, extra=extra)
        puller = Puller(profile)
        try:
            for result in puller.pull_many(profile.all_systems()):
                if result.system in profile.sources:
                    print(f"pulled {result.system} {result.entity}: {result.total:,} rows ({result.mode})")
        finally:
            puller.close()
    frames = snapshot_frames(profile)
    links = source_links(frames)
    print(links.group_by("source", "system", "entity", "method").len().sort("source", "system", "method"))
    rules = [r for r in profile_rules(profile)[0] if r.id.startswith(("billing.", "product."))]
    findings = run_rules(rules, frames, cache={CACHE_KEY: links}).findings  # the links computed above
    print(summary(findings))
    fixes = findings.filter(pl.col("proposed_value").is_not_null())
    print(
        f"{fixes.height} proposed fixes (lifecycle stages and types), {findings.height - fixes.height} flags"
    )


if __name__ == "__main__":
    main()
