"""Tables too large to hold whole (issue 26: activity tables, ten or more times the contacts) are checked
a chunk at a time and give the same findings as the whole table: per-row checks, conditions, parents'
values and tolerances on the chunks; a uniqueness check and a user's Python check not declared row-level
over the whole table. Which tables stay on disk, and the plan's and score's counts from them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from crm_ops.config import Profile
from crm_ops.layered import Snapshot
from crm_ops.match.run import matched_entities
from crm_ops.plan.context import Context
from crm_ops.plan.format import Action, actions_table
from crm_ops.report.scores import score_counts
from crm_ops.rules import row_level, run_rules
from crm_ops.rules.chunks import chunk_safe
from crm_ops.rules.loader import load_yaml_rules
from crm_ops.rules.model import Rule, example_frame
from crm_ops.snapshots import split_frames
from crm_ops.state import State

NOW = datetime(2026, 6, 1, tzinfo=UTC)
YAML_RULES = [
    # a condition, and tolerances the chunks must count together: 49 of the 489 judged rows fail (10%,
    # within 12%), but more than 40 rows (while no chunk of 37 has more than 4)
    {"id": "t.name", "entity": "Opportunity", "field": "name", "severity": "error", "description": "Named.",
     "check": "not_null", "when": {"field": "amount", "op": ">", "value": 100}, "tolerance": "12%"},
    {"id": "t.named", "entity": "Opportunity", "field": "name", "severity": "error", "description": "Named.",
     "check": "not_null", "when": {"field": "amount", "op": ">", "value": 100}, "tolerance": 40},
    # a parent's value, read from the frames held whole
    {"id": "t.account", "entity": "Opportunity", "field": "account_id", "severity": "warning",
     "description": "A live account.",
     "check": {"holds": {"ref": {"via": "account_id", "entity": "Account", "field": "id"},
                         "op": "not_null"}}},
    # rows compared with each other: over the whole table
    {"id": "t.unique", "entity": "Opportunity", "field": "name", "severity": "info", "description": "Unique.",
     "check": "unique"},
]  # fmt: skip


def _opportunities(n: int) -> pl.DataFrame:
    rows = [
        {
            "id": f"006{i:05d}",
            "name": None if i % 10 == 3 else f"Deal {i % 150}",
            "amount": float(i),
            "account_id": f"001{i % 7:05d}",
            "is_deleted": i % 50 == 49,
        }
        for i in range(n)
    ]
    return example_frame("Opportunity", rows, "salesforce")


def _rules(tmp_path: Path) -> list[Rule]:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": YAML_RULES}))
    rules, problems = load_yaml_rules(path)
    assert problems == []

    def above_mean(frame: pl.DataFrame, ctx: Any, params: Any) -> pl.Expr:
        return pl.col("amount") <= pl.col("amount").mean() * 1.9  # compares a row with the whole table

    def positive(frame: pl.DataFrame, ctx: Any, params: Any) -> pl.Expr:
        return pl.col("amount") > 0

    python = [
        Rule("t.mean", ("Opportunity",), "info", "Not far above the mean.", above_mean, field="amount"),
        Rule("t.positive", ("Opportunity",), "info", "Positive.", row_level(positive), field="amount"),
    ]
    return [*rules, *python]


def _sorted(findings: pl.DataFrame) -> pl.DataFrame:
    return findings.sort(["rule", "record_id"])


def test_a_large_table_checked_in_chunks_gives_the_whole_tables_findings(tmp_path: Path) -> None:
    rules = _rules(tmp_path)
    assert [chunk_safe(r) for r in rules] == [True, True, True, False, False, True]
    opps = _opportunities(600)
    accounts = example_frame("Account", [{"id": f"001{i:05d}"} for i in range(6)], "salesforce")  # 6 gone
    whole = run_rules(rules, {"salesforce": {"Account": accounts, "Opportunity": opps}}, now=NOW)
    path = tmp_path / "opps.parquet"
    opps.write_parquet(path, row_group_size=50)
    chunked = run_rules(
        rules,
        {"salesforce": {"Account": accounts}},
        now=NOW,
        large={"salesforce": {"Opportunity": Snapshot(path)}},
        chunk_rows=37,
    )
    assert whole.errors == [] and chunked.errors == []
    assert _sorted(chunked.findings).equals(_sorted(whole.findings))
    counts = dict(whole.findings["rule"].value_counts().iter_rows())
    # every kind of rule found something, so each could have differed
    assert counts["t.name"] and counts["t.account"] and counts["t.unique"] and counts["t.mean"]
    assert set(whole.findings.filter(pl.col("rule") == "t.name")["severity"]) == {"info"}  # within 12%
    assert set(whole.findings.filter(pl.col("rule") == "t.named")["severity"]) == {"error"}  # beyond 40
    # the rule comparing each row with the table's mean, run on 37-row chunks, would have found others
    by_chunk = pl.concat(
        [
            run_rules(rules[4:5], {"salesforce": {"Opportunity": opps.slice(i, 37)}}, now=NOW).findings
            for i in range(0, 600, 37)
        ]
    )
    assert by_chunk.height != counts["t.mean"]


def _state_with(tmp_path: Path, tables: dict[str, pl.DataFrame]) -> State:
    state = State(tmp_path / "state" / "state.sqlite")
    for entity, frame in tables.items():
        path = tmp_path / f"{entity}.parquet"
        frame.write_parquet(path)
        job = state.start_pull("salesforce", entity, "full", None, NOW)
        state.finish_pull(job, Snapshot(path), frame.height, NOW)
    return state


def test_only_large_tables_matching_does_not_use_stay_on_disk(tmp_path: Path) -> None:
    tasks = pl.DataFrame({"id": [f"00T{i}" for i in range(30)], "is_deleted": [False] * 30})
    small = tasks.head(5)
    opps = _opportunities(40)
    tables = {"Task": tasks, "Note": small, "Opportunity": opps, "Widget": tasks, "Case": tasks}
    state = _state_with(tmp_path, tables)
    try:
        profile = Profile(
            name="p", state_dir=tmp_path / "state", match={"Widget": {"fields": []}, "Case": {}}
        )
        # the core entities, those matching deduplicates by default, and the [match] tables' (cases)
        assert matched_entities(profile) >= {"Contact", "Opportunity", "Widget", "Case"}
        found = split_frames(state, whole=matched_entities(profile), chunk_rows=10)
    finally:
        state.close()
    assert found.large == {
        "salesforce": {"Task": Snapshot(tmp_path / "Task.parquet")}
    }  # above 10 rows, not matched
    assert sorted(found.frames["salesforce"]) == ["Case", "Note", "Opportunity", "Widget"]


def test_a_plan_and_the_score_count_from_a_large_table_as_from_one_held_whole(tmp_path: Path) -> None:
    opps = _opportunities(300)
    path = tmp_path / "opps.parquet"
    opps.write_parquet(path)
    merge = Action(kind="merge", system="salesforce", entity="Account", record_id="00100003",
                   field=None, seen_value=None, proposed_value="00100001", rule="match.duplicate",
                   severity="info", reason="", confidence=0.9, action_id="a1")  # fmt: skip
    update = Action(kind="update", system="salesforce", entity="Opportunity", record_id="00600012",
                    field="name", seen_value=None, proposed_value="x", rule="t.name", severity="error",
                    reason="", confidence=0.9, action_id="a2")  # fmt: skip
    held = Context({"salesforce": {"Opportunity": opps}})
    on_disk = Context({}, large={"salesforce": {"Opportunity": Snapshot(path)}})
    relations = _account_children()
    for context in (held, on_disk):
        moved = context.moves(actions_table([merge]).select("system", "entity", "record_id"), relations)
        # live opportunities of account 00100003: i % 7 == 3, not deleted (i % 50 == 49)
        want = sum(1 for i in range(300) if i % 7 == 3 and i % 50 != 49)
        assert moved["moves"].to_list() == [[{"child": "Opportunity.account_id", "n": want}]]
        labelled = context.annotate_table(actions_table([update]))
        assert labelled["label"].to_list() == ["Deal 12 (12)"]
    findings = pl.DataFrame(
        {"system": ["salesforce"] * 2, "entity": ["Opportunity"] * 2, "record_id": ["00600001", "00600049"],
         "severity": ["error", "warning"]}
    )  # fmt: skip
    scored = score_counts({}, findings, {"salesforce": {"Opportunity": Snapshot(path)}})
    assert scored == score_counts({"salesforce": {"Opportunity": opps}}, findings)
    assert scored["salesforce.Opportunity"].records == 294  # 6 deleted
    assert scored["salesforce.Opportunity"].passed == 293  # 00600049 is deleted: not counted


def _account_children() -> Any:
    from crm_ops.schema.relations import shipped_relations

    return shipped_relations()
