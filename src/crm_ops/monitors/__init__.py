"""Monitors: what the data and the org look like between runs (issue 27).

Each monitor compares this run with what earlier runs saw (the pulls' history in the state file, the
org's metadata kept by each pull) and returns ``MonitorFinding``s. They are not record findings: they
never become plan actions; they go to the run's summary, report and webhook, and an error-level one
trips the circuit breaker (``breaker_reasons``): that run applies nothing unattended and merges nothing,
says why, and exits ``ExitCode.BRAKED`` unless a person overrides the breaker for that run.

Monitor ids: ``monitor.<kind>.<what>`` (``monitor.volume.drop``, ``monitor.schema.field_removed``...).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class MonitorFinding:
    """One thing a monitor noticed about a system's entity (or the whole system: ``entity`` empty)."""

    monitor: str  # monitor.<kind>.<what>
    system: str
    entity: str
    severity: str  # error (trips the breaker) | warning | info
    message: str  # what changed, in a person's words, with the numbers
    field: str | None = None
    observed: str | None = None  # this run's value, as text ("6,012 live rows")
    expected: str | None = None  # the baseline ("median 10,034, spread 41, over 7 runs")
    affects: tuple[str, ...] = ()  # the maps, rules, merge settings and cross-CRM links it touches

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r}: use one of {', '.join(SEVERITIES)}")
        if not self.monitor.startswith("monitor."):
            raise ValueError(f"monitor id {self.monitor!r} must start with 'monitor.'")

    def as_dict(self) -> dict[str, Any]:
        """The finding as plain JSON-able values (summary.json, the webhook)."""
        out = asdict(self)
        out["affects"] = list(self.affects)
        return out


def breaker_reasons(found: Iterable[MonitorFinding]) -> list[str]:
    """Why the circuit breaker trips for this run: each error-level monitor finding, as a line (none: it
    holds)."""
    return [
        f"{f.monitor} {f.system}.{f.entity}{'.' + f.field if f.field else ''}: {f.message}"
        for f in found
        if f.severity == "error"
    ]
