"""``crm-ops profile`` (issue 27): the field audit of what was pulled: how full each column is, its distinct
and commonest values, the records whose value an admin has since retired from the field's picklist, and
since when a column has been empty in every pull, computed from the snapshots and the pulls' history."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from crm_ops.api import Workspace
from crm_ops.fieldaudit import _empty_since
from crm_ops.pull import read_snapshot
from crm_ops.sandbox import orgchanges as oc
from crm_ops.sandbox.server import Sandbox
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(400, 2702) as sb:
        yield sb


def test_the_audit_counts_what_the_snapshots_hold_and_the_values_off_the_picklist(
    box: Sandbox, tmp_path: Path
) -> None:
    profile = profile_for(box, tmp_path)
    ws = Workspace(profile)
    assert not ws.pull(entities=["Account", "Contact"]).failures
    accounts = read_snapshot(profile.state_dir, "salesforce", "Account").filter(~pl.col("is_deleted"))
    held = accounts["industry"].drop_nulls().value_counts(sort=True)
    retired = str(held["industry"][0])  # the commonest industry, taken off the picklist by an admin
    oc.sf_remove_picklist_value(box, "Account", "Industry", retired)
    assert not ws.pull(entities=["Account"]).failures  # the pull keeps the org's metadata as it is now

    audit = {(p.system, p.entity, p.column): p for p in ws.field_audit(systems=["salesforce"])}
    industry = audit[("salesforce", "Account", "industry")]
    filled = accounts.filter(pl.col("industry").is_not_null() & (pl.col("industry").str.strip_chars() != ""))
    assert (industry.live, industry.filled, industry.field) == (accounts.height, filled.height, "Industry")
    assert industry.distinct == filled["industry"].n_unique()
    assert industry.top[0] == (retired, int(held["count"][0]))
    assert industry.off_picklist == int(held["count"][0]) and industry.off_values == [
        (retired, industry.off_picklist)
    ]
    name = audit[("salesforce", "Account", "name")]
    assert name.off_picklist is None and name.fill_rate == pytest.approx(
        accounts["name"].is_not_null().sum() / accounts.height
    )
    assert not {c for s, e, c in audit if c in ("id", "updated_at", "is_deleted")}

    # the nightly run lists the column in its report's field audit, from its pulls' statistics
    run = ws.run()
    listed = {(c["system"], c["entity"], c["column"]): c for c in run.summary["field_audit"]}
    assert listed[("salesforce", "Account", "industry")]["off_picklist"] == industry.off_picklist
    assert all(c["off_picklist"] or c["fill_rate"] < 0.1 for c in listed.values())
    report = (run.folder / "report.html").read_text()
    assert "<h2>Field audit</h2>" in report and "salesforce.Account.industry" in report

    command = ["profile", "--entity", "Account", "--system", "salesforce", "--json", "--csv", "audit.csv"]
    done = crm_ops(
        *command,
        env={**os.environ, **box.env, "CRM_OPS_CONFIG": str(tmp_path / "crm-ops.toml")},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    printed = {p["column"]: p for p in json.loads(done.stdout)}
    assert printed["industry"]["off_picklist"] == industry.off_picklist
    assert {p["entity"] for p in printed.values()} == {"Account"}
    assert (tmp_path / "audit.csv").read_text().startswith("system,entity,column,field,live,filled")


def test_a_column_empty_in_every_pull_for_the_days_asked_is_empty_since_the_first() -> None:
    now = datetime(2026, 12, 7, tzinfo=UTC)

    def pull(days_ago: int, null_rate: float) -> dict[str, object]:
        taken = (now - timedelta(days=days_ago)).isoformat()
        return {"pulled_at": taken, "live": 10, "columns": {"fax": {"null_rate": null_rate}}}

    history = [pull(0, 1.0), pull(20, 1.0), pull(40, 1.0), pull(60, 0.5)]  # newest first
    assert _empty_since(history, "fax", 30, now) == (now - timedelta(days=40)).isoformat()
    assert _empty_since(history, "fax", 45, now) is None  # empty for 40 days only
    assert _empty_since([pull(0, 1.0), pull(40, 0.9)], "fax", 30, now) is None
