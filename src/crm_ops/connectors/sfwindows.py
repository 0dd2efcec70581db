"""Big Salesforce reads that real orgs refuse or cut short, and what the connector does about them.

- QUERY_TIMEOUT ("Your query request was running for too long."): a REST query over a large
  SystemModstamp range is asked again over half the range (``narrower``), halving until one answers;
  once a window is read the next starts at its end, twice as wide (``next_window``), the last one open.
  The keyset cursor (SystemModstamp, Id) stays valid across windows, so a resumed pull continues.
- A Bulk query job that ends Failed or Aborted, or whose results add up to another count than the
  job's ``numberRecordsProcessed``: the job is started again (a bounded number of times), never taken
  as a short snapshot; a result page with fewer rows than its ``Sforce-NumberOfRecords`` is asked again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_ops.connectors.sfsoql import soql_datetime
from crm_ops.errors import FatalApiError

SYSTEM = "salesforce"
FLOOR = datetime(2000, 1, 1, tzinfo=UTC)  # no record is older than Salesforce
MIN_SPAN = 1.0  # seconds: a window this narrow that still times out is an error
BULK_RESTARTS = 3  # Bulk jobs of one entity that may fail (or come back short) before it is an error


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00").replace("+0000", "+00:00"))


def narrower(cursor: dict[str, Any], since: datetime | None, until: datetime) -> dict[str, Any]:
    """The cursor of the same read over half the window that timed out."""
    after = cursor.get("after")
    lower = _stamp(str(after[0])) if after else (since or FLOOR)
    upper = _stamp(cursor["upper"]) if cursor.get("upper") else until
    span = (upper - lower).total_seconds() / 2
    if span < MIN_SPAN:
        raise FatalApiError(
            SYSTEM, f"QUERY_TIMEOUT even over a {span:.1f}-second SystemModstamp window", code="QUERY_TIMEOUT"
        )
    new_upper = lower + timedelta(seconds=span)
    return {**cursor, "mode": "rest", "upper": new_upper.isoformat(), "span": span}


def next_window(cursor: dict[str, Any], until: datetime) -> dict[str, Any] | None:
    """After a window is read: the next one (twice as wide; open-ended once past ``until``), or None."""
    if not cursor.get("upper"):
        return None
    upper = _stamp(cursor["upper"])
    span = float(cursor.get("span") or 0) * 2
    following = upper + timedelta(seconds=span)
    if following >= until:
        return {**cursor, "upper": None, "span": None, "lower": upper.isoformat()}
    return {**cursor, "upper": following.isoformat(), "span": span, "lower": upper.isoformat()}


def window_clauses(cursor: dict[str, Any]) -> list[str]:
    """The window's bounds as SOQL conditions (the lower one only saves the org work)."""
    clauses = []
    if cursor.get("lower"):
        clauses.append(f"SystemModstamp >= {soql_datetime(_stamp(cursor['lower']))}")
    if cursor.get("upper"):
        clauses.append(f"SystemModstamp < {soql_datetime(_stamp(cursor['upper']))}")
    return clauses
