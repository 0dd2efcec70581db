"""``[profiles.P.retention]``: how long the nightly run keeps its own copies of CRM data (issue 31),
parsed and checked at load; a wrong key or value is an error naming it and the file.

Every age is a whole number of days, or ``"forever"``. What each one prunes, and what is never pruned
whatever its age, is ``crm_ops.retention``'s."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

FOREVER = "forever"


@dataclass(frozen=True)
class RetentionSettings:
    """How many days the nightly run keeps each kind of its own state (None: forever). The defaults keep
    half a year of run history and a year and a month of plans and their journals (undo's window)."""

    runs_days: int | None = 180  # run folders: summary, report, log, the run's findings and plan
    findings_days: int | None = 180  # findings/<time>.parquet (crm-ops check), match/<time>/ (match)
    plans_days: int | None = 400  # plans/<id>/ and their journal entries (old values: undo ends with them)
    snapshots_days: int | None = 90  # earlier generations of each snapshot (never the current one)


def _retention_settings(raw: Any, where: str, problems: list[str]) -> RetentionSettings:
    """The retention table of a profile, each problem named by key (``where`` names the file)."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table ([...retention])")
        return RetentionSettings()
    known = [f.name for f in fields(RetentionSettings)]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            problems.append(f"{where}.{key}: unknown setting; known: {', '.join(known)}")
        elif value == FOREVER:
            values[key] = None
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            values[key] = value
        else:
            problems.append(
                f'{where}.{key}: expected a whole number of days, 1 or more, or "{FOREVER}", got {value!r}'
            )
    return RetentionSettings(**values)
