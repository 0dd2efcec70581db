"""A journal entry only moves forward (pending, restored, then one outcome): an entry ``done`` with the
value it replaced is never overwritten by a later, weaker state (a second apply's "skipped: already holds
the proposed value", a stale ``pending``), so undo always finds the old value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crm_ops.state import OUTCOMES, State, may_replace


def _entry(status: str, before: str | None = "old@x.com", error: str | None = None) -> dict[str, Any]:
    return {
        "action_id": "a1",
        "system": "salesforce",
        "entity": "Contact",
        "record_id": "003A",
        "field": "email",
        "before": before,
        "after": "new@x.com",
        "status": status,
        "error": error,
    }


@pytest.mark.parametrize(
    ("held", "status", "allowed"),
    [
        (None, "pending", True),
        (None, "skipped", True),
        ("pending", "pending", True),
        ("pending", "restored", True),
        ("pending", "done", True),
        ("pending", "not applied", True),
        ("restored", "restored", True),
        ("restored", "done", True),
        ("restored", "failed", True),
        ("restored", "pending", False),
        ("done", "skipped", False),
        ("done", "pending", False),
        ("done", "done", False),
        ("failed", "done", False),
        ("conflict", "pending", False),
        ("irreversible", "done", False),
        ("not applied", "done", False),
        ("a state from a newer version", "pending", False),
    ],
)
def test_the_order_of_journal_states(held: str | None, status: str, allowed: bool) -> None:
    assert may_replace(held, status) is allowed


def test_every_outcome_is_final() -> None:
    for outcome in OUTCOMES:
        assert not any(may_replace(outcome, s) for s in ("pending", "restored", *OUTCOMES))


def test_a_done_entry_keeps_its_old_value_whatever_is_written_after(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    try:
        state.record_actions("P", [_entry("pending")])
        state.record_actions("P", [_entry("done")])
        # a second apply of the same plan finds the value written and would say so, losing the old one
        late = _entry(
            "skipped", before="new@x.com", error="already holds the proposed value: nothing to write"
        )
        kept = state.record_actions("P", [late, {**_entry("pending"), "action_id": "a2"}])
        assert kept == [late]  # returned: the journal holds a stronger state
        journal = state.journal("P")
        assert journal["a1"]["status"] == "done" and journal["a1"]["before"] == "old@x.com"
        assert journal["a2"]["status"] == "pending"  # the rest of the batch is written
        state.record_actions("P", [_entry("pending", before="new@x.com")])  # a stale pending: kept too
        assert state.journal("P")["a1"]["before"] == "old@x.com"
        assert state.journal("Q") == {}  # plans apart
    finally:
        state.close()


def test_pending_entries_of_every_plan_are_listed(tmp_path: Path) -> None:
    state = State(tmp_path / "state.sqlite")
    try:
        state.record_actions("P", [_entry("pending")])
        state.record_actions("Q", [_entry("done")])
        assert [(e["plan_id"], e["action_id"], e["before"]) for e in state.pending()] == [
            ("P", "a1", "old@x.com")
        ]
    finally:
        state.close()
