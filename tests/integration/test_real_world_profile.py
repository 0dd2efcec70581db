"""``--faults real-world``: every real-world fault at a realistic rate, with the real-world settings on
(sessions that expire, association pages, hundreds of custom properties). Two pulls of everything end
with the snapshots of a fault-free pull of the same seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.errors import BudgetExhaustedError
from crm_ops.pull import Puller
from crm_ops.sandbox.http import FAULT_PROFILES
from tests.pulling import jwt_profile, real_world_sandbox

pytestmark = pytest.mark.integration
SETTINGS: dict[str, Any] = {"custom_properties": 300, "association_page": 2, "session_calls": 15}
SMALL = {
    "salesforce": {"bulk_threshold": 1000, "bulk_page_records": 700, "rest_page_records": 200},
    "hubspot": {"part_rows": 500},
}
QUICK = {"retry_attempts": 15, "retry_initial_wait": 0.01, "retry_max_wait": 0.05}


def _snapshots(puller: Puller) -> dict[tuple[str, str], pl.DataFrame]:
    return {(c.system, c.entity): pl.read_parquet(c.snapshot).sort("id") for c in puller.state.all_current()}


def test_two_pulls_under_real_world_faults_end_equal_to_a_fault_free_pull(tmp_path: Path) -> None:
    with real_world_sandbox(3000, 51, **SETTINGS) as calm:
        reference = Puller(jwt_profile(calm, tmp_path / "reference", **SMALL))
        reference.pull_many(["salesforce", "hubspot"])
        want = _snapshots(reference)

    with real_world_sandbox(3000, 51, "real-world", **SETTINGS) as box:
        settings = {system: {**values, **QUICK} for system, values in SMALL.items()}
        profile = jwt_profile(box, tmp_path / "faults", **settings)
        stops = 0
        for _ in range(2):
            puller = Puller(profile)
            try:
                puller.pull_many(["salesforce", "hubspot"])
            except BudgetExhaustedError:
                stops += 1
            puller.close()
        injected = {
            f"{system}.{kind}"
            for system, counts in (
                ("salesforce", {**box.salesforce.faults.counts, **box.salesforce_layer.draws.counts}),
                ("hubspot", {**box.hubspot.faults.counts, **box.hubspot_layer.draws.counts}),
            )
            for kind, n in counts.items()
            if n
        }
    assert stops == 1, "the first pull stops at the daily allowances, the second completes"
    got = _snapshots(Puller(profile))
    assert set(got) == set(want)
    for key, frame in want.items():
        assert got[key].equals(frame), key
    assert {"salesforce.session_expired", "salesforce.total", "hubspot.daily"} <= injected, injected
    assert len(injected) >= 8, injected  # the generic faults and most real-world ones, in two pulls
    assert FAULT_PROFILES["real-world"].daily_after and FAULT_PROFILES["real-world"].total_after
