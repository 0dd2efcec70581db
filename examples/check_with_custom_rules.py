"""Pull the sandbox, then check it with the shipped rules plus a team's own (examples/rules/).

Run: ``.venv/bin/python examples/check_with_custom_rules.py``. Prints the custom rules' example results
and a summary of the findings; the findings themselves are a Parquet file, one row per problem.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl

from crm_ops.check import profile_rules, run_check
from crm_ops.config import sandbox_profile
from crm_ops.logs import configure
from crm_ops.pull import Puller
from crm_ops.rules import summary
from crm_ops.rules.testing import run_examples
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig

CUSTOM = Path(__file__).resolve().parent / "rules"


def main() -> None:
    """Seed 1,000 contacts per CRM, pull them, run shipped + custom rules."""
    configure(level="warning")
    custom, problems = profile_rules(None, [CUSTOM], shipped=False)
    assert not problems, problems
    results = run_examples(custom)
    print(f"custom rules: {len(custom)}, examples passed: {sum(r.ok for r in results)}/{len(results)}")

    work = Path(tempfile.mkdtemp(prefix="crm-ops-example-"))
    with Sandbox(SandboxConfig(seed=SeedConfig(records=1000, seed=12))) as sandbox:
        profile = sandbox_profile(sandbox.env, work)
        puller = Puller(profile)
        puller.pull_many(["salesforce", "hubspot"])
        puller.close()
    run = run_check(profile, extra_rules=[CUSTOM])
    findings = run.result.findings
    print(summary(findings).head(12))
    print(findings.filter(pl.col("rule").str.starts_with("acme.")).group_by("rule").len().sort("rule"))
    print(f"findings written to {run.findings_path}")


if __name__ == "__main__":
    main()
