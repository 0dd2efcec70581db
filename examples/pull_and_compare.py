"""Pull both CRMs into snapshots with the Python API, then compare them with polars.

Run: ``.venv/bin/python examples/pull_and_compare.py``. Against a real org, only the config file
differs: point ``load_profile`` at your crm-ops.toml and set the secrets in the environment.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from crm_ops.config import sandbox_profile
from crm_ops.pull import Puller, read_snapshot
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig


def main() -> None:
    """Pull 1,000 contacts per CRM; show contacts without an account and the cross-CRM link rate."""
    work = Path(tempfile.mkdtemp(prefix="crm-ops-example-"))
    with Sandbox(SandboxConfig(seed=SeedConfig(records=1000, seed=9))) as sandbox:
        puller = Puller(sandbox_profile(sandbox.env, work))
        for result in puller.pull_many(["salesforce", "hubspot"], ["Account", "Contact"]):
            print(
                f"{result.system:<10} {result.entity:<8} {result.total:>6} rows, {result.api_calls} API calls"
            )
        puller.close()

    contacts = pl.concat(
        [read_snapshot(work / "state", system, "Contact") for system in ("salesforce", "hubspot")],
        how="diagonal_relaxed",
    ).filter(~pl.col("is_deleted"))
    summary = contacts.group_by("source_system").agg(
        pl.len().alias("contacts"),
        pl.col("account_id").is_null().sum().alias("without account"),
        pl.col("linked_id").is_not_null().mean().round(3).alias("linked to the other CRM"),
    )
    print(summary.sort("source_system"))


if __name__ == "__main__":
    main()
