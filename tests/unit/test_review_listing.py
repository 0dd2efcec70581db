"""The review app's actions list (issue 29): counted by group over the other filters, filtered, paged,
a row's state never "awaiting review" beside "approved", and a whole rule decided in one save."""

from __future__ import annotations

from pathlib import Path

import pytest

from crm_ops.errors import ConfigError
from crm_ops.plan import write_plan
from crm_ops.plan.format import Action, Header, Plan
from crm_ops.plan.reviewstate import Change, ReviewState
from crm_ops.reviewapp import listing


def _plan(size: int = 120) -> Plan:
    rules = ("person.email.normalised", "person.phone.e164", "account.domain.bare")
    actions = tuple(
        Action("update", "salesforce", "Contact" if i % 2 else "Account", f"00{i:04d}", "email", f" v{i}",
               f"v{i}", rules[i % 3], "warning", 0.99, "fix", label=f"Record {i}",
               approved=i % 3 == 0).with_id()
        for i in range(size)
    )  # fmt: skip
    return Plan(Header("20261207T140000-abcdef", "2026-12-07T14:00:00Z", "sandbox", version=3), actions)


def test_counts_filters_pages_and_states(tmp_path: Path) -> None:
    plan = _plan()
    write_plan(plan, tmp_path)
    state = ReviewState(tmp_path, plan)
    first = plan.actions[0].action_id  # approved by default
    held = state.change({first: Change(approve="no")}, reviewer="Ann", etag=state.read().etag)
    frame = listing.joined(listing.plan_frame(plan), held)
    everything = listing.page_of(frame, {}, 1)
    assert (everything.total, everything.pages, len(everything.rows)) == (120, 3, listing.PAGE)
    assert dict(everything.counts["state"]) == {
        "approved by default": 39, "not approved by default": 80, "rejected": 1,
    }  # fmt: skip
    assert everything.rows[0]["state"] == "rejected" and everything.rows[0]["reviewed_by"] == "Ann"
    ruled = listing.page_of(frame, {"rule": "person.phone.e164"}, 9)
    assert ruled.total == 40 and ruled.page == 1  # a page past the end shows the last one
    assert {r["rule"] for r in ruled.rows} == {"person.phone.e164"}
    # the rule counts stay those of every rule (a filter does not hide its own group's other values)
    assert len(ruled.counts["rule"]) == 3 and dict(ruled.counts["entity"]) == {"Contact": 20, "Account": 20}
    found = listing.page_of(frame, {}, 1, query="RECORD 7")
    assert {r["label"] for r in found.rows} == {"Record 7", *(f"Record {i}" for i in range(70, 80))}


def test_a_whole_rule_is_decided_in_one_save(tmp_path: Path) -> None:
    plan = _plan()
    write_plan(plan, tmp_path)
    state = ReviewState(tmp_path, plan)
    frame = listing.joined(listing.plan_frame(plan), state.read())
    ids = listing.matching_ids(frame, {"rule": "account.domain.bare", "entity": "Account"})
    held = state.change(dict.fromkeys(ids, Change(approve="yes")), reviewer="Ann", etag=state.read().etag)
    chosen = {a.action_id for a in plan.actions if a.rule == "account.domain.bare" and a.entity == "Account"}
    assert set(ids) == chosen and len(chosen) == 20
    assert {k for k, (who, _) in held.reviewers.items() if who == "Ann"} == chosen
    assert all(held.answers[k] == "yes" for k in chosen)
    with pytest.raises(ConfigError, match="not an action of plan"):
        state.change({"nope": Change(approve="yes")}, reviewer="Ann", etag=held.etag)
