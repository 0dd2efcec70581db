"""Why a pair matched, shown to the people who decide (issue 28): the pair's ``explain`` text in the merge
and conversion proposals' detail, its compact form in plan.csv (read-only: a review file with or without
it is read), and its waterfall in ``plan show`` and the run report."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from crm_ops import csvio
from crm_ops.explain import compact
from crm_ops.match import survivorship
from crm_ops.match.merges import conversions
from crm_ops.plan.format import Action, Header, Plan, explain_text
from crm_ops.plan.reviewfile import read_review_file
from crm_ops.plan.show import render, summarise
from crm_ops.plan.writing import write_plan
from crm_ops.report import render_run
from crm_ops.rules.model import example_frame
from tests.report_sample import EXPLAIN, HOSTILE, sample_run

WEIGHTED = "prior +0.00; email 1.00 +0.44; phone 0.00 +0.00; last_name 0.95 +0.18; first_name null +0.00"


def _contacts() -> pl.DataFrame:
    return example_frame(
        "Contact",
        [
            {"id": "c1", "first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com"},
            {"id": "c2", "first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com"},
            {"id": "c3", "first_name": "Anne", "last_name": "Lee", "email": "ann@acme.com"},
        ],
        "salesforce",
    )


def _pairs(**columns: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"left_id": ["c1", "c1"], "right_id": ["c2", "c3"], "score": [0.99, 0.9], "reasons": ["email"] * 2}
        | columns
    )


def test_a_merge_proposal_carries_its_records_best_pair_explain() -> None:
    pairs = _pairs(explain=[EXPLAIN, WEIGHTED])
    found = survivorship(_contacts(), pairs, "salesforce", "Contact")
    details = {r["record_id"]: json.loads(r["detail"]) for r in found.iter_rows(named=True)}
    assert set(details) == {"c2", "c3"}  # merged into c1
    assert details["c2"]["explain"] == EXPLAIN and details["c3"]["explain"] == WEIGHTED
    assert details["c2"]["values"] == details["c3"]["values"]  # the cluster's survivor, as before
    # pairs without the column (by linked id, scored before it was added): no explain, as before
    plain = survivorship(_contacts(), _pairs(), "salesforce", "Contact")
    assert all("explain" not in json.loads(d) for d in plain["detail"])


def test_a_conversion_proposal_carries_its_pairs_explain() -> None:
    leads = example_frame("Lead", [{"id": "l1", "last_name": "Lee", "email": "ann@acme.com"}], "salesforce")
    contacts = _contacts().head(1).with_columns(pl.lit("a1").alias("account_id"))
    pairs = pl.DataFrame(
        {"left_id": ["l1"], "right_id": ["c1"], "score": [0.95], "reasons": ["email"], "explain": [EXPLAIN]}
    )
    detail = json.loads(conversions(leads, contacts, pairs)["detail"][0])
    assert detail["explain"] == EXPLAIN and detail["account_id"] == "a1"
    no_explain = conversions(leads, contacts, pairs.drop("explain"))["detail"][0]
    assert "explain" not in json.loads(no_explain)


def _merge_plan() -> Plan:
    merge = Action(
        kind="merge", system="salesforce", entity="Contact", record_id="c2", field="merge_into",
        seen_value="2026-01-01T00:00:00.000Z", proposed_value="c1", rule="match.duplicate",
        severity="warning", confidence=0.99, reason="Duplicate of c1", label="Ann Lee <ann@acme.com>",
        other_label="Ann Lee (kept)", approved=False, detail={"explain": EXPLAIN, "values": []},
    ).with_id()  # fmt: skip
    weighted = Action(
        kind="merge", system="salesforce", entity="Contact", record_id="c3", field="merge_into",
        seen_value="2026-01-01T00:00:00.000Z", proposed_value="c1", rule="match.duplicate",
        severity="warning", confidence=0.62, reason="Duplicate of c1", approved=False,
        detail={"explain": WEIGHTED, "values": []},
    ).with_id()  # fmt: skip
    update = Action(
        kind="update", system="salesforce", entity="Contact", record_id="c9", field="email",
        seen_value=" A@x.com", proposed_value="a@x.com", rule="person.email.normalised",
        severity="warning", confidence=0.99, reason="", approved=True,
    ).with_id()  # fmt: skip
    header = Header(plan_id="p1", created_at="2026-12-07T00:00:00+00:00", profile="prod")
    return Plan(header, (merge, weighted, update))


def test_plan_csv_shows_the_compact_form_and_a_review_file_reads_with_or_without_it(tmp_path: Path) -> None:
    plan = _merge_plan()
    _, review = write_plan(plan, tmp_path)
    table = csvio.read_file(review)
    rows = {r.get("record_id"): r.get("explain") for r in table}
    assert rows == {"c2": compact(EXPLAIN), "c3": compact(WEIGHTED), "c9": ""}
    assert rows["c2"] == "email +9.8, last_name +6.1, phone -4.2"
    # a person answers, and even edits the read-only column: it is not read back
    header, *body = list(csv.reader(io.StringIO(review.read_text(encoding="utf-8"), newline="")))
    for cells in body:
        cells[header.index("approve")] = "yes"
        cells[header.index("explain")] = "I checked"

    def save(rows: list[list[str]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        review.write_text(buffer.getvalue(), encoding="utf-8")

    save([header, *body])
    assert set(read_review_file(review, plan).approvals().values()) == {True}
    # a file written before the column (or with it deleted) is read as well
    gone = header.index("explain")
    save([[c for i, c in enumerate(row) if i != gone] for row in [header, *body]])
    assert len(read_review_file(review, plan).approvals()) == 3


def test_plan_show_draws_each_merges_waterfall_with_its_probability_or_score() -> None:
    summary = summarise(_merge_plan())
    fs, weighted = summary["merges"]
    assert [r["field"] for r in fs["waterfall"]] == ["prior", "email", "phone", "last_name", "first_name"]
    assert fs["waterfall"][2] == {
        "field": "phone",
        "level": "differ",
        "weight": -4.2,
        "total": pytest.approx(-7.68),
    }
    assert fs["waterfall"][-1]["total"] == pytest.approx(-13.29 + 9.81 - 4.2 + 6.1)
    assert fs["outcome"] == {"probability": pytest.approx(2**-1.58 / (1 + 2**-1.58))}
    assert weighted["outcome"] == {"score": pytest.approx(0.62)}
    text = render(summary, width=200)
    assert "why they match" in text
    assert "email exact +9.81 = -3.48" in text and "last_name fuzzy>=0.92 +6.10 = -1.58" in text
    assert "probability 0.2506" in text and "score 0.62" in text
    # a plan made before pairs explained themselves: no empty column taking the others' room
    plain = _merge_plan()
    plain = Plan(plain.header, tuple(a.replace(detail={"values": []}) for a in plain.actions))
    assert "why they match" not in render(summarise(plain), width=200)
    # a plan.jsonl edited by hand: its text said unreadable, the rest shown all the same
    broken = Plan(plain.header, (plain.actions[0].replace(detail={"explain": "prior +1.00; email"}),))
    (merge,) = summarise(broken)["merges"]
    assert merge["waterfall"][0]["field"] == "(unreadable)" and merge["outcome"] is None
    assert "(unreadable)" in render(summarise(broken), width=200)
    assert explain_text(broken.actions[0]).startswith("(unreadable: explain: 'email'")
    assert "<h2>Why the merges match" not in render_run(_run_with(broken))


def test_the_report_draws_the_waterfall_of_each_merge_escaped() -> None:
    page = render_run(sample_run())
    assert "<h2>Why the merges match</h2>" in page
    section = page.split("<h2>Why the merges match</h2>", 1)[1].split("<h2>", 1)[0]
    text = html.unescape(re.sub(r"<[^>]+>", " ", section))
    assert "probability 0.2506" in text
    for row in ("prior", "email exact", "phone differ", "last_name fuzzy>=0.92", "first_name null"):
        assert row in " ".join(text.split())
    # the prior and the phone speak against the match
    assert section.count('class="bar neg"') == 2 and section.count('class="bar pos"') == 3
    assert html.escape(HOSTILE, quote=True) in section and "<script" not in section


def _run_with(plan: Plan) -> Any:
    run = sample_run()
    run.actions = [a.as_dict() for a in plan.actions]
    return run


def test_a_link_carries_its_pairs_explain_and_a_link_by_id_none(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_ops.match import DEFAULTS
    from crm_ops.match import links as match_links
    from crm_ops.match.engine import link_records as scored

    def explained(*args: Any, **kwargs: Any) -> pl.DataFrame:
        return scored(*args, **kwargs).with_columns(pl.lit(EXPLAIN).alias("explain"))

    person = {"first_name": "Ann", "last_name": "Lee", "email": "ann@acme.com"}
    sf = example_frame(
        "Contact", [{"id": "s1", **person}, {"id": "s2", "last_name": "Kim", "linked_id": "h2"}], "salesforce"
    )
    hs = example_frame("Contact", [{"id": "h1", **person}, {"id": "h2", "last_name": "Kim"}], "hubspot")
    plain = dict(
        match_links.link(sf, hs, DEFAULTS["cross.Contact"], "linked_id", "linked_id")
        .select("method", "explain")
        .iter_rows()
    )
    assert plain["id"] is None  # a link by the ids the CRMs keep has no score to explain
    assert plain["match"].startswith("prior ") and "email exact" in plain["match"]  # the engine's own
    monkeypatch.setattr(match_links, "link_records", explained)
    links = match_links.link(sf, hs, DEFAULTS["cross.Contact"], "linked_id", "linked_id")
    assert dict(links.select("method", "explain").iter_rows()) == {"id": None, "match": EXPLAIN}
