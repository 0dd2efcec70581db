"""What blocking could not compare reaches the night's summary.json, its report and `crm-ops match`'s
output (issue 28): a rule set whose key is shared by more records than its max_block is never silent."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from crm_ops.sandbox.server import Sandbox
from tests.command import crm_ops
from tests.pulling import fast_sandbox, profile_for

pytestmark = pytest.mark.integration
# contacts blocked by their account alone, at most 2 a block: most accounts have more contacts
COARSE = """
[profiles.sandbox.match.Contact]
max_block = 2
blocking = [["account_id"]]
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with fast_sandbox(300, 28) as sb:
        yield sb


def _cli(box: Sandbox, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return crm_ops(*args, "-c", folder / "crm-ops.toml", env={**os.environ, **box.env})  # tests.command


def test_pairs_not_compared_are_in_the_summary_the_report_and_the_match_output(
    box: Sandbox, tmp_path: Path
) -> None:
    profile_for(box, tmp_path, extra=COARSE)
    run = _cli(box, tmp_path, "run")
    assert run.returncode in (0, 1), run.stderr
    folder = sorted(p for p in (tmp_path / "state" / "runs").iterdir() if p.is_dir())[-1]
    summary = json.loads((folder / "summary.json").read_text())["match"]
    blocks = summary["salesforce.Contact.blocks_capped"]
    records = summary["salesforce.Contact.records_in_capped_blocks"]
    missed = summary["salesforce.Contact.pairs_not_compared"]
    assert blocks > 0 and records > 2 * blocks and missed > 0
    line = (
        f"salesforce.Contact: {blocks:,} blocks over max_block 2 ({records:,} records): "
        f"{missed:,} pairs not compared"
    )
    assert line in (folder / "report.html").read_text()

    matched = _cli(box, tmp_path, "match")
    assert matched.returncode == 0, matched.stderr
    assert re.search(
        r"salesforce\.Contact: [\d,]+ blocks over max_block 2 \([\d,]+ records\): [\d,]+ pairs not compared",
        matched.stdout,
    )
    assert "hubspot.Contact: " in matched.stdout

    # a pair it proposed, explained: scored, and compared in a sub-block of its account (issue 28)
    found = sorted((tmp_path / "state" / "match").iterdir())[-1]
    pairs = pl.read_parquet(found / "duplicates.parquet").filter(
        (pl.col("system") == "salesforce") & (pl.col("entity") == "Contact")
    )
    assert pairs.height > 0
    left, right = pairs.row(0, named=True)["left_id"], pairs.row(0, named=True)["right_id"]
    why = _cli(box, tmp_path, "match", "--why", left, right)
    assert why.returncode == 0, why.stderr
    lines = why.stdout.splitlines()
    assert (
        lines[0] == f"salesforce Contact {left} and salesforce Contact {right}, by rule set Contact: proposed"
    )
    assert (
        "    account_id: shared, its value is held by" in why.stdout
        and "compared in a sub-block" in why.stdout
    )
    unknown = _cli(box, tmp_path, "match", "--why", left, "nope")
    assert unknown.returncode == 2 and "no record 'nope'" in unknown.stderr
