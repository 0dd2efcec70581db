"""The nightly batch as a task of an orchestrator (Airflow, Dagster, Prefect): a plain function that
calls the Python API, so it runs as is, with none of them installed.

Run: ``.venv/bin/python examples/airflow_task.py`` (on a sandbox it serves itself). In a DAG the
function is the task; its return value (the run's summary) is what the next task gets (an XCom in
Airflow), and an exception marks the task failed for the orchestrator's own retries and alerts:

    # dags/crm_ops_nightly.py (Airflow 2.x TaskFlow)
    # from datetime import datetime
    # from airflow.decorators import dag, task
    # from examples.airflow_task import nightly_data_quality
    #
    # @dag(schedule="0 2 * * *", start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=1)
    # def crm_ops_nightly():
    #     task(retries=2)(nightly_data_quality)(config="/etc/crm-ops/crm-ops.toml", profile="prod")
    #
    # crm_ops_nightly()

    # Dagster: @op def nightly(): return nightly_data_quality("/etc/crm-ops/crm-ops.toml", "prod")

Findings above the threshold (exit code 1) are the report's business, not a failed task: the
function returns and the profile's webhook (``[profiles.P.notify]``) says so. A run that could not
finish (configuration, CRM, API budget) raises. Secrets come from the task's environment, as for cron.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from crm_ops.config import load_profile, sandbox_config
from crm_ops.runner import EXIT_FAILED, EXIT_PARTIAL, LockedError, run_batch
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig


class RunFailedError(RuntimeError):
    """The run ended in a state a person must look at: a partial pull, a rule that did not load or
    raised, records the CRM refused."""


def nightly_data_quality(config: str, profile: str, *, allow_production: bool = False) -> dict[str, Any]:
    """One nightly run: pull, check, match, plan, apply the safe fixes, report. Returns the summary.

    Raises ``CrmOpsError`` (configuration, CRM, budget) and ``RunFailedError`` on a partial pull, a rule
    error or records the CRM refused; another run holding the lock is a skip, not a failure (the summary
    says ``skipped``). Either way the run's folder has its summary.json and report.html.
    """
    try:  # warnings as JSON on stderr (the orchestrator's task log); the run's own run.log gets it all
        result = run_batch(
            load_profile(config, profile), allow_production=allow_production, log_level="warning"
        )
    except LockedError as exc:
        return {"skipped": str(exc)}
    if result.exit_code == EXIT_PARTIAL:
        raise RunFailedError(f"run {result.run_id}: pulls failed: {result.summary['pull_failures']}")
    if result.exit_code == EXIT_FAILED:
        summary = result.summary
        raise RunFailedError(
            f"run {result.run_id}: {len(summary['rule_errors'])} rule error(s) {summary['rule_errors'][:3]}, "
            f"{summary['applied'].get('failed', 0)} record(s) refused by the CRM; see {result.folder}"
        )
    return {**result.summary, "report": str(result.folder / "report.html")}


def main() -> None:
    """The task against a sandbox, as the orchestrator would call it."""
    work = Path(tempfile.mkdtemp(prefix="crm-ops-task-"))
    with Sandbox(SandboxConfig(seed=SeedConfig(records=800, seed=3))) as sandbox:
        os.environ.update(sandbox.env)  # the task's environment holds the secrets
        config = work / "crm-ops.toml"
        config.write_text(sandbox_config(sandbox.env, work / "state"))
        summary = nightly_data_quality(str(config), "sandbox")
    shown = {
        k: summary.get(k) for k in ("run_id", "exit_code", "findings", "plan_actions", "applied", "report")
    }
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
