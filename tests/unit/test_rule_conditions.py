"""YAML rules with conditions (``when:``), references across objects, condition checks and tolerances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from crm_ops.rules import run_rules
from crm_ops.rules.conditions import ConditionCheck
from crm_ops.rules.engine import ProposalGate
from crm_ops.rules.loader import load_yaml_rules
from crm_ops.rules.model import Rule, example_frame
from crm_ops.spark.needs import rule_kind

Frames = dict[str, dict[str, pl.DataFrame]]
TIER = {"via": "account_id", "entity": "Account", "field": "tier"}
OWNER_TITLE = {"via": "owner_id", "entity": "Owner", "field": "title"}
TOLERANCE = "tolerance: a share of the judged rows (2%) or a number of rows (10)"


def _rule(tmp_path: Path, **spec: Any) -> Rule:
    """One YAML rule written to a file and loaded (it must load)."""
    base: dict[str, Any] = {"id": "t.rule", "severity": "error", "description": "Broken."}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [{**base, **spec}]}))
    rules, problems = load_yaml_rules(path)
    assert problems == [] and len(rules) == 1
    return rules[0]


def _problems(tmp_path: Path, **spec: Any) -> list[str]:
    base: dict[str, Any] = {"id": "t.bad", "severity": "error", "description": "Broken.", "check": "not_null"}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"rules": [{**base, **spec}]}))
    rules, problems = load_yaml_rules(path)
    assert rules == []  # a rule with a bad condition is a rule error, never loaded without it
    return [str(p) for p in problems]


def _failing(rule: Rule, frames: Frames, system: str = "salesforce", entity: str | None = None) -> list[str]:
    result = run_rules([rule], frames)
    assert result.errors == []
    found = result.findings
    if entity:
        found = found.filter(pl.col("entity") == entity)
    return sorted(found["record_id"].to_list())


def _opps(rows: list[dict[str, Any]]) -> Frames:
    rows = [{"id": f"o{i}", **r} for i, r in enumerate(rows)]
    return {"salesforce": {"Opportunity": example_frame("Opportunity", rows, "salesforce")}}


# ------------------------------------------------------------------------------------ each op

AMOUNTS: list[dict[str, Any]] = [
    {"amount": 5.0, "stage": "Won"},
    {"amount": 50.0, "stage": "Lost"},
    {"amount": None, "stage": None},
]


@pytest.mark.parametrize(
    ("test", "judged"),
    [
        ({"field": "amount", "op": "=", "value": 5}, ["o0"]),
        ({"field": "amount", "op": "!=", "value": 5}, ["o1", "o2"]),  # an empty value differs from 5
        ({"field": "amount", "op": ">", "value": 5}, ["o1"]),
        ({"field": "amount", "op": ">=", "value": 5}, ["o0", "o1"]),
        ({"field": "amount", "op": "<", "value": 50}, ["o0"]),
        ({"field": "amount", "op": "<=", "value": 50}, ["o0", "o1"]),
        ({"field": "stage", "op": "in", "value": ["Won", "Open"]}, ["o0"]),
        ({"field": "stage", "op": "not_in", "value": ["Won"]}, ["o1", "o2"]),
        ({"field": "amount", "op": "is_null"}, ["o2"]),
        ({"field": "amount", "op": "not_null"}, ["o0", "o1"]),
        ({"field": "stage", "op": "contains", "value": "os"}, ["o1"]),
        ({"field": "stage", "op": "matches", "value": "^W|^L"}, ["o0", "o1"]),
        ({"stage": "Lost"}, ["o1"]),  # shorthand: =
        ({"stage": ["Lost", "Won"]}, ["o0", "o1"]),  # shorthand: in
        ({"stage": None}, ["o2"]),  # shorthand: is_null
        ([{"field": "amount", "op": ">", "value": 1}, {"stage": "Won"}], ["o0"]),  # all must hold
    ],
)
def test_each_op_chooses_the_rows_a_rule_judges(tmp_path: Path, test: Any, judged: list[str]) -> None:
    """A check every row fails: the findings are exactly the rows the condition holds for."""
    rule = _rule(tmp_path, entity="Opportunity", field="name", check="not_null", when=test)
    assert _failing(rule, _opps(AMOUNTS)) == judged


def test_a_condition_on_dates_takes_iso_dates_and_times(tmp_path: Path) -> None:
    frames = _opps(
        [{"close_date": "2024-01-10", "created_at": "2024-01-01T08:00:00Z"}, {"close_date": "2025-06-01"}]
    )
    late = _rule(tmp_path, entity="Opportunity", field="name", check="not_null",
                 when={"field": "close_date", "op": ">", "value": "2024-12-31"})  # fmt: skip
    assert _failing(late, frames) == ["o1"]
    made = _rule(tmp_path, entity="Opportunity", field="name", check="not_null",
                 when={"field": "created_at", "op": "<", "value": "2024-01-01T09:00:00Z"})  # fmt: skip
    assert _failing(made, frames) == ["o0"]


def test_rows_outside_the_condition_pass_and_rows_inside_are_checked(tmp_path: Path) -> None:
    rule = _rule(tmp_path, entity="Account", field="website", check="not_null", when={"tier": "Tier 1"})
    frames = {
        "salesforce": {
            "Account": example_frame(
                "Account",
                [
                    {"id": "a1", "tier": "Tier 1", "website": None},
                    {"id": "a2", "tier": "Tier 1", "website": "acme.com"},
                    {"id": "a3", "tier": "Tier 2", "website": None},
                    {"id": "a4", "tier": None, "website": None},
                ],
                "salesforce",
            )
        }
    }
    assert _failing(rule, frames) == ["a1"]


# ------------------------------------------------------------------------------------ references


def _people(accounts: list[dict[str, Any]], contacts: list[dict[str, Any]]) -> Frames:
    return {
        "salesforce": {
            "Account": example_frame("Account", accounts, "salesforce"),
            "Contact": example_frame("Contact", contacts, "salesforce"),
        }
    }


def test_a_parents_value_chooses_the_rows(tmp_path: Path) -> None:
    """Contacts of Tier 1 accounts need a title; a deleted or missing account is no Tier 1 account."""
    rule = _rule(
        tmp_path,
        entity="Contact",
        field="title",
        check="not_blank",
        when={
            "ref": {"via": "account_id", "entity": "Account", "field": "tier"},
            "op": "=",
            "value": "Tier 1",
        },
    )
    frames = _people(
        [
            {"id": "a1", "tier": "Tier 1"},
            {"id": "a2", "tier": "Tier 3"},
            {"id": "a3", "tier": "Tier 1", "is_deleted": True},
        ],
        [
            {"id": "c1", "account_id": "a1", "title": None},
            {"id": "c2", "account_id": "a1", "title": "CFO"},
            {"id": "c3", "account_id": "a2", "title": None},
            {"id": "c4", "account_id": "a3", "title": None},
            {"id": "c5", "account_id": "nowhere", "title": None},
            {"id": "c6", "account_id": None, "title": None},
        ],
    )
    assert _failing(rule, frames) == ["c1"]


def test_a_condition_check_reads_the_parent(tmp_path: Path) -> None:
    """Opportunities over 1M need a Director owner: ``check: {holds: ...}`` fails the judged rows where
    the condition does not hold (an owner missing is no Director)."""
    rule = _rule(
        tmp_path,
        entity="Opportunity",
        field="owner_id",
        when={"field": "amount", "op": ">", "value": 1_000_000},
        check={"holds": {"ref": {"via": "owner_id", "entity": "Owner", "field": "title"}, "op": "contains",
                         "value": "Director"}},
    )  # fmt: skip
    frames = _opps(
        [
            {"amount": 2e6, "owner_id": "u1"},
            {"amount": 2e6, "owner_id": "u2"},
            {"amount": 10.0, "owner_id": "u1"},
            {"amount": 3e6, "owner_id": None},
        ]
    )
    frames["salesforce"]["Owner"] = example_frame(
        "Owner",
        [{"id": "u1", "title": "Account Executive"}, {"id": "u2", "title": "Sales Director"}],
        "salesforce",
    )
    assert _failing(rule, frames) == ["o0", "o3"]


def test_children_aggregates_count_and_sum_the_records_pointing_here(tmp_path: Path) -> None:
    accounts = [{"id": "a1"}, {"id": "a2"}, {"id": "a3"}]
    opps = [
        {"id": "o1", "account_id": "a1", "amount": 600.0, "is_closed": False},
        {"id": "o2", "account_id": "a1", "amount": 500.0, "is_closed": False},
        {"id": "o3", "account_id": "a2", "amount": 2000.0, "is_closed": True},
        {"id": "o4", "account_id": "a2", "amount": 10.0, "is_closed": False},
        {"id": "o5", "account_id": "a2", "amount": 10.0, "is_closed": False, "is_deleted": True},
    ]
    frames = {
        "salesforce": {
            "Account": example_frame("Account", accounts, "salesforce"),
            "Opportunity": example_frame("Opportunity", opps, "salesforce"),
        }
    }
    open_deals = {"entity": "Opportunity", "via": "account_id", "when": {"is_closed": False}}
    two_open = _rule(tmp_path, entity="Account", field="tier", check="not_null",
                     when={"children": open_deals, "op": ">=", "value": 2})  # fmt: skip
    assert _failing(two_open, frames, entity="Account") == ["a1"]
    none_open = _rule(tmp_path, entity="Account", field="tier", check="not_null",
                      when={"children": open_deals, "op": "=", "value": 0})  # fmt: skip
    assert _failing(none_open, frames, entity="Account") == ["a3"]  # no children: a count of 0
    big = {"entity": "Opportunity", "via": "account_id", "agg": "sum", "field": "amount"}
    over = _rule(tmp_path, entity="Account", field="tier", check="not_null",
                 when={"children": big, "op": ">", "value": 1000})  # fmt: skip
    assert _failing(over, frames, entity="Account") == ["a1", "a2"]  # the deleted deal not summed


def test_a_value_may_be_another_column_or_an_aggregate_within_a_tolerance(tmp_path: Path) -> None:
    accounts: list[dict[str, Any]] = [
        {"id": "a1", "annual_revenue": 1100.0},  # its deals sum to 1100
        {"id": "a2", "annual_revenue": 2000.0},  # 2000.004: equal within a cent
        {"id": "a3", "annual_revenue": 10.0},  # 500: off
        {"id": "a4", "annual_revenue": None},  # a null side: never equal
        {"id": "a5", "annual_revenue": 7.0},  # no deals: a sum of 0
    ]
    opps: list[dict[str, Any]] = [
        {"id": "o1", "account_id": "a1", "amount": 600.0, "probability": 700.0},
        {"id": "o2", "account_id": "a1", "amount": 500.0, "probability": 10.0},
        {"id": "o3", "account_id": "a2", "amount": 2000.004, "probability": None},
        {"id": "o4", "account_id": "a3", "amount": 500.0, "probability": 500.0},
        {"id": "o5", "account_id": "a4", "amount": 5.0, "probability": 1.0},
    ]
    frames = {
        "salesforce": {
            "Account": example_frame("Account", accounts, "salesforce"),
            "Opportunity": example_frame("Opportunity", opps, "salesforce"),
        }
    }
    total = {"entity": "Opportunity", "via": "account_id", "agg": "sum", "field": "amount"}
    adds_up = _rule(tmp_path, entity="Account", field="annual_revenue",
                    check={"holds": {"children": total, "op": "=", "value": {"field": "annual_revenue"},
                                     "within": 0.01}})  # fmt: skip
    assert _failing(adds_up, frames, entity="Account") == ["a3", "a4", "a5"]
    assert isinstance(adds_up.check, ConditionCheck)
    assert (
        str(adds_up.check.condition)
        == "sum of Opportunity.amount (via account_id) = annual_revenue within 0.01"
    )
    differs = _rule(tmp_path, entity="Opportunity", field="close_date", check="not_null",
                    when={"field": "probability", "op": ">", "value": {"field": "amount"}})  # fmt: skip
    assert rule_kind(differs) == "row" and rule_kind(adds_up) == "driver"
    assert _failing(differs, frames, entity="Opportunity") == ["o1"]  # 700 > 600; 500 > 500 is not
    opps[0]["amount"] = None
    frames["salesforce"]["Opportunity"] = example_frame("Opportunity", opps, "salesforce")
    assert _failing(differs, frames, entity="Opportunity") == []  # a null amount: not greater
    near = _rule(tmp_path, entity="Opportunity", field="amount", check="not_null",
                 when={"field": "amount", "op": "!=", "value": 5, "within": 0.5})  # fmt: skip
    assert _failing(near, frames, entity="Opportunity") == ["o1"]  # o1's empty amount differs from 5


def test_a_fix_may_propose_an_aggregate_of_the_rows_children(tmp_path: Path) -> None:
    accounts = [{"id": "a1", "annual_revenue": 10.0}, {"id": "a2", "annual_revenue": 30.0}]
    opps = [
        {"id": "o1", "account_id": "a1", "amount": 600.0},
        {"id": "o2", "account_id": "a1", "amount": 500.0},
        {"id": "o3", "account_id": "a2", "amount": 30.0},
    ]
    frames = {
        "salesforce": {
            "Account": example_frame("Account", accounts, "salesforce"),
            "Opportunity": example_frame("Opportunity", opps, "salesforce"),
        }
    }
    total = {"entity": "Opportunity", "via": "account_id", "agg": "sum", "field": "amount"}
    rule = _rule(tmp_path, entity="Account", field="annual_revenue",
                 check={"holds": {"field": "annual_revenue", "op": "=", "value": {"children": total}}},
                 fix={"set": {"children": total}, "confidence": 0.7})  # fmt: skip
    result = run_rules([rule], frames)
    assert result.errors == []
    found = result.findings.select("record_id", "proposed_value", "confidence").rows()
    assert found == [("a1", "1100.0", 0.7)]
    assert rule_kind(rule) == "driver"


# ------------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"when": {"field": "amount", "op": "=>", "value": 1}},
         "when op: unknown op '=>'; known: =, !=, >, >=, <, <=, in, not_in, is_null, not_null, contains"),
        ({"when": {"amout": 5}}, "when amout: Opportunity has no field 'amout' (did you mean 'amount'?)"),
        ({"when": {"amount": "big"}}, "when amount value: 'big' is not a number, the type of the field"),
        ({"when": {"is_closed": "no"}}, "when is_closed value: 'no' is not a true or false"),
        ({"when": {"close_date": "soon"}}, "when close_date value: 'soon' is not a date (2024-12-31)"),
        ({"when": {"stage": 5}}, "when stage value: 5 is not a text (put it in quotes)"),
        ({"when": {"field": "stage", "op": ">", "value": "A"}}, "when: > needs a number or date field"),
        ({"when": {"field": "amount", "op": "contains", "value": "1"}}, "when: contains needs a text field"),
        ({"when": {"field": "stage", "op": "matches", "value": "(["}},
         "when value: not a regular expression"),
        ({"when": {"field": "stage", "op": "in", "value": "Won"}}, "when value: in takes a list of values"),
        ({"when": {"field": "stage", "op": "="}}, "when: op = needs a value (to test for an empty value"),
        ({"when": {"field": "stage"}}, "when: needs op"),
        ({"when": [{"stage": "Won"}, {"field": "amount", "op": ">", "value": 1, "extra": 2}]},
         "when test 2: unknown key(s) extra"),
        ({"when": {"ref": {"via": "account_id", "entity": "Company", "field": "tier"}, "op": "is_null"}},
         "when ref entity: entity must be one of Account, Contact, Lead, Opportunity, Owner, ContactRole"),
        ({"when": {"ref": {"via": "account_id", "entity": "Account", "field": "teir"}, "op": "is_null"}},
         "when ref field: Account has no field 'teir' (did you mean 'tier'?)"),
        ({"when": {"ref": {"via": "amount", "entity": "Account", "field": "tier"}, "op": "is_null"}},
         "when ref via: 'amount' is not a column holding a record id"),
        ({"when": {"children": {"entity": "Contact", "via": "account_id", "agg": "sum", "field": "title"},
                   "op": ">", "value": 1}},
         "when children field: sum needs a number column; 'title' is String"),
        ({"when": {"children": {"entity": "Contact", "via": "account_id", "agg": "median"}, "op": "is_null"}},
         "when children agg: must be one of count, sum, min, max, mean, got 'median'"),
        ({"when": {"children": {"entity": "Contact", "via": "account_id",
                                "when": {"ref": {"via": "account_id", "entity": "Account", "field": "tier"},
                                         "op": "is_null"}}, "op": ">", "value": 1}},
         "when children when: ref is not allowed here"),
        ({"when": None}, "when: a test is a mapping"),
        ({"check": {"holds": {"field": "amount", "op": "~", "value": 1}}}, "check holds op: unknown op '~'"),
        ({"when": {"field": "stage", "op": "in", "value": {"field": "name"}}},
         "when value: in compares with a value; a field, ref or children value takes one of =, !=, >"),
        ({"when": {"field": "amount", "op": "=", "value": {"field": "stage"}}},
         "when value: amount is Float64 and stage is String; compare a number with a number"),
        ({"when": {"field": "amount", "op": "=", "value": {"field": "amout"}}},
         "when value field: Opportunity has no field 'amout' (did you mean 'amount'?)"),
        ({"when": {"field": "amount", "op": "=", "value": {"column": "amount"}}},
         "when value: unknown key(s) column; known: field, ref, children"),
        ({"when": {"field": "stage", "op": "=", "value": "Won", "within": 1}},
         "when within: a tolerance needs a number field; stage is String"),
        ({"when": {"field": "amount", "op": ">", "value": 1, "within": 1}},
         "when within: only = and != take a tolerance; op is >"),
        ({"when": {"field": "amount", "op": "=", "value": 1, "within": -1}},
         "when within: a number 0 or more (0.01: a cent), got -1"),
        ({"fix": {"set": {"field": "stage"}}}, "fix set: stage is String; the field 'amount' is Float64"),
        ({"fix": {"set": {"field": "amount"}, "strip": True}}, "fix: strip cannot go with set:"),
        ({"tolerance": "lots"}, f"{TOLERANCE}, got 'lots'"),
        ({"tolerance": 0.05}, f"{TOLERANCE}, got 0.05"),
    ],
)  # fmt: skip
def test_a_bad_condition_is_a_rule_error_naming_file_rule_and_key(
    tmp_path: Path, spec: dict[str, Any], message: str
) -> None:
    problems = _problems(tmp_path, entity="Opportunity", field="amount", **spec)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'bad.yaml'}:2: rule t.bad: ")
    assert message in problems[0]


def test_a_condition_on_several_entities_must_hold_for_each(tmp_path: Path) -> None:
    problems = _problems(tmp_path, entity=["Contact", "Lead"], field="email", when={"account_id": "a1"})
    assert "Lead has no field 'account_id'" in problems[0]
    rule = _rule(tmp_path, entity=["Contact", "Lead"], field="email", check="not_null", when={"title": "CEO"})
    frames = {
        "salesforce": {
            "Contact": example_frame("Contact", [{"id": "c1", "title": "CEO"}], "salesforce"),
            "Lead": example_frame("Lead", [{"id": "l1", "title": "CEO"}, {"id": "l2"}], "salesforce"),
        }
    }
    assert _failing(rule, frames) == ["c1", "l1"]


def test_a_custom_field_the_pull_did_not_bring_is_empty(tmp_path: Path) -> None:
    rule = _rule(
        tmp_path, entity="Account", field="name", check="not_null", when={"custom_segment": "Enterprise"}
    )
    segment = [{"id": "a1", "custom_segment": "Enterprise"}]
    with_it = {"salesforce": {"Account": example_frame("Account", segment, "salesforce")}}
    without = {"salesforce": {"Account": example_frame("Account", [{"id": "a1"}], "salesforce")}}
    assert _failing(rule, with_it) == ["a1"]
    assert _failing(rule, without) == []


# ------------------------------------------------------------------------------------ tolerance


def test_within_its_tolerance_a_rules_findings_are_kept_as_info(tmp_path: Path) -> None:
    rows = [{"id": f"o{i}", "name": None if i < 3 else "Deal"} for i in range(100)]
    frames = {"salesforce": {"Opportunity": example_frame("Opportunity", rows, "salesforce")}}
    within = _rule(tmp_path, entity="Opportunity", field="name", check="not_null", tolerance="5%")
    found = run_rules([within], frames).findings
    assert found.height == 3 and set(found["severity"]) == {"info"}
    assert found["message"][0] == "Broken. (within tolerance: 3 of 100 rows fail, 5% allowed)"
    beyond = _rule(tmp_path, entity="Opportunity", field="name", check="not_null", tolerance=2)
    found = run_rules([beyond], frames).findings
    assert found.height == 3 and set(found["severity"]) == {"error"} and set(found["message"]) == {"Broken."}


def test_a_tolerance_counts_only_the_rows_the_condition_judges(tmp_path: Path) -> None:
    """3 of 100 opportunities fail, but all 3 of the 10 large ones: 30% of the judged rows."""
    rows = [
        {"id": f"o{i}", "amount": 5e6 if i < 10 else 1.0, "name": None if i < 3 else "Deal"}
        for i in range(100)
    ]
    frames = {"salesforce": {"Opportunity": example_frame("Opportunity", rows, "salesforce")}}
    rule = _rule(tmp_path, entity="Opportunity", field="name", check="not_null", tolerance="5%",
                 when={"field": "amount", "op": ">", "value": 1e6})  # fmt: skip
    found = run_rules([rule], frames).findings
    assert found.height == 3 and set(found["severity"]) == {"error"}
    loose = _rule(tmp_path, entity="Opportunity", field="name", check="not_null", tolerance="30%",
                  when={"field": "amount", "op": ">", "value": 1e6})  # fmt: skip
    assert set(run_rules([loose], frames).findings["message"]) == {
        "Broken. (within tolerance: 3 of 10 rows fail, 30% allowed)"
    }


# ------------------------------------------------------------------------------------ proposals, Spark


def test_a_proposal_outside_a_rules_condition_is_not_withheld_by_it(tmp_path: Path) -> None:
    rule = _rule(
        tmp_path, entity="Account", field="website", check={"matches": r"\."}, when={"tier": "Tier 1"}
    )
    frames = {
        "salesforce": {
            "Account": example_frame(
                "Account", [{"id": "a1", "tier": "Tier 1"}, {"id": "a2", "tier": "Tier 2"}], "salesforce"
            )
        }
    }
    gate = ProposalGate([rule], frames)
    asked = pl.DataFrame({"record_id": ["a1", "a2"], "proposed_value": ["acme", "acme"]})
    assert gate.failures("salesforce", "Account", "website", asked) == {("a1", "acme"): ["t.rule"]}


def test_spark_runs_own_column_conditions_on_partitions_and_references_on_the_driver(tmp_path: Path) -> None:
    plain = _rule(tmp_path, entity="Account", field="website", check="not_null", when={"tier": "Tier 1"})
    assert rule_kind(plain) == "row"
    ref = _rule(tmp_path, entity="Contact", field="title", check="not_null",
                when={"ref": TIER, "op": "is_null"})  # fmt: skip
    assert rule_kind(ref) == "driver"
    holds = _rule(tmp_path, entity="Opportunity", field="owner_id",
                  check={"holds": {"ref": OWNER_TITLE, "op": "not_null"}})  # fmt: skip
    assert rule_kind(holds) == "driver"
    counted = _rule(tmp_path, entity="Account", field="website", check="not_null", tolerance="1%")
    assert rule_kind(counted) == "driver" and rule_kind(counted, counting=False) == "row"


def test_the_readmes_rule_loads_and_judges_as_it_says(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(b for b in readme.split("```yaml\n")[1:] if "director_owner" in b).split("```")[0]
    path = tmp_path / "readme.yaml"
    path.write_text(block)
    rules, problems = load_yaml_rules(path)
    assert problems == [] and rules[0].tolerance is not None
    frames = _opps(
        [{"amount": 2e6, "is_closed": False, "owner_id": "u1"}, {"amount": 2e6, "is_closed": True}]
    )
    frames["salesforce"]["Owner"] = example_frame("Owner", [{"id": "u1", "title": "AE"}], "salesforce")
    assert _failing(rules[0], frames) == ["o0"]


def test_rules_list_shows_which_rows_each_rule_judges() -> None:
    from typer.testing import CliRunner

    from crm_ops.cli import app
    from crm_ops.rules.conditions import judges

    examples = Path(__file__).resolve().parents[2] / "examples" / "rules"
    acme = {r.id: r for r in load_yaml_rules(examples / "acme.yaml")[0]}
    assert judges(acme["acme.contact.tier1.title"]) == "Account.tier (via account_id) = Tier 1"
    assert judges(acme["acme.opportunity.large.director_owner"]) == (
        "amount > 1000000 and is_closed = False; tolerance 2%"
    )
    assert judges(acme["acme.account.open_deals.tiered"]) == (
        "count of Opportunity (via account_id, where is_closed = False) >= 3"
    )
    assert judges(acme["acme.lead.source.required"]) == ""
    listed = CliRunner().invoke(app, ["rules", "list", "--rules", str(examples)])
    assert listed.exit_code == 0, listed.output
    assert "when" in listed.output and "Account.tier (via account_id) = Tier 1" in " ".join(
        listed.output.split()
    )
