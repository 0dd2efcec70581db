"""What of the tool reads each CRM field, and the org-change monitor run after a pull (issue 27).

``field_uses`` lists, per field of one (system, entity), what depends on it: the map that reads it into a
column (shipped, object map or declared), the rules judging that column, the match settings (match rule
fields and blocking keys, source of truth, merge rules), the cross-CRM links and the drift syncs.
``org_changes`` is what ``crm-ops pull``, ``crm-ops run`` and the API call once the pull is done: for each
CRM entity the pull read (or tried to), the org's metadata the connector fetched (no extra call) is diffed
against the version kept by the previous pull (``crm_ops.monitors.schema``) and kept; and for an entity
both CRMs were read for, the linked records holding values the other CRM's field will not take
(``crm_ops.monitors.compat``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import polars as pl
import structlog

from crm_ops.check import profile_rules
from crm_ops.config import Profile
from crm_ops.connectors.orgmeta import DescribesOrg, ObjectMeta
from crm_ops.errors import CrmOpsError
from crm_ops.match.config import DEFAULTS, OPT_IN
from crm_ops.match.links import DRIFT_FIELDS
from crm_ops.match.run import profile_settings
from crm_ops.monitors import MonitorFinding
from crm_ops.monitors.compat import incompatible_values
from crm_ops.monitors.schema import Held, Uses, diff_metadata, watch_object
from crm_ops.rules import Rule
from crm_ops.schema.fieldmap import EntityMap
from crm_ops.state import State

log = structlog.get_logger("crm_ops.orgwatch")


def _match_uses(entity: str, column: str, settings: Mapping[str, Any]) -> list[str]:
    """The match settings that read ``column`` of ``entity``."""
    out: list[str] = []
    configs = {**DEFAULTS, **{k: v for k, v in OPT_IN.items() if k in settings["configs"]}}
    configs.update(settings["configs"])
    for key, config in configs.items():
        if entity not in key.removeprefix("cross.").split("-"):
            continue
        what = "cross-CRM link" if key.startswith("cross.") else "match"
        if any(column in (f.field, getattr(f, "other_field", None)) for f in config.fields):
            out.append(f"{what} {key} field {column}")
        out += [f"{what} {key} blocking key [{', '.join(b)}]" for b in config.blocking if column in b]
    if column in DRIFT_FIELDS.get(entity, {}):
        out.append(f"drift sync match.drift.{column}")
    if column in settings["source_of_truth"]:
        out.append(f"match source_of_truth.{column}")
    merge = settings["merge_rules"]
    if column in merge.fields or column in merge.entity_fields.get(entity, {}):
        out.append(f"merge rule {merge.rule_for(entity, column)} for {column}")
    return out


def field_uses(
    system: str, emap: EntityMap, rules: Sequence[Rule], settings: Mapping[str, Any] | None = None
) -> Uses:
    """What of the tool reads each field of ``emap``'s object (lower-cased field names): the map, the
    rules of its column, and (``settings``: ``profile_settings``'s) the match settings, cross-CRM links
    and drift syncs of that column."""
    uses: dict[str, tuple[str, ...]] = {}
    entity = emap.entity
    for column, source in emap.columns.items():
        ruled = [f"rule {r.id}" for r in rules if r.field == column and r.applies_to(system, entity)]
        matched = _match_uses(entity, column, settings) if settings is not None else []
        for name in source.names:
            found = (f"map {system} {emap.object}.{name} -> {entity}.{column}", *ruled, *matched)
            uses[name.lower()] = tuple(dict.fromkeys([*uses.get(name.lower(), ()), *found]))
    return uses


def _uses_of(
    profile: Profile, rules: Sequence[Rule] | None
) -> tuple[Sequence[Rule], Mapping[str, Any] | None]:
    """The rules (loaded when not given) and match settings ``field_uses`` reads. A rule or ``[match]``
    setting that cannot be loaded is the check's error to report, not this monitor's: without them the
    changes name the maps alone."""
    if rules is None:
        try:
            rules, _ = profile_rules(profile)
        except CrmOpsError:
            rules = []
    try:
        return rules, profile_settings(profile)
    except CrmOpsError:
        return rules, None


def held_counter(state: State, system: str, entity: str, emap: EntityMap) -> Held:
    """How many live records of the current snapshot hold a value in a field (its mapped column, or a
    custom column of its own name); None when the snapshot has neither."""
    current = state.current(system, entity)

    def held(name: str, value: str) -> int | None:
        if current is None or not current.snapshot.exists():
            return None
        frame = current.snapshot.scan()
        columns = frame.collect_schema().names()
        column = next((c for c in (emap.column_for(name), name, name.lower()) if c and c in columns), None)
        if column is None:
            return None
        if "is_deleted" in columns:
            frame = frame.filter(~pl.col("is_deleted").fill_null(False))
        values = pl.col(column).cast(pl.String).str.split(";")  # a multi-select holds "a;b"
        return int(frame.filter(values.list.contains(value)).select(pl.len()).collect().item())

    return held


def org_changes(
    profile: Profile,
    state: State,
    connector: Callable[[str], Any],
    pulled: Iterable[tuple[str, str]],
    rules: Sequence[Rule] | None = None,
) -> list[MonitorFinding]:
    """The org-change monitor after a pull: for each (system, entity) pulled or tried, this pull's field
    metadata diffed against the kept version, then kept. ``connector``: the puller's, by system (its
    describes are cached: no extra call); ``rules``: the profile's (loaded when not given). A CRM that
    cannot answer its metadata now is logged and skipped: the pull's own failure says why."""
    rules, settings = _uses_of(profile, rules)
    found: list[MonitorFinding] = []
    described: dict[tuple[str, str], tuple[ObjectMeta, EntityMap]] = {}
    for system, entity in dict.fromkeys(pulled):
        if system not in ("salesforce", "hubspot"):
            continue
        try:
            conn = connector(system)
            if not isinstance(conn, DescribesOrg):
                continue
            meta = conn.org_metadata(entity)
            emap = conn.fmap.entity(entity)
        except CrmOpsError as exc:
            log.warning("orgwatch.skipped", system=system, entity=entity, error=str(exc))
            continue
        if not meta:  # no metadata API (HubSpot owners)
            continue
        uses = field_uses(system, emap, rules, settings)
        found += watch_object(state, system, entity, meta, uses, held_counter(state, system, entity, emap))
        described[(system, entity)] = (meta, emap)
    found += linked_compatibility(state, described)
    for f in found:
        {"error": log.error, "warning": log.warning}.get(f.severity, log.info)(
            "orgwatch.change",
            monitor=f.monitor,
            system=f.system,
            entity=f.entity,
            field=f.field,
        )
    return found


def since_last_pull(profile: Profile, conn: Any, rules: Sequence[Rule] | None = None) -> list[MonitorFinding]:
    """``crm-ops doctor``'s look: each entity of ``conn``'s CRM as its metadata is now, against the version
    the last pull kept; nothing kept or changed (read-only: the next pull reports and keeps them). No
    state file yet (never pulled): none."""
    path = profile.state_dir / "state.sqlite"
    if not isinstance(conn, DescribesOrg) or not path.exists():
        return []
    rules, settings = _uses_of(profile, rules)
    state = State(path)
    try:
        found: list[MonitorFinding] = []
        for entity in conn.fmap.entities:
            kept = state.metadata(conn.system, entity)
            if kept is None:
                continue
            emap = conn.fmap.entity(entity)
            uses = field_uses(conn.system, emap, rules, settings)
            held = held_counter(state, conn.system, entity, emap)
            found += diff_metadata(conn.system, entity, kept[1], conn.org_metadata(entity), uses, held)
        return found
    finally:
        state.close()


def linked_compatibility(
    state: State, described: Mapping[tuple[str, str], tuple[ObjectMeta, EntityMap]]
) -> list[MonitorFinding]:
    """For each entity both CRMs were described for, the linked records of each side holding values of
    a synced column (``DRIFT_FIELDS``) the other side's field will not take (``monitors.compat``)."""
    found: list[MonitorFinding] = []
    for (system, entity), (_, emap) in described.items():
        other = "hubspot" if system == "salesforce" else "salesforce"
        columns = [c for c in DRIFT_FIELDS.get(entity, {}) if c in emap.columns]
        current = state.current(system, entity)
        if (
            (other, entity) not in described
            or not columns
            or current is None
            or not current.snapshot.exists()
        ):
            continue
        other_meta, other_map = described[(other, entity)]
        fields = {
            c: next((n for n in other_map.columns[c].names if n in other_meta), "")
            for c in columns
            if c in other_map.columns
        }
        frame = current.snapshot.scan()
        have = frame.collect_schema().names()
        if "linked_id" not in have:
            continue
        wanted = [c for c in ("linked_id", "is_deleted", *columns) if c in have]
        linked = frame.filter(pl.col("linked_id").is_not_null()).select(wanted).collect()
        found += incompatible_values(entity, system, linked, other, other_meta, fields, columns)
    return found


def change_line(finding: MonitorFinding) -> str:
    """One short line for a terminal: severity, monitor, field and what it affects first."""
    where = f"{finding.system}.{finding.entity}{'.' + finding.field if finding.field else ''}"
    line = f"{finding.severity}: {finding.monitor} {where}"
    if finding.affects:
        more = f" +{len(finding.affects) - 1}" if len(finding.affects) > 1 else ""
        line += f" (affects {finding.affects[0]}{more})"
    return line


__all__ = [
    "change_line",
    "field_uses",
    "held_counter",
    "linked_compatibility",
    "org_changes",
    "since_last_pull",
]
