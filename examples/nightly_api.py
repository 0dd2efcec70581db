"""A whole night through the Python API, no command line: pull, check, match, plan, look at the plan,
apply what the review settings approve, and keep what a person should read.

Run: ``.venv/bin/python examples/nightly_api.py`` (on a sandbox it starts itself). Against a real org,
call ``night(open_profile("crm-ops.toml", "prod"))`` with the secrets in the environment: it writes
only when the profile is not production or ``allow_production`` is passed, as ``crm-ops apply --yes``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from crm_ops.api import ApplyRun, CheckRun, MatchRun, PlanRun, PullRun, Workspace
from crm_ops.config import sandbox_profile
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig


@dataclass(frozen=True)
class Night:
    """What each step of the night returned."""

    pulled: PullRun
    checked: CheckRun
    matched: MatchRun
    planned: PlanRun
    applied: ApplyRun

    @property
    def exit_code(self) -> int:
        """The worst of the steps' exit codes, as cron would see them."""
        return max(self.pulled.exit_code, self.checked.exit_code(fail_on="never"), self.applied.exit_code)


def night(ws: Workspace, *, allow_production: bool = False) -> Night:
    """One night: every step the command line has, each a call; nothing else is needed."""
    pulled = ws.pull()  # incremental after the first night; entities that fail are listed, not fatal
    for failure in pulled.failures:
        print(f"pull failed: {failure}")
    checked = ws.check()
    for problem in checked.problems:  # a rule that could not load: its findings are missing
        print(f"rule problem: {problem}")
    matched = ws.match()
    planned = ws.plan([p for p in (checked.findings_path, matched.findings_path) if p is not None])
    shown = ws.show(planned.folder, samples=1, merges=1)
    for rule, counts in list(shown["by_rule"].items())[:5]:
        print(f"  {rule:<45} {counts['actions']:>5} actions ({counts['kind']})")
    # the actions the review settings approve (the safe fixes); a person reviews plan.csv for the rest
    applied = ws.apply(planned.folder, write=True, allow_production=allow_production)
    return Night(pulled, checked, matched, planned, applied)


def main() -> None:
    """A night on a small sandbox of both CRMs."""
    work = Path(tempfile.mkdtemp(prefix="crm-ops-night-"))
    with Sandbox(SandboxConfig(seed=SeedConfig(records=400, seed=7))) as sandbox:
        ws = Workspace(sandbox_profile(sandbox.env, work))
        done = night(ws)
    rows = sum(r.total for r in done.pulled.results)
    print(f"pulled {rows:,} rows in {len(done.pulled.results)} entities")
    print(
        f"{done.checked.result.findings.height:,} rule findings, {done.matched.findings.height:,} proposals"
    )
    print(
        f"plan {done.planned.plan.header.plan_id}: {len(done.planned.plan.actions):,} actions, "
        f"{done.planned.approved:,} approved by default; review {done.planned.review_file}"
    )
    print("applied: " + ", ".join(f"{k} {v:,}" for k, v in sorted(done.applied.counts.items())))
    print(f"exit code {done.exit_code}")


if __name__ == "__main__":
    main()
