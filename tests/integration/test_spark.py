"""The Spark engine (local[2], a few partitions) gives polars' findings, duplicate pairs and links exactly.

One SparkSession for the test session; one 20k-record sandbox pull. The Spark side runs the README's
"Running on an existing Spark cluster" code as written, with the snapshots read from a ``file://`` URI
(as a cluster would read ``s3a://``), so the README is tested too.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops.check import current_frames
from crm_ops.config import load_profile
from crm_ops.match import run_matching
from crm_ops.pull import Puller
from crm_ops.rules import load_rules, run_rules
from crm_ops.state import State
from tests.pulling import fast_sandbox, profile_for

pyspark = pytest.importorskip("pyspark")
pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
RECORDS = 20_000
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from crm_ops.config import SparkSettings
    from crm_ops.spark import session

    s = session(settings=SparkSettings(master="local[2]", partitions=4))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, pl.DataFrame]]]:
    """A 20k pull, and a config whose `prod` profile reads its snapshots from a file:// URI on Spark."""
    folder = tmp_path_factory.mktemp("spark")
    with fast_sandbox(RECORDS, 9) as sb:
        profile = profile_for(sb, folder / "pull")
        Puller(profile).pull_many(["salesforce", "hubspot"])
    state = State(profile.state_dir / "state.sqlite")
    try:
        frames = current_frames(state)
        lake = folder / "lake"
        for c in state.all_current():
            target = lake / c.system / c.entity
            target.mkdir(parents=True)
            shutil.copy(c.snapshot, target / "part-0.parquet")
    finally:
        state.close()
    config = folder / "crm-ops.toml"
    config.write_text(
        f"""[profiles.prod]
state_dir = "{folder / "prod"}"
production = true
engine = "spark"

[profiles.prod.spark]
snapshots = "{lake.as_uri()}"
"""
    )
    return config, frames


def _readme_code() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Running on Spark", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "README: no python block under 'Running on Spark'"
    return str(blocks[0])


def _same(expected: pl.DataFrame, got: pl.DataFrame, what: str) -> None:
    cols = expected.columns
    a = expected.sort(cols, nulls_last=True)
    b = got.select(cols).sort(cols, nulls_last=True)
    if not a.equals(b):
        only_a = a.join(b, on=cols, how="anti", nulls_equal=True)
        only_b = b.join(a, on=cols, how="anti", nulls_equal=True)
        raise AssertionError(
            f"{what}: {only_a.height} only on polars {only_a.head(5)}, "
            f"{only_b.height} only on Spark {only_b.head(5)}"
        )


def test_spark_gives_polars_findings_pairs_and_links_exactly(
    spark: Any, pulled: tuple[Path, dict[str, dict[str, pl.DataFrame]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, frames = pulled
    rules, problems = load_rules()
    assert problems == []
    expected = run_rules(rules, frames, now=NOW)
    matched = run_matching(frames)
    # the README's code, as written, with this test's config (the Spark session is the given one)
    monkeypatch.chdir(config.parent)
    code = _readme_code()
    assert "run_check(profile, spark=spark)" in code
    code = code.replace("run_check(profile, spark=spark)", "run_check(profile, spark=spark, now=NOW)")
    scope: dict[str, Any] = {"spark": spark, "NOW": NOW}
    exec(code, scope)  # noqa: S102 - the README's own code (the run's time fixed)
    run, result = scope["run"], scope["matched"]
    assert run.result.errors == []
    assert expected.findings.height > 1000
    _same(expected.findings, run.result.findings, "findings")
    assert run.findings_path is not None and run.findings_path.exists()
    _same(matched.duplicates, result.duplicates, "duplicate pairs")
    _same(matched.links, result.links, "links")
    _same(matched.findings, result.findings, "match findings")
    _same(matched.unmatched, result.unmatched, "unmatched")
    assert matched.duplicates.height > 100 and matched.links.height > 10_000
    assert result.stats == matched.stats
    assert load_profile(config, "prod").engine == "spark"
