"""The data monitors: each pull's statistics (``crm_ops.entitystats``, kept in the state file) against a
baseline of the entity's last complete pulls.

The baseline of a number is its median over the last ``runs`` pulls (this one not counted) and its
robust spread, 1.4826 x the median absolute deviation (MAD; the standard deviation of normal noise,
blind to one odd night). A monitor fires only when the change is beyond its configured fraction *and*
beyond ``spread`` deviations of the baseline, so a night of ordinary edits stays quiet; until
``min_runs`` pulls are kept the monitors learn and say nothing.

What is watched, per system and entity (``[profiles.P.monitors]``, ``crm_ops.config_monitors``):

- ``volume.drop`` / ``volume.spike``: the live records the CRM counts for the integration user (a
  sharing rule, a profile or a field-level security change hides records: they leave the count at once,
  while an incremental snapshot still holds them);
- ``deletions.spike``: the records one pull found deleted;
- ``freshness.stalled``: the newest change has not moved for ``stall_runs`` pulls while the other CRM's
  same entity kept changing, on a side whose changes came in at least every other pull before (a
  stalled side of the sync; an object the sync does not carry, quiet on one side, stays silent);
  ``freshness.stale``: the newest change is older than ``max_age_hours``;
- ``nulls.jump``: a column's share of empty values, ``distinct.collapse``: its distinct values;
- ``distribution.shift``: the total variation distance between a categorical column's value shares
  (picklists, stages, countries) and their baseline.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from crm_ops.config_monitors import MONITORS, MonitorSettings
from crm_ops.entitystats import live_rows
from crm_ops.monitors import MonitorFinding
from crm_ops.state import State

CRMS = ("salesforce", "hubspot")  # the two sides of the sync (a source is neither)
MAD_SCALE = 1.4826  # MAD x this estimates the standard deviation of normally distributed noise


def baseline(values: Sequence[float]) -> tuple[float, float]:
    """The median of ``values`` and their robust spread (1.4826 x MAD)."""
    middle = statistics.median(values)
    return middle, MAD_SCALE * statistics.median(abs(v - middle) for v in values)


def total_variation(now: dict[str, float], usual: dict[str, float]) -> float:
    """Half the summed absolute difference of two value-share maps (0: the same, 1: nothing shared)."""
    return 0.5 * sum(abs(now.get(k, 0.0) - usual.get(k, 0.0)) for k in set(now) | set(usual))


def _pct(x: float) -> str:
    return f"{x:.0%}" if x >= 0.01 or x == 0 else f"{x:.1%}"


class _Judge:
    """The settings' view of one entity's history: which monitors are on, at what severity."""

    def __init__(self, settings: MonitorSettings, system: str, entity: str) -> None:
        self.settings, self.system, self.entity = settings, system, entity
        self.found: list[MonitorFinding] = []

    def on(self, monitor: str) -> bool:
        off = self.settings.disabled
        return monitor not in off and monitor.split(".", maxsplit=1)[0] not in off

    def add(self, monitor: str, message: str, observed: str, expected: str, field: str | None = None) -> None:
        self.found.append(
            MonitorFinding(
                monitor=f"monitor.{monitor}",
                system=self.system,
                entity=self.entity,
                severity=self.settings.severity.get(monitor, MONITORS[monitor]),
                message=message,
                field=field,
                observed=observed,
                expected=expected,
            )
        )

    def beyond(self, value: float, usual: float, spread: float, least: float) -> bool:
        """Whether ``value`` differs from ``usual`` by more than ``least`` and than the noise allows."""
        gap = abs(value - usual)
        return gap > least and gap > self.settings.spread * spread


def data_monitors(
    state: State, settings: MonitorSettings, pulled: Iterable[tuple[str, str]]
) -> list[MonitorFinding]:
    """Every data monitor's findings for the (system, entity) pairs pulled this run (the newest kept
    statistics of each against the ones before)."""
    pairs = list(dict.fromkeys(pulled))
    histories = {
        p: state.stats_history(p[0], p[1], max(settings.runs, settings.stall_runs) + 1) for p in pairs
    }
    found: list[MonitorFinding] = []
    for (system, entity), history in histories.items():
        if not history:
            continue
        judge = _Judge(settings, system, entity)
        earlier = history[1 : settings.runs + 1]
        if len(earlier) >= settings.min_runs:
            _volume(judge, history[0], earlier)
            _columns(judge, history[0], earlier)
        others = [(s, h) for (s, e), h in histories.items() if e == entity and s != system and s in CRMS]
        if system in CRMS:  # a file or database source changes when it is exported, not with the sync
            _freshness(judge, history, others)
        found += judge.found
    return found


def _volume(judge: _Judge, now: dict[str, Any], earlier: list[dict[str, Any]]) -> None:
    s, what = judge.settings, f"{judge.system} {judge.entity}"
    live = live_rows(now)
    usual, spread = baseline([live_rows(h) for h in earlier])
    expected = f"median {usual:,.0f}, spread {spread:,.0f}, over {len(earlier)} pulls"
    observed = f"{live:,} live records"
    held = now.get("live", live)
    hidden = (
        f"; the snapshot still holds {held:,}: records hidden from the integration user (sharing, "
        "permissions) or removed without a deletion"
        if isinstance(held, int) and held > live
        else ""
    )
    if live < usual and judge.on("volume.drop") and judge.beyond(live, usual, spread, s.volume_drop * usual):
        judge.add(
            "volume.drop",
            f"{what}: {live:,} live records, {1 - live / usual:.0%} fewer than usual ({usual:,.0f}){hidden}",
            observed,
            expected,
        )
    if (
        live > usual
        and judge.on("volume.spike")
        and judge.beyond(live, usual, spread, s.volume_spike * usual)
    ):
        judge.add(
            "volume.spike",
            f"{what}: {live:,} live records, {live / usual - 1:.0%} more than usual ({usual:,.0f})",
            observed,
            expected,
        )
    gone = int(now.get("pull_deleted", 0))
    d_usual, d_spread = baseline([float(h.get("pull_deleted", 0)) for h in earlier])
    if (
        judge.on("deletions.spike")
        and gone > d_usual
        and judge.beyond(gone, d_usual, d_spread, max(s.deletion_spike * usual, 10))
    ):
        judge.add(
            "deletions.spike",
            f"{what}: this pull found {gone:,} records deleted, usually {d_usual:,.0f} a pull",
            f"{gone:,} deleted",
            f"median {d_usual:,.0f}, spread {d_spread:,.0f}, over {len(earlier)} pulls",
        )


def _columns(judge: _Judge, now: dict[str, Any], earlier: list[dict[str, Any]]) -> None:
    s, what = judge.settings, f"{judge.system} {judge.entity}"
    for column, stats in sorted(now.get("columns", {}).items()):
        past = [h["columns"][column] for h in earlier if column in h.get("columns", {})]
        if len(past) < s.min_runs:
            continue  # a column new in the map learns like a new entity
        rate = float(stats["null_rate"])
        usual, spread = baseline([float(p["null_rate"]) for p in past])
        jumped = rate > usual and judge.beyond(rate, usual, spread, s.null_rate_jump)
        if jumped and judge.on("nulls.jump"):
            judge.add(
                "nulls.jump",
                f"{what}.{column} is empty on {_pct(rate)} of the live records, usually {_pct(usual)}",
                f"{_pct(rate)} empty",
                f"median {_pct(usual)} over {len(past)} pulls",
                column,
            )
        distinct = int(stats["distinct"])
        d_usual, d_spread = baseline([float(p["distinct"]) for p in past])
        if (
            not jumped  # blanking a field collapses its distinct values too: said once
            and judge.on("distinct.collapse")
            and d_usual >= 10
            and distinct < d_usual
            and judge.beyond(distinct, d_usual, d_spread, s.distinct_collapse * d_usual)
        ):
            judge.add(
                "distinct.collapse",
                f"{what}.{column} has {distinct:,} distinct values, usually {d_usual:,.0f}",
                f"{distinct:,} distinct values",
                f"median {d_usual:,.0f} over {len(past)} pulls",
                column,
            )
        tops = [p["top"] for p in past if "top" in p]
        if "top" in stats and len(tops) >= s.min_runs and judge.on("distribution.shift"):
            usual_shares = _median_shares(tops)
            tvd = total_variation(stats["top"], usual_shares)
            if tvd > s.distribution_shift:
                moved = sorted(
                    set(stats["top"]) | set(usual_shares),
                    key=lambda v: -abs(stats["top"].get(v, 0.0) - usual_shares.get(v, 0.0)),
                )[:3]
                said = ", ".join(
                    f"{v} {_pct(stats['top'].get(v, 0.0))} (usually {_pct(usual_shares.get(v, 0.0))})"
                    for v in moved
                )
                judge.add(
                    "distribution.shift",
                    f"{what}.{column}'s values moved by {tvd:.0%} (total variation): {said}",
                    f"total variation {tvd:.2f}",
                    f"below {s.distribution_shift:.2f} against the median shares of {len(tops)} pulls",
                    column,
                )


def _median_shares(tops: list[dict[str, float]]) -> dict[str, float]:
    """Each value's median share across pulls (absent: 0), scaled to sum to 1."""
    values = set().union(*tops)
    shares = {v: statistics.median(t.get(v, 0.0) for t in tops) for v in values}
    total = sum(shares.values()) or 1.0
    return {v: x / total for v, x in shares.items() if x > 0}


def _newest(stats: dict[str, Any]) -> datetime | None:
    stamp = stats.get("newest_change")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


def _freshness(
    judge: _Judge, history: list[dict[str, Any]], others: list[tuple[str, list[dict[str, Any]]]]
) -> None:
    s, what = judge.settings, f"{judge.system} {judge.entity}"
    newest = _newest(history[0])
    lag = history[0].get("lag_seconds")
    old = isinstance(lag, int | float) and lag > s.max_age_hours * 3600
    if s.max_age_hours > 0 and judge.on("freshness.stale") and old:
        judge.add(
            "freshness.stale",
            f"{what}: the newest change is {float(lag or 0) / 3600:,.0f} hours old (bound "
            f"{s.max_age_hours:g} hours)",
            f"newest change {newest.isoformat() if newest else 'none'}",
            f"within {s.max_age_hours:g} hours",
        )
    span = history[: s.stall_runs + 1]
    if len(span) <= s.stall_runs or newest is None or not judge.on("freshness.stalled"):
        return
    if any(_newest(h) != newest for h in span[1:]):
        return  # it moved
    before = [_newest(h) for h in history[s.stall_runs :]]
    moved = [a is not None and b is not None and a > b for a, b in itertools.pairwise(before)]
    if len(before) < s.min_runs or sum(moved) * 2 < len(moved):
        return  # learning, or a side that is often quiet (its other CRM's object may not be synced)
    for other_system, other in others:
        window = other[: s.stall_runs + 1]
        ends = [_newest(h) for h in window]
        if len(window) <= s.stall_runs or any(e is None for e in ends):
            continue
        moving = all(a is not None and b is not None and a > b for a, b in itertools.pairwise(ends))
        if moving:
            judge.add(
                "freshness.stalled",
                f"{what}: no record changed over the last {s.stall_runs + 1} pulls (newest change "
                f"{newest:%Y-%m-%d %H:%M} UTC) while {other_system}'s kept "
                f"changing (newest {ends[0]:%Y-%m-%d %H:%M} UTC): a stalled side of the sync",
                f"newest change {newest.isoformat()}, unchanged for {s.stall_runs + 1} pulls",
                "changes arriving as on the other CRM",
            )
            return


def live_trend(state: State, pairs: Iterable[tuple[str, str]], runs: int) -> dict[str, list[int]]:
    """The live records of each (system, entity) over its last ``runs`` pulls, oldest first (for the
    report's trend chart)."""
    return {
        f"{system}.{entity}": [live_rows(h) for h in reversed(state.stats_history(system, entity, runs))]
        for system, entity in pairs
    }
