"""Earlier runs' summaries the report cannot use are named and left out, whatever is wrong with them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crm_ops.report.history import summaries, summary_problem
from crm_ops.report.index import render_index

GOOD = {
    "run_id": "20260101T000000",
    "started_at": "2026-01-01T00:00:00",
    "exit_code": 0,
    "scores": {"Contact": 90},
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"exit_code": "0"}, "exit_code missing or not a int"),
        ({"findings": "many"}, "findings is not a number"),
        ({"scores": [90]}, "scores is not an object"),
        ({"scores": {"Contact": "ninety"}}, "holds a value that is not a number"),
        ({"score_counts": {"Contact": {"records": 3}}}, "score_counts holds an entry"),
    ],
)
def test_a_summary_of_the_wrong_shape_is_named_and_left_out(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    assert summary_problem(GOOD) is None
    assert problem in str(summary_problem({**GOOD, **change}))
    for name, summary in (("a", {**GOOD, **change}), ("b", GOOD)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    kept = summaries(tmp_path)
    assert kept == [GOOD]
    assert "1 runs, newest first" in render_index("p", kept)
