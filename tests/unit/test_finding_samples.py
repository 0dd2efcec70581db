"""A few findings of each rule, as a CSV file for people (``crm-ops check --samples-csv``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from crm_ops.check import CheckRun, finding_samples
from crm_ops.errors import ConfigError
from crm_ops.rules import FINDINGS_SCHEMA, CheckResult


def _findings(counts: dict[str, int]) -> pl.DataFrame:
    rows = [
        {
            "rule": rule,
            "entity": "Contact",
            "system": "salesforce" if i % 2 else "hubspot",
            "record_id": f"{rule}-{i}",
            "field": "email",
            "current_value": '=HYPERLINK("x")' if i == 0 else f"v{i}",
            "severity": "warning",
            "message": "Bad.",
            "proposed_value": None,
            "confidence": None,
        }
        for rule, n in counts.items()
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def test_samples_take_at_most_n_findings_of_each_rule_the_same_each_time() -> None:
    findings = _findings({"a.rule": 50, "b.rule": 2})
    sample = finding_samples(findings, 5)
    assert sample.group_by("rule").len().sort("rule").rows() == [("a.rule", 5), ("b.rule", 2)]
    assert sample["rule"].to_list()[:5] == ["a.rule"] * 5  # the rule with most findings first
    assert set(sample.filter(pl.col("rule") == "a.rule")["rule_findings"]) == {50}
    assert set(sample["system"]) == {"salesforce", "hubspot"}  # a spread, not the first five ids
    assert finding_samples(findings.reverse(), 5).sort("record_id").equals(sample.sort("record_id"))
    with pytest.raises(ConfigError, match="samples per rule must be 1 or more, got 0"):
        finding_samples(findings, 0)


def test_a_check_writes_its_samples_as_csv_for_people(tmp_path: Path) -> None:
    run = CheckRun(CheckResult(_findings({"a.rule": 4})), None, [], [])
    path = run.write_samples(tmp_path / "samples.csv", per_rule=3)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("rule,severity,rule_findings,system,entity,record_id,field,current_value,")
    read = pl.read_csv(path, infer_schema=False)
    assert read.height == 3 and set(read["rule_findings"]) == {"4"}
    assert "HYPERLINK" not in text or "'=HYPERLINK" in text
    every = run.write_samples(tmp_path / "all.csv", per_rule=4).read_text(encoding="utf-8")
    assert "'=HYPERLINK" in every  # a value a spreadsheet would run as a formula is shown as text
