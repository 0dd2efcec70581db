"""Merge rules: the master by a configurable ordering, each field of the survivor by its rule, secondary
values kept, e-mails matched against secondary ones, rejected pairs remembered."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

from crm_ops.errors import ConfigError
from crm_ops.match import DEFAULTS, MergeRules, find_duplicates, survivorship
from crm_ops.match.decisions import active, drop_rejected
from crm_ops.match.run import matched_fields, run_matching, settings_from_profile
from crm_ops.match.survivor import fingerprint
from crm_ops.rules.model import example_frame

ANN = {"first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com", "account_id": "a1"}


def _frame(rows: list[dict[str, Any]], system: str = "salesforce", entity: str = "Contact") -> pl.DataFrame:
    return example_frame(entity, [{"id": f"c{i}", **r} for i, r in enumerate(rows)], system)


def _pairs(*ids: str) -> pl.DataFrame:
    first = ids[0]
    return pl.DataFrame(
        {
            "left_id": [first] * (len(ids) - 1),
            "right_id": list(ids[1:]),
            "score": [0.95] * (len(ids) - 1),
            "reasons": ["email"] * (len(ids) - 1),
        }
    )


def _merge(
    rows: list[dict[str, Any]],
    rules: MergeRules | None = None,
    system: str = "salesforce",
    entity: str = "Contact",
    **kwargs: Any,
) -> tuple[str, dict[str, dict[str, Any]], dict[str, Any]]:
    """(survivor, its changed values by field, the whole detail) of one cluster of ``rows``."""
    frame = _frame(rows, system, entity)
    found = survivorship(frame, _pairs(*frame["id"].to_list()), system, entity, rules, **kwargs)
    detail = json.loads(found["detail"][0])
    assert set(found["proposed_value"]) == {detail["survivor"]}
    return detail["survivor"], {v["field"]: v for v in detail["values"]}, detail


OLD, MID, NEW = "2019-01-01T00:00:00Z", "2021-06-01T00:00:00Z", "2024-03-01T00:00:00Z"


def test_an_opt_out_on_a_merged_away_record_leaves_the_survivor_opted_out() -> None:
    survivor, values, _ = _merge(
        [
            {**ANN, "title": "CFO", "phone": "+1 415 555 0101", "email_opt_out": False, "created_at": OLD},
            {**ANN, "email_opt_out": True, "do_not_call": True, "created_at": NEW},
        ]
    )
    assert survivor == "c0"  # the most complete
    assert values["email_opt_out"] == {"field": "email_opt_out", "value": True, "before": False,
                                       "rule": "any_true", "from": ["c1"]}  # fmt: skip
    assert values["do_not_call"]["value"] is True and values["do_not_call"]["from"] == ["c1"]
    # nobody opted out: nothing to change
    _, values, _ = _merge([{**ANN, "email_opt_out": False}, {**ANN, "email_opt_out": False}])
    assert "email_opt_out" not in values


def test_a_custom_refusal_column_is_kept_true_by_default() -> None:
    _, values, _ = _merge(
        [{**ANN, "custom_Do_Not_Email__c": "false"}, {**ANN, "custom_Do_Not_Email__c": "true"}]
    )
    assert values["custom_Do_Not_Email__c"]["rule"] == "any_true"


def test_master_rule_fills_only_the_empty_fields() -> None:
    survivor, values, _ = _merge(
        [
            {**ANN, "title": "CFO", "phone": "1", "city": "Paris"},
            {**ANN, "title": "Intern", "department": "Ops"},
        ]
    )
    assert survivor == "c0"
    assert {k: v["value"] for k, v in values.items()} == {"department": "Ops"}
    assert values["department"]["rule"] == "master" and values["department"]["from"] == ["c1"]


@pytest.mark.parametrize(
    ("rule", "want"),
    [("most_recent", "VP"), ("oldest", "Analyst"), ("most_complete", "CFO"), ("master", "Analyst")],
)
def test_single_source_rules_take_the_right_records_value(rule: str, want: str) -> None:
    rows = [
        # the master (has the Salesforce link) is neither the newest, the oldest's twin, nor the fullest
        {**ANN, "linked_id": "h1", "title": "Analyst", "created_at": OLD, "updated_at": OLD},
        {**ANN, "title": "VP", "created_at": MID, "updated_at": NEW},
        {**ANN, "title": "CFO", "phone": "1", "city": "Rome", "department": "x", "mobile_phone": "2",
         "created_at": NEW, "updated_at": MID},
    ]  # fmt: skip
    rules = MergeRules(fields={"title": rule})
    survivor, values, _ = _merge(rows, rules)
    assert survivor == "c0"
    got = values["title"]["value"] if "title" in values else "Analyst"
    assert got == want
    if "title" in values:
        assert values["title"]["rule"] == rule and values["title"]["before"] == "Analyst"


def test_most_recent_skips_empty_values() -> None:
    rows: list[dict[str, Any]] = [
        {**ANN, "title": "Analyst", "updated_at": OLD},
        {**ANN, "title": None, "updated_at": NEW},
    ]
    _, values, _ = _merge(rows, MergeRules(fields={"title": "most_recent"}))
    assert "title" not in values


def test_max_and_min_for_numbers_and_dates() -> None:
    accounts = [
        {"name": "Acme", "website": "acme.com", "employees": 50, "annual_revenue": 1e6,
         "last_activity_date": "2024-01-05"},
        {"name": "ACME Inc", "website": "acme.com", "employees": 500, "annual_revenue": 2e5,
         "last_activity_date": "2023-02-01"},
    ]  # fmt: skip
    rules = MergeRules(fields={"employees": "max", "annual_revenue": "min", "last_activity_date": "max"})
    survivor, values, _ = _merge(accounts, rules, entity="Account")
    assert survivor == "c0"
    assert values["employees"]["value"] == 500 and values["employees"]["from"] == ["c1"]
    assert values["annual_revenue"]["value"] == 2e5
    assert "last_activity_date" not in values  # the master's date is the latest already
    _, values, _ = _merge(accounts, MergeRules(fields={"last_activity_date": "min"}), entity="Account")
    assert values["last_activity_date"]["value"] == "2023-02-01"


def test_concat_joins_every_distinct_value_master_first() -> None:
    rows = [
        {**ANN, "custom_Interests__c": "golf;Sailing"},
        {**ANN, "custom_Interests__c": "sailing; chess"},
        {**ANN, "custom_Interests__c": "tennis"},
    ]
    _, values, _ = _merge(rows, MergeRules(fields={"custom_Interests__c": "concat"}))
    assert values["custom_Interests__c"]["value"] == "golf;Sailing;chess;tennis"
    assert values["custom_Interests__c"]["parts"] == {"c1": ["chess"], "c2": ["tennis"]}


def test_from_a_named_system_takes_the_linked_records_value() -> None:
    rows = [{**ANN, "title": "Analyst"}, {**ANN, "title": "VP"}]
    twins = {"c1": {"id": "003X", "title": "Head of Finance"}}
    rules = MergeRules(fields={"title": "from:salesforce"})
    _, values, _ = _merge(rows, rules, system="hubspot", twins=twins)
    assert values["title"]["value"] == "Head of Finance" and values["title"]["from"] == ["salesforce:003X"]
    _, values, _ = _merge(rows, rules, system="hubspot")  # no twin: the master's stays
    assert "title" not in values


def test_the_master_ordering_is_configurable_over_any_field() -> None:
    rows = [
        {
            **ANN,
            "phone": "1",
            "city": "x",
            "title": "y",
            "created_at": OLD,
            "last_activity_date": "2022-01-01",
        },
        {**ANN, "created_at": NEW, "last_activity_date": "2024-01-01"},
        {**ANN, "linked_id": "h9", "created_at": MID},
    ]
    assert _merge(rows)[0] == "c2"  # shipped: has the other CRM's link first
    assert _merge(rows, MergeRules(master=("max:last_activity_date",)))[0] == "c1"
    assert _merge(rows, MergeRules(master=("oldest",)))[0] == "c0"
    assert _merge(rows, MergeRules(master=("most_complete",)))[0] == "c0"
    account = MergeRules(entity_master={"Account": ("oldest",)})
    assert account.master_for("Contact") == ("has:linked_id", "most_complete", "oldest")


def test_hubspot_keeps_merged_away_emails_as_secondary_and_salesforce_says_it_cannot() -> None:
    rows = [
        {**ANN, "phone": "1", "additional_emails": "ann.lee@old.org"},
        {**ANN, "email": "ann@gmail.com", "additional_emails": "ANN.LEE@old.org;a@b.org"},
    ]
    _, values, detail = _merge(rows, system="hubspot")
    assert values["additional_emails"]["value"] == "ann.lee@old.org;ann@gmail.com;a@b.org"
    assert values["additional_emails"]["rule"] == "concat" and detail["notes"] == []
    _, values, detail = _merge(rows, system="salesforce")
    assert "additional_emails" not in values
    assert "Salesforce has no standard secondary e-mail" in detail["notes"][0]
    domains = [{"name": "Acme", "domain": "acme.com"}, {"name": "Acme", "domain": "acme.co.uk"}]
    _, values, _ = _merge(domains, system="hubspot", entity="Account")
    assert values["additional_domains"]["value"] == "acme.co.uk"


def test_an_email_matches_another_records_secondary_email() -> None:
    frame = _frame(
        [
            {**ANN, "email": "ann@newjob.com", "phone": None},
            {**ANN, "email": "ann.lee@oldjob.com", "additional_emails": "x@y.org;Ann@NewJob.com"},
            {**ANN, "first_name": "Bo", "email": "bo@z.com"},
        ],
        "hubspot",
    )
    pairs = find_duplicates(frame, DEFAULTS["Contact"])
    assert pairs.select("left_id", "right_id").rows() == [("c0", "c1")]
    assert "email(secondary)" in pairs["reasons"][0]


def test_merge_settings_are_validated_and_every_bad_key_named() -> None:
    rules = settings_from_profile(
        {"merge": {"master": ["has:linked_id", "max:last_activity_date"], "fields": {"title": "most_recent"},
                   "Account": {"fields": {"employees": "max"}}}},
        "prod.match",
    )["merge_rules"]  # fmt: skip
    assert rules.rule_for("Contact", "title") == "most_recent"
    assert rules.rule_for("Account", "employees") == "max"
    assert rules.rule_for("Contact", "email_opt_out") == "any_true"
    with pytest.raises(ConfigError) as caught:
        settings_from_profile(
            {"merge": {"master": ["loudest", "max:shoe_size"],
                       "fields": {"title": "psychic", "first_name": "max", "employees": "concat"},
                       "Contakt": {}, "Account": {"fields": {"email": "master"}}}},
            "prod.match",
        )  # fmt: skip
    text = "\n".join(caught.value.problems)
    for bad in ("prod.match.merge.Contakt: unknown setting", "'loudest' is not a term",
                "'shoe_size' is not a", "title: 'psychic' is not a rule",
                "first_name: max needs a number or a date", "employees: concat needs a text",
                "'email' is not a column of Account"):  # fmt: skip
        assert bad in text, bad


def test_a_rejected_pair_is_left_out_until_a_matched_field_changes() -> None:
    rows = [{**ANN, "phone": "+14155550101"}, {**ANN, "phone": "+14155550101"}]
    frame = _frame(rows)
    matched = matched_fields(DEFAULTS["Contact"])
    prints = {r["id"]: fingerprint(r, matched) for r in frame.to_dicts()}
    rejection = {"system": "salesforce", "entity": "Contact", "record_id": "c1", "other_id": "c0",
                 "record_print": prints["c1"], "other_print": prints["c0"]}  # fmt: skip
    frames = {"salesforce": {"Contact": frame}}
    assert run_matching(frames).findings.height == 1
    assert run_matching(frames, rejected=[rejection]).findings.height == 0
    changed = frame.with_columns(
        pl.when(pl.col("id") == "c1").then(pl.lit("+1 415 555 0101")).otherwise("phone").alias("phone")
    )
    again = run_matching({"salesforce": {"Contact": changed}}, rejected=[rejection]).findings
    assert again["record_id"].to_list() == ["c1"]
    # a title is not a matched field: changing it does not bring the pair back
    retitled = frame.with_columns(pl.lit("CEO").alias("title"))
    assert run_matching({"salesforce": {"Contact": retitled}}, rejected=[rejection]).findings.height == 0
    assert active([rejection], "salesforce", "Account", frame, None, matched) == []


def test_a_rejected_record_is_kept_out_of_its_others_cluster() -> None:
    pairs = pl.DataFrame({"left_id": ["a", "b", "a"], "right_id": ["b", "c", "c"], "score": [1.0, 1.0, 1.0]})
    kept = drop_rejected(pairs, [("c", "a")])
    assert kept.select("left_id", "right_id").rows() == [("a", "b")]


def test_a_rejected_conversion_holds_while_the_lead_and_contact_are_unchanged() -> None:
    lead = example_frame("Lead", [{"id": "l1", **ANN, "company": "Acme", "phone": "1"}], "salesforce")
    contact = _frame([{**ANN, "phone": "1"}])
    found = run_matching({"salesforce": {"Lead": lead, "Contact": contact}}).findings
    (convert,) = found.filter(pl.col("rule") == "match.lead_duplicates_contact").to_dicts()
    prints = json.loads(convert["detail"])["fingerprints"]
    rejection = {"system": "salesforce", "entity": "Lead-Contact", "record_id": "l1", "other_id": "c0",
                 "record_print": prints["l1"], "other_print": prints["c0"]}  # fmt: skip
    frames = {"salesforce": {"Lead": lead, "Contact": contact}}
    assert run_matching(frames, rejected=[rejection]).findings.height == 0
    moved = lead.with_columns(pl.lit("Acme GmbH").alias("company"))  # a matched field of the lead
    assert run_matching(
        {"salesforce": {"Lead": moved, "Contact": contact}}, rejected=[rejection]
    ).findings.height


@pytest.mark.parametrize("blank", ["", "   ", "\x1f", " \u00a0\u2028\t", "\x1c\x1d\x1e"])
def test_a_master_value_python_reads_as_blank_is_filled_from_another_record(blank: str) -> None:
    """``cluster_details`` skips, for every cluster at once, the columns whose master has a value; a
    value ``str.strip`` leaves empty (its separators \\x1c-\\x1f too) is no value, as ``decide`` reads it."""
    rules = MergeRules(fields={"title": "from:salesforce", "department": "master"})
    _, values, _ = _merge(
        [
            {**ANN, "title": blank, "department": blank, "mobile": " x ", "created_at": OLD},
            {**ANN, "title": "CFO", "department": "Finance", "mobile": "+1 415 555 0199", "created_at": NEW},
        ],
        rules,
    )
    assert values["title"]["value"] == "CFO"
    assert values["department"]["value"] == "Finance"
    assert "mobile" not in values  # the master's own, however spaced


def test_cluster_details_decide_as_deciding_every_column_does() -> None:
    """The columns skipped per cluster change nothing: each cluster's values and notes are ``decide``'s
    over all its columns."""
    from crm_ops.match.engine import clusters
    from crm_ops.match.survivor import Cluster, chosen_columns, cluster_details, decide, rank_clusters

    rows = []
    for i in range(40):
        rows.append(
            {**ANN, "email": f"p{i // 3}@acme.com", "title": [None, "", " ", "CFO", "\x1f"][i % 5],
             "phone": [None, "+1 415 555 0101", "  "][i % 3], "email_opt_out": [None, True, False][i % 3],
             "created_at": [OLD, MID, NEW][i % 3]}
        )  # fmt: skip
    frame = _frame(rows)
    ids = frame["id"].to_list()
    pairs = pl.DataFrame({"left_id": ids[0::3][: len(ids[1::3])], "right_id": ids[1::3]}).vstack(
        pl.DataFrame({"left_id": ids[1::3][: len(ids[2::3])], "right_id": ids[2::3]})
    )
    rules = MergeRules(fields={"title": "from:salesforce", "phone": "from:hubspot"})
    ranked = rank_clusters(frame, clusters(pairs), rules.master_for("Contact"))
    columns = chosen_columns(frame)
    got = cluster_details(ranked, columns, "Contact", "salesforce", rules, ["email"])
    assert len(got) == len(ids) // 3
    by_cluster: dict[str, list[dict[str, Any]]] = {}
    for row in ranked.sort("cluster_id", "__rank").iter_rows(named=True):
        by_cluster.setdefault(row["cluster_id"], []).append(row)
    for cluster_id, members in by_cluster.items():
        values, notes = decide(Cluster(members[0]["id"], members), columns, "Contact", "salesforce", rules)
        assert (got[cluster_id]["values"], got[cluster_id]["notes"]) == (values, notes)
    assert any(v["field"] == "title" for d in got.values() for v in d["values"])


def test_fingerprints_of_a_whole_frame_are_each_rows_fingerprint() -> None:
    """``fingerprints`` trims text in polars: what it strips is what ``str.strip`` does (every
    whitespace character Python knows, the \\x1c-\\x1f separators among them), and other types go
    through ``_text``."""
    from crm_ops.match.survivor import fingerprints

    texts = ["  Ann ", "\x1fAnn\u2028", "\u00a0", "", None, "Zoë\u3000", "\x85x\x1c", "a\u200bb"]
    frame = pl.DataFrame(
        {
            "email": texts,
            "amount": [1.5, None, 0.0, 2.0, 3.0, None, 7.25, -1.0],
            "flag": [True, False, None, True, None, False, True, True],
        }
    )
    columns = ["email", "amount", "flag", "absent"]
    assert fingerprints(frame, columns) == [fingerprint(r, columns) for r in frame.iter_rows(named=True)]
    assert fingerprints(frame, []) == [fingerprint({}, [])] * frame.height
