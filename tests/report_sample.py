"""A run's report data as a week of nightly runs would give it: hostile and very long CRM values, every
kind of action outcome, a history with dates. Shared by the report's content and browser tests."""

from __future__ import annotations

from typing import Any

import polars as pl

from crm_ops.report import RunData, Score, Threshold
from crm_ops.rules import FINDINGS_SCHEMA

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
# why a merge's records match (crm_ops.explain): a Fellegi-Sunter pair, its prior not 0
EXPLAIN = (
    "prior -13.29; email exact +9.81; phone differ -4.20; last_name fuzzy>=0.92 +6.10; first_name null +0.00"
)
LONG = "averyveryverylongvaluewithoutanyspaces" * 8 + "@example.com"


def _finding(rule: str, record: str, value: str, severity: str = "error") -> dict[str, Any]:
    return {
        "rule": rule, "entity": "Contact", "system": "salesforce", "record_id": record, "field": "email",
        "current_value": value, "severity": severity, "message": f"{rule} failed", "proposed_value": None,
        "confidence": None,
    }  # fmt: skip


def _action(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "action_id": f"a{n}", "kind": "update", "system": "salesforce", "entity": "Contact",
        "record_id": f"003{n:012d}", "field": "email", "seen_value": LONG if n == 1 else HOSTILE,
        "proposed_value": f"ann{n}@acme.com", "rule": "person.email.normalised", "severity": "warning",
        "confidence": 0.99, "reason": "", "label": f"Ann {n} {HOSTILE if n == 2 else ''}",
        "url": f"https://acme.lightning.force.com/lightning/r/Contact/003{n:012d}/view",
        "approved": n != 3, "review_reason": "" if n != 3 else "confidence 0.62 < 0.95", **extra,
    }  # fmt: skip


def sample_run() -> RunData:
    now = pl.DataFrame(
        [
            _finding("person.email.valid", "003000000000001", LONG),
            _finding("person.email.valid", "003000000000002", HOSTILE),
            _finding("person.email.normalised", "003000000000003", " Ann@X.com ", "warning"),
            _finding(
                "a.very.long.rule.identifier.that.goes.on.and.on.and.on.forever", "003000000000004", "x"
            ),
        ],
        schema=FINDINGS_SCHEMA,
    )
    before = pl.DataFrame(
        [
            _finding("person.email.valid", "003000000000001", LONG),
            _finding("person.email.valid", "003000000000009", "gone@@x.com"),
        ],
        schema=FINDINGS_SCHEMA,
    )
    days = ["2026-11-25", "2026-11-26", "2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01"]
    history = [
        {
            "run_id": f"{d.replace('-', '')}T020000-abcdef",
            "started_at": f"{d}T02:00:00+00:00",
            "scores": {
                "salesforce.Contact": 90 + i,
                "hubspot.Contact": 97 - i / 2,
                "salesforce.Account": 99.0,
            },
            "findings_by_rule": {"person.email.valid": 9 - i},
            "exit_code": 1,
            "findings": 40 - i,
        }
        for i, d in enumerate(days)
    ]
    return RunData(
        run_id="20261201T020000-abcdef",
        profile="prod",
        started_at="2026-12-01T02:00:00+00:00",
        exit_code=1,
        counts={
            "salesforce.Contact": Score(1534, 1442),
            "hubspot.Contact": Score(1251, 1189),
            "salesforce.Account": Score(371, 370),
        },
        findings=now,
        history=history,
        previous=before,
        previous_run=str(history[-2]["run_id"]),
        rules={"person.email.valid": "The e-mail address is not a valid address."},
        threshold=Threshold("error", 0, 3),
        actions=[
            _action(1),
            _action(2),
            _action(3),
            _action(4),
            _action(
                5,
                kind="merge",
                rule="match.duplicate",
                field="merge_into",
                proposed_value="003000000000006",
                other_label=f"Ann Lee (kept) {HOSTILE}",
                approved=False,
                review_reason="a merge: a person decides",
                detail={"explain": EXPLAIN, "values": []},
            ),
        ],
        chosen=frozenset({"a1", "a2", "a4"}),
        outcomes=[
            {"action_id": "a1", "status": "done"},
            {
                "action_id": "a4",
                "status": "failed",
                "error": "INVALID_EMAIL_ADDRESS: Email: invalid email " + HOSTILE,
            },
            {"action_id": "a2", "status": "conflict", "error": "changed since the plan"},
        ],
        applied={"done": 1, "failed": 1, "conflict": 1},
        notices=[f"salesforce Contact: HasOptedOutOfEmail is hidden {HOSTILE}"],
    )
