"""On the demo's data (``crm-ops demo``'s seed), no drift sync proposes a value that fails a shipped rule.

Checked independently of the gate: each proposed value is written into its target record in a copy of
the snapshots, and the shipped rules are run over the copy the way ``crm-ops check`` runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from crm_ops.check import current_frames
from crm_ops.match import run_matching
from crm_ops.pull import Puller
from crm_ops.rules import load_rules, run_rules
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.pulling import FAST_HUBSPOT, profile_for

pytestmark = pytest.mark.integration
Frames = dict[str, dict[str, pl.DataFrame]]


@pytest.fixture(scope="module")
def demo_frames(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frames]:
    seed = SeedConfig(records=2000, seed=42, defect_rate=0.05)  # as crm_ops.demo.run_demo seeds it
    with Sandbox(SandboxConfig(seed=seed, hubspot_limits=FAST_HUBSPOT)) as sb:
        puller = Puller(profile_for(sb, Path(tmp_path_factory.mktemp("demo"))))
        try:
            puller.pull_many(["salesforce", "hubspot"])
            yield current_frames(puller.state)
        finally:
            puller.close()


def _failing(frames: Frames, drift: pl.DataFrame) -> list[tuple[str, str, str | None, str]]:
    """(system, record, value, rule) for every proposed value that fails a rule of its field."""
    rules, _ = load_rules([])
    proposed = drift.filter(pl.col("confidence").is_not_null())
    out = []
    for (system, entity, column), group in proposed.group_by("system", "entity", "field"):
        frame = frames[str(system)][str(entity)]
        values = group.select(pl.col("record_id").alias("id"), pl.col("proposed_value").alias("__v"))
        dtype = frame.schema[str(column)]
        value = (
            pl.col("__v").str.to_date(strict=False)
            if dtype == pl.Date
            else pl.col("__v").cast(dtype, strict=False)
        )
        patched = frame.join(values, on="id").with_columns(value.alias(str(column))).drop("__v")
        # rules that look at other entities (the account's domain) see the real ones: judge with them
        context = {**frames[str(system)], str(entity): patched}
        findings = run_rules(rules, {str(system): context}).findings.filter(pl.col("entity") == entity)
        bad = findings.filter(pl.col("field") == column).join(values, left_on="record_id", right_on="id")
        out += [
            (str(system), r, v, rule) for r, v, rule in bad.select("record_id", "__v", "rule").iter_rows()
        ]
    return out


def test_no_drift_proposal_on_the_demo_data_fails_a_shipped_rule(demo_frames: Frames) -> None:
    before = run_matching(demo_frames, rules=[]).findings  # no rules: the sync the source of truth picks
    drift_before = before.filter(pl.col("rule").str.starts_with("match.drift."))
    broken = _failing(demo_frames, drift_before)
    emails = [b for b in broken if b[3] == "person.email.valid"]
    assert len(emails) >= 5 and any(b[3] == "person.title.placeholder" for b in broken)

    after = run_matching(demo_frames).findings  # the shipped rules, the default
    drift_after = after.filter(pl.col("rule").str.starts_with("match.drift."))
    assert _failing(demo_frames, drift_after) == []
    # the differences are all still reported; each broken one is synced the other way or withheld
    assert drift_after.height == drift_before.height
    turned = drift_after.filter(pl.col("message").str.contains("so (Salesforce|HubSpot)'s is proposed"))
    withheld = drift_after.filter(pl.col("confidence").is_null())
    assert turned.height + withheld.height >= len({(s, r) for s, r, _, _ in broken})
    assert withheld["message"].str.contains("sync withheld: .* fails ").all()
