"""What Salesforce says about each record of a save, read the same way for composite and Bulk answers,
and what crm-ops does with it (issue 15):

- UNABLE_TO_LOCK_ROW is transient (another transaction holds the record or its parent): the records
  that meet it are sent again, alone, a few times with backoff (``retry.retrying``), then reported;
- DUPLICATES_DETECTED (a duplicate rule on the very fields crm-ops fixes): the refusal names the rule
  and the matched records (composite answers carry them in ``duplicateResult``; Bulk results do not);
  with ``allow_duplicate_saves`` a composite request carries ``Sforce-Duplicate-Rule-Header:
  allowSave=true`` (a rule that only alerts lets the save through), and records a Bulk job refused for
  duplicates are sent again through composite, as Bulk cannot carry the header;
- FIELD_CUSTOM_VALIDATION_EXCEPTION (a validation rule older records fail): the rule's message, as the
  CRM gave it, so that a report can group them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crm_ops.connectors.base import PushResult

LOCKED = "UNABLE_TO_LOCK_ROW"
DUPLICATES = "DUPLICATES_DETECTED"
LOCK_ATTEMPTS = 4  # sends of a locked record in all
DUPLICATE_HEADER = {"Sforce-Duplicate-Rule-Header": "allowSave=true"}
ALLOW_HINT = "set [salesforce] allow_duplicate_saves = true to save despite the rule's alert"


def code_of(result: PushResult) -> str | None:
    """The first error code of a record's refusal."""
    code = result.extra.get("code")
    return str(code) if code else None


def composite_result(record_id: str, outcome: Mapping[str, Any], allowed: bool) -> PushResult:
    """One SaveResult of a composite (sObject collections) answer."""
    if outcome.get("success"):
        return PushResult(record_id, True)
    errors = [e for e in outcome.get("errors") or [] if isinstance(e, Mapping)]
    parts = [_error_text(e, allowed) for e in errors]
    code = next((str(e.get("statusCode")) for e in errors if e.get("statusCode")), None)
    matched = [m for e in errors for m in _matched(e)]
    extra: dict[str, Any] = {"code": code} if code else {}
    if matched:
        extra["matched"] = matched
    return PushResult(record_id, False, "; ".join(parts) or "not saved", extra)


def bulk_result(record_id: str, error: str, allowed: bool) -> PushResult:
    """One row of a Bulk ingest job's failed results (``sf__Error``: ``CODE:message:fields``)."""
    code, _, rest = error.partition(":")
    message = rest.rsplit(":", 1)[0] if rest.count(":") else rest
    text = f"{code}: {message}"
    if code == DUPLICATES:
        text += " (a duplicate rule; Bulk results do not name the matched records"
        text += ")" if allowed else f"; {ALLOW_HINT}, and such records go through composite)"
    return PushResult(record_id, False, text, {"code": code})


def _matched(error: Mapping[str, Any]) -> list[str]:
    result = error.get("duplicateResult") or {}
    return [
        str((record.get("record") or {}).get("Id"))
        for match in result.get("matchResults") or []
        for record in match.get("matchRecords") or []
        if (record.get("record") or {}).get("Id")
    ]


def _error_text(error: Mapping[str, Any], allowed: bool) -> str:
    text = f"{error.get('statusCode')}: {error.get('message')}"
    if error.get("statusCode") == DUPLICATES:
        result = error.get("duplicateResult") or {}
        matched = _matched(error)
        rule = result.get("duplicateRule") or "a duplicate rule"
        hint = "" if allowed or not result.get("allowSave", True) else f"; {ALLOW_HINT}"
        if not result.get("allowSave", True):
            hint = "; the rule blocks the save: resolve the duplicate first"
        text += f" ({rule} matched {', '.join(matched) or 'records it does not name'}{hint})"
    return text


def still_locked(results: Sequence[PushResult], attempts: int) -> list[PushResult]:
    """The results of records still locked after ``attempts`` sends, saying so."""
    return [
        PushResult(r.record_id, False, f"{r.error} (still locked after {attempts} attempts)", r.extra)
        if code_of(r) == LOCKED
        else r
        for r in results
    ]
