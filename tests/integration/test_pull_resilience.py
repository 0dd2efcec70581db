"""Pulls survive a hostile network and a SIGKILL at any point, ending with the same snapshots."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from crm_ops.pull import Puller
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.http import parse_fault_profile
from crm_ops.sandbox.hubspot import HubSpotLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.pulling import assert_same, expected, profile_for

pytestmark = pytest.mark.integration
FAST = HubSpotLimits(per_ten_seconds=1_000_000, search_per_second=100_000)
# small pages, so a pull is many pages and many resumable steps; Bulk for anything over 1,000 rows
SMALL_SF = {"bulk_threshold": 1000, "bulk_page_records": 700, "rest_page_records": 200}
SMALL_HS = {"part_rows": 500}
QUICK_RETRY = {"retry_attempts": 15, "retry_initial_wait": 0.01, "retry_max_wait": 0.05}
ENTITIES = {
    "salesforce": ["Account", "Contact", "Lead", "Opportunity", "Owner", "ContactRole"],
    "hubspot": ["Account", "Contact", "Opportunity", "Owner", "ContactRole"],
}


def test_pull_through_429_503_and_dropped_connections_equals_ground_truth(tmp_path: Path) -> None:
    faults = parse_fault_profile("429=0.1,503=0.1,drop=0.03")
    config = SandboxConfig(
        seed=SeedConfig(records=3000, seed=8), faults=faults, fault_seed=3, hubspot_limits=FAST
    )
    with Sandbox(config) as box:
        profile = profile_for(
            box, tmp_path, salesforce={**SMALL_SF, **QUICK_RETRY}, hubspot={**SMALL_HS, **QUICK_RETRY}
        )
        puller = Puller(profile)
        puller.pull_many(["salesforce", "hubspot"])
        data = box.data
        for system, entities in ENTITIES.items():
            tables = (
                data.salesforce if system == "salesforce" else {**data.hubspot, "owners": data.hubspot_owners}
            )
            for entity in entities:
                truth = expected(system, entity, tables, data.hubspot_associations)
                current = puller.state.current(system, entity)
                assert current is not None
                assert_same(current.snapshot.read(), truth, f"{system}.{entity}")
        injected = {
            k: box.salesforce.faults.counts[k] + box.hubspot.faults.counts[k] for k in ("429", "503", "drop")
        }
    assert all(n >= 5 for n in injected.values()), injected


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(seed=SeedConfig(records=12_000, seed=13), hubspot_limits=FAST)) as sb:
        yield sb


def _committed_parts(state_file: Path) -> int:
    if not state_file.exists():
        return 0
    try:
        with sqlite3.connect(state_file, timeout=1) as db:
            row = db.execute("SELECT COALESCE(SUM(parts), 0) + COUNT(*) FROM pulls").fetchone()
        return int(row[0])
    except sqlite3.Error:
        return 0


def _run_pull(config: Path, *, kill_after_progress: int | None, rng: random.Random) -> int | None:
    """Run `crm-ops pull` in a child process; SIGKILL it once the state shows enough progress."""
    env = {**os.environ, "CRM_OPS_CONFIG": str(config)}
    child = subprocess.Popen(
        [sys.executable, "-m", "crm_ops", "pull"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if kill_after_progress is None:
        return child.wait(timeout=600)
    state_file = config.parent / "state" / "state.sqlite"
    start = _committed_parts(state_file)
    deadline = time.monotonic() + 300
    while child.poll() is None and time.monotonic() < deadline:
        if _committed_parts(state_file) >= start + kill_after_progress:
            time.sleep(rng.uniform(0, 0.3))  # somewhere inside the next step: a write, a call, a commit
            child.kill()
            child.wait()
            return None
        time.sleep(0.02)
    return child.wait(timeout=60)


def _snapshots(puller: Puller) -> dict[tuple[str, str], pl.DataFrame]:
    return {(c.system, c.entity): c.snapshot.read().sort("id") for c in puller.state.all_current()}


def test_pull_killed_at_random_points_ends_with_the_uninterrupted_snapshot(
    box: Sandbox, tmp_path: Path
) -> None:
    rng = random.Random(1234)
    reference = Puller(profile_for(box, tmp_path / "reference", salesforce=SMALL_SF, hubspot=SMALL_HS))
    reference.pull_many(["salesforce", "hubspot"])
    want = _snapshots(reference)

    folder = tmp_path / "killed"
    profile_for(box, folder, salesforce=SMALL_SF, hubspot=SMALL_HS)
    kills = 0
    for progress in (1, 2, 4, 7, 11, 16, 3, 9):
        if _run_pull(folder / "crm-ops.toml", kill_after_progress=progress, rng=rng) is None:
            kills += 1
    assert kills >= 5, "the pulls ended before they could be killed: make the sandbox bigger"
    assert _run_pull(folder / "crm-ops.toml", kill_after_progress=None, rng=rng) == 0

    resumed = Puller(profile_for(box, folder, salesforce=SMALL_SF, hubspot=SMALL_HS))
    got = _snapshots(resumed)
    assert set(got) == set(want)
    for key, frame in want.items():
        assert got[key].equals(frame), key
    assert not any(j.status == "running" for j in resumed.state.pulls())
    assert any(j.resumes for j in resumed.state.pulls()), "no pull was ever resumed"
    assert not list((folder / "state" / "pulls").glob("*/part-*.parquet"))
