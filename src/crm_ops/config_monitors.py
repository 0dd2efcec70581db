"""``[profiles.P.monitors]``: how the data monitors judge a pull against the last ones
(``crm_ops.monitors.data``), parsed and checked at load; a wrong key or value is an error naming it
and the file."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

# the monitors by id (without the ``monitor.`` prefix) and the severity each has unless configured: a
# drop of live records and a stale side of the sync trip the circuit breaker
MONITORS = {
    "volume.drop": "error",
    "volume.spike": "warning",
    "deletions.spike": "warning",
    "freshness.stalled": "error",
    "freshness.stale": "error",
    "nulls.jump": "warning",
    "distinct.collapse": "warning",
    "distribution.shift": "warning",
}
KINDS = tuple(dict.fromkeys(m.split(".")[0] for m in MONITORS))


@dataclass(frozen=True)
class MonitorSettings:
    """How the data monitors judge each pull: against the median and the spread (MAD) of the entity's
    last ``runs`` complete pulls, once ``min_runs`` of them exist (before that they learn, silently).
    A bound is crossed only when the change is both beyond its fraction and beyond ``spread`` times the
    baseline's own noise, so normal daily edits do not fire."""

    runs: int = 7  # complete pulls in the baseline
    min_runs: int = 3  # pulls needed before a monitor alarms (learning until then)
    disabled: tuple[str, ...] = ()  # monitors switched off: a kind (volume) or an id (volume.spike)
    severity: dict[str, str] = field(default_factory=dict)  # monitor id = error | warning | info
    spread: float = 4.0  # a change must exceed this many robust deviations (1.4826 x MAD) of the baseline
    volume_drop: float = 0.2  # live records below the median by more than this fraction
    volume_spike: float = 0.5  # live records above the median by more than this fraction
    deletion_spike: float = 0.05  # records deleted by one pull above this fraction of the live ones
    null_rate_jump: float = 0.2  # a column's null rate up by more than this (0-1, absolute)
    distinct_collapse: float = 0.5  # a column's distinct values below the median by more than this fraction
    distribution_shift: float = 0.2  # total variation distance of a categorical column's value shares
    stall_runs: int = 2  # pulls without a newer change while the other CRM's changes kept coming
    max_age_hours: float = 0.0  # the newest change older than this is stale (0: off; quiet weekends)


_FRACTIONS = ("volume_drop", "deletion_spike", "null_rate_jump", "distinct_collapse", "distribution_shift")


def _monitor_settings(raw: Any, where: str, problems: list[str]) -> MonitorSettings:
    """The monitors table of a profile, each problem named by key (``where`` names the file)."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a table ([...monitors])")
        return MonitorSettings()
    default = MonitorSettings()
    known = {f.name for f in fields(MonitorSettings)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            problems.append(f"{where}.{key}: unknown setting; known: {', '.join(sorted(known))}")
        elif key == "disabled":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            bad = [v for v in value if v not in MONITORS and v not in KINDS] if ok else []
            if not ok or bad:
                problems.append(
                    f"{where}.disabled: expected a list of monitor kinds ({', '.join(KINDS)}) or ids "
                    f"({', '.join(MONITORS)}), got {bad or value!r}"
                )
            else:
                values[key] = tuple(value)
        elif key == "severity":
            if not isinstance(value, dict):
                problems.append(
                    f'{where}.severity: expected a table (severity = {{"volume.spike" = "error"}})'
                )
                continue
            for mid, sev in value.items():
                if mid not in MONITORS:
                    problems.append(f"{where}.severity.{mid}: unknown monitor; known: {', '.join(MONITORS)}")
                elif sev not in ("error", "warning", "info"):
                    problems.append(f"{where}.severity.{mid}: expected error, warning or info, got {sev!r}")
            values[key] = {k: str(v) for k, v in value.items() if k in MONITORS}
        elif key in ("runs", "min_runs", "stall_runs"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{where}.{key}: expected a whole number (1 or more), got {value!r}")
            else:
                values[key] = value
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            problems.append(f"{where}.{key}: expected a number (0 or more), got {value!r}")
        elif key in _FRACTIONS and value > 1:
            problems.append(f"{where}.{key}: expected a fraction from 0 to 1, got {value!r}")
        else:
            values[key] = float(value)
    runs, least = values.get("runs", default.runs), values.get("min_runs", default.min_runs)
    if least > runs:
        problems.append(
            f"{where}.min_runs: {least} is more than runs ({runs}): the monitors would never alarm"
        )
    return MonitorSettings(**values)
