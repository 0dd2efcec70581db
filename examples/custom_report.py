"""A custom report with the library API: data quality by account owner, from a check's findings.

Run: ``.venv/bin/python examples/custom_report.py``. Against a real org, point ``load_profile`` at your
config; everything below works on the snapshots and findings crm_ops already keeps.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from crm_ops.check import run_check, snapshot_frames
from crm_ops.config import sandbox_profile
from crm_ops.logs import configure
from crm_ops.pull import Puller
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig


def main() -> None:
    """Which owners' Salesforce contacts carry the most error-level problems, per thousand contacts."""
    configure(level="warning")
    work = Path(tempfile.mkdtemp(prefix="crm-ops-report-"))
    with Sandbox(SandboxConfig(seed=SeedConfig(records=3000, seed=5))) as sandbox:
        profile = sandbox_profile(sandbox.env, work)
        puller = Puller(profile)
        puller.pull_many(
            ["salesforce"], ["Contact", "Account", "Owner", "Lead", "Opportunity", "ContactRole"]
        )
        puller.close()
    findings = run_check(profile).result.findings
    frames = snapshot_frames(profile)["salesforce"]
    contacts = frames["Contact"].filter(~pl.col("is_deleted"))
    owners = frames["Owner"].select(
        pl.col("id").alias("owner_id"), pl.concat_str("first_name", "last_name", separator=" ").alias("owner")
    )
    errors = findings.filter((pl.col("entity") == "Contact") & (pl.col("severity") == "error"))
    per_contact = errors.group_by("record_id").len().rename({"record_id": "id", "len": "errors"})
    report = (
        contacts.join(per_contact, on="id", how="left")
        .join(owners, on="owner_id", how="left")
        .group_by("owner")
        .agg(pl.len().alias("contacts"), pl.col("errors").fill_null(0).sum().alias("errors"))
        .with_columns((1000 * pl.col("errors") / pl.col("contacts")).round(1).alias("errors per 1,000"))
        .sort("errors per 1,000", descending=True)
    )
    print(report.head(10))


if __name__ == "__main__":
    main()
