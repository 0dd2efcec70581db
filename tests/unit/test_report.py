"""The run report's content: the score defined and counted, new vs resolved, the threshold, outcomes."""

from __future__ import annotations

import html
import re

from crm_ops.report import render_index, render_run
from tests.report_sample import sample_run


def test_the_run_page_says_what_a_person_needs() -> None:
    page = render_run(sample_run())
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "Score: the share of an object's live (not deleted) records that passed every" in text
    assert "1,442" in page and "1,534" in page and "94.00%" in page  # counts and %
    assert "3 findings at error or above, more than the 0 allowed" in text
    assert 'fail_on = "error"' in text and "max_findings = 0" in text
    assert "New and resolved since run 20261130T020000-abcdef" in text
    assert "New (3)" in text and "Resolved (1)" in text  # by rule, record, field
    assert "gone@@x.com" in page  # the resolved one, with its value of the last run
    assert "The e-mail address is not a valid address." in text  # a rule's description
    assert "8 → 7 → 6 → 5 → 4 → 2" in text  # the rule's trend, this run last
    assert "applied 1" in text and "awaiting review 2" in text and "refused or failed 2" in text
    assert "INVALID_EMAIL_ADDRESS: Email: invalid email" in text  # the CRM's message
    assert "confidence below 0.95 (1)" in text  # why it waits, counted
    # the applied and waiting actions are counted by rule (issue 29), not listed a row each; the
    # refused are listed; the review app's command named
    assert "person.email.normalised" in text and "Ann 1" not in text
    assert "crm-ops review PLAN --profile prod" in text
    assert 'href="https://acme.lightning.force.com/lightning/r/Contact/003000000000004/view"' in page
    assert "2026-11-25" in page and "2026-12-01" in page  # the trend's dates


def test_waiting_reasons_are_counted_by_the_bar_not_each_confidence() -> None:
    run = sample_run()
    waiting = run.actions[2]
    run.actions = [
        {**waiting, "action_id": f"w{i}", "review_reason": f"confidence 0.{60 + i} < 0.95"} for i in range(12)
    ]
    text = re.sub(r"<[^>]+>", " ", render_run(run))
    assert "confidence below 0.95 (12)" in text and "more reasons" not in text


def test_every_crm_value_is_escaped_and_nothing_is_fetched() -> None:
    for page in (render_run(sample_run()), render_index("prod", sample_run().history)):
        assert "<script" not in page.lower() and "<img" not in page.lower()
        assert not re.search(r"<[^>]*\ssrc=", page)  # a tag fetching something: none
        assert "@import" not in page and "<link" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in render_run(sample_run())


def test_a_link_is_only_ever_http() -> None:
    run = sample_run()
    run.actions = [{**run.actions[3], "url": "javascript:alert(1)"}]  # refused: listed with its link
    page = render_run(run)
    assert "Ann 4" in page
    assert "javascript:" not in page.split("<body>", 1)[1].split("Ann 4")[0]
    assert 'href="javascript' not in page


def test_the_index_lists_every_run_newest_first_with_links() -> None:
    history = sample_run().history
    page = render_index("prod", history)
    links = re.findall(r'href="([^"]+)"', page)
    assert links == [f"{h['run_id']}/report.html" for h in reversed(history)]
    assert "2026-12-01 02:00:00" in page and "2026-11-25 02:00:00" in page
