"""The Python API does what the command line does: a night through ``crm_ops.api`` (the example script
``examples/nightly_api.py``) and the same night through ``crm-ops`` commands, on two sandboxes holding
the very same data, give the same snapshots, findings, plan (approvals, labels, accounts), journal and
undo."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest

from crm_ops.api import Workspace, entities, match_configs, open_profile, show_plan
from crm_ops.config import sandbox_profile
from crm_ops.errors import ConfigError
from crm_ops.plan import read_plan
from crm_ops.plan.format import Plan
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.schema.entities import ENTITIES
from tests.applying import journal_of, twin_sandboxes
from tests.command import crm_ops

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SEED = SeedConfig(records=500, seed=23)
# where a record opens differs between two sandboxes (their ports); everything else must not
PER_HOST = ("url", "other_url")


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nightly_api", ROOT / "examples" / "nightly_api.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["nightly_api"] = module
    spec.loader.exec_module(module)
    return module


def _cli(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return crm_ops(  # in this process (tests.command)
        *args,
        env={
            **os.environ,
            **env,
            "CRM_OPS_CONFIG": str(folder / "crm-ops.toml"),
            "CRM_OPS_PROFILE": "sandbox",
        },
    )


def _actions(plan: Plan) -> list[dict[str, Any]]:
    return sorted(
        ({k: v for k, v in a.as_dict().items() if k not in PER_HOST} for a in plan.actions),
        key=lambda a: a["action_id"],
    )


def _findings(path: Path) -> pl.DataFrame:
    frame = pl.read_parquet(path)
    return frame.sort(frame.columns, nulls_last=True)


def test_a_night_through_the_api_equals_the_command_line(tmp_path: Path) -> None:
    example = _example()
    with twin_sandboxes(SEED, 3) as (first, second):
        ws = Workspace(sandbox_profile(first.env, tmp_path / "api"))
        night = example.night(ws)
        assert night.applied.counts.get("done", 0) > 0 and night.exit_code == 0

        folder = tmp_path / "cli"
        sandbox_profile(second.env, folder)
        steps = [("pull",), ("check", "--fail-on", "never"), ("match",), ("plan",)]
        for step in steps:
            done = _cli(folder, second.env, *step)
            assert done.returncode == 0, (step, done.stderr)
        plans = sorted((folder / "state" / "plans").glob("*/plan.jsonl"))
        assert len(plans) == 1
        applied = _cli(folder, second.env, "apply", str(plans[0].parent), "--yes")
        assert applied.returncode == 0, applied.stderr

        # the same snapshots, findings (rules' and matching's), plan and journal
        cli_state = folder / "state"
        assert night.pulled.results and {(r.system, r.entity, r.total) for r in night.pulled.results} == {
            (c.split(".")[0], c.split(".")[1], n) for c, n in _pulled_totals(cli_state).items()
        }
        assert _findings(night.checked.findings_path).equals(
            _findings(sorted((cli_state / "findings").glob("*.parquet"))[-1])
        )
        assert _findings(night.matched.findings_path).equals(
            _findings(sorted((cli_state / "match").glob("*/findings.parquet"))[-1])
        )
        cli_plan = read_plan(plans[0])
        assert _actions(night.planned.plan) == _actions(cli_plan)
        assert night.planned.approved == sum(1 for a in cli_plan.actions if a.approved) > 0
        # labels and record links are there, not only approvals
        assert all(a.label for a in cli_plan.actions if a.kind == "update")
        assert all(a.url for a in night.planned.plan.actions if a.kind == "update")
        api_journal = journal_of(tmp_path / "api", night.planned.plan.header.plan_id)
        cli_journal = journal_of(folder, cli_plan.header.plan_id)
        assert api_journal == cli_journal and len(api_journal) == night.planned.approved

        # what the plan would do, read both ways
        shown = json.loads(_cli(folder, second.env, "plan", "show", str(plans[0].parent), "--json").stdout)
        api_shown = show_plan(night.planned.folder)
        assert api_shown.pop("warnings") == []
        for key in ("by_rule", "by_kind", "by_object", "by_approval", "review_reasons", "actions"):
            assert api_shown[key] == shown[key], key

        # and undo, both ways: the same writes put back
        os.environ.update(first.env)  # the secrets are the environment's, as a deployment's are
        undone = ws.undo(night.planned.folder, write=True)
        cli_undo = _cli(folder, second.env, "undo", str(plans[0].parent), "--yes")
        # (Salesforce refuses to put back an e-mail with spaces round it: refused alike, exit 7 both ways)
        assert cli_undo.returncode == undone.exit_code, cli_undo.stderr
        assert sum(undone.counts.values()) == len(api_journal) and undone.counts.get("done", 0) > 0
        assert f"{undone.refused} record(s) refused" in cli_undo.stderr or not undone.refused
        assert undone.plan.header.plan_id == f"undo-{night.planned.plan.header.plan_id}"
        assert journal_of(tmp_path / "api", undone.plan.header.plan_id) == journal_of(
            folder, f"undo-{cli_plan.header.plan_id}"
        )


def _pulled_totals(state_dir: Path) -> dict[str, int]:
    from crm_ops.state import State

    state = State(state_dir / "state.sqlite")
    try:
        return {f"{c.system}.{c.entity}": c.snapshot.read().height for c in state.all_current()}
    finally:
        state.close()


def test_the_api_refuses_what_the_command_line_refuses(tmp_path: Path) -> None:
    profile = tmp_path / "crm-ops.toml"
    profile.write_text(
        '[profiles.prod]\nproduction = true\nstate_dir = "state"\n'
        '[profiles.prod.salesforce]\nlogin_url = "https://login.example.com"\n'
    )
    with pytest.raises(ConfigError, match="no profile 'nope'"):
        open_profile(profile, "nope")
    ws = open_profile(profile, "prod")
    with pytest.raises(ConfigError, match="engine: expected one of polars, spark, got 'duckdb'"):
        ws.check(engine="duckdb")
    with pytest.raises(ConfigError, match="survivor 'newest'"):
        ws.match(survivor="newest")
    with pytest.raises(ConfigError, match="no findings yet"):
        ws.plan()
    with pytest.raises(ConfigError, match="add --allow-production"):
        ws.apply(tmp_path / "plan", write=True)


def test_the_catalog_lists_the_entities_and_match_rules_from_the_code() -> None:
    listed = entities()
    assert list(listed)[: len(ENTITIES)] == list(ENTITIES)  # then any a profile declared
    assert listed["Contact"]["id"] == "String" and "email" in listed["Contact"]
    assert "Subscription" not in entities(sources=False)
    configs = match_configs()
    assert {"Contact", "Account", "cross.Contact"} <= set(configs)
    assert all(0 < c.threshold <= 1 for c in configs.values())
