"""Org-change monitor: this pull's field metadata against the version the previous pull kept (issue 27).

``diff_metadata`` compares two versions of one object's metadata (``crm_ops.connectors.orgmeta``'s
compact form) and returns a ``MonitorFinding`` per change, each naming what of the tool it affects
(``uses``: the maps, rules, match settings and cross-CRM links that read the field). Severity says what a
person must do at night:

- error (trips the circuit breaker): a field the tool uses is gone from the metadata the integration user
  gets (``field_removed``: deleted, archived, or hidden from it by field-level security, which Salesforce
  answers alike: the field is absent from describe and ``INVALID_FIELD`` in SOQL), or retyped so its
  values no longer fit its column (``field_retyped``: the canonical type changed);
- warning: a picklist value removed that pulled records still hold (``picklist_value_removed``, with
  how many), a used field's length shortened, made required, made read-only to the integration user
  (``write_lost``: fixes to it will be refused), retyped within its column's type, or a used HubSpot
  property hidden (``field_hidden``: gone from HubSpot's screens, still read by the API);
- info: everything else (an unmapped field added, removed or changed, a picklist value added): churn the
  tool does not depend on, listed but never loud.

``watch_object`` runs the monitor for one (system, entity): diff against the kept version, then keep
this one (``State.keep_metadata``). The first pull keeps a baseline and reports nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from crm_ops.connectors.orgmeta import ObjectMeta, full
from crm_ops.monitors import MonitorFinding
from crm_ops.schema.fieldmap import canonical_type
from crm_ops.state import State

KIND = "monitor.schema."
Uses = Mapping[str, tuple[str, ...]]  # field name, lower-cased -> what of the tool reads it
Held = Callable[[str, str], int | None]  # (field, value) -> records holding it (None: not pulled)


class _Diff:
    """The findings of one object's diff, built field by field."""

    def __init__(self, system: str, entity: str, uses: Uses, held: Held | None) -> None:
        self.system, self.entity, self.uses, self.held = system, entity, uses, held
        self.found: list[MonitorFinding] = []

    def used(self, name: str) -> tuple[str, ...]:
        return self.uses.get(name.lower(), ())

    def add(
        self,
        what: str,
        severity: str,
        name: str,
        message: str,
        observed: Any = None,
        expected: Any = None,
    ) -> None:
        affects = self.used(name)
        if affects:
            more = f" and {len(affects) - 1} more" if len(affects) > 1 else ""
            message = f"{message}; used by {affects[0]}{more}"
        self.found.append(
            MonitorFinding(
                monitor=KIND + what,
                system=self.system,
                entity=self.entity,
                severity=severity,
                message=message,
                field=name,
                observed=None if observed is None else str(observed),
                expected=None if expected is None else str(expected),
                affects=affects,
            )
        )

    def field(self, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        used = bool(self.used(name))
        quiet = "warning" if used else "info"
        where = f"{self.system} {self.entity}.{name}"
        if not old["hidden"] and new["hidden"]:
            self.add(
                "field_hidden",
                quiet,
                name,
                f"{where} is now hidden: people no longer see it in the CRM's screens (the API still reads "
                "it; hiding often comes before archiving)",
                "hidden",
                "visible",
            )
        if old["type"] != new["type"] or old.get("field_type") != new.get("field_type"):
            fits = canonical_type(self.system, old["type"]) == canonical_type(self.system, new["type"])
            before = "/".join(str(t) for t in (old["type"], old.get("field_type")) if t)
            after = "/".join(str(t) for t in (new["type"], new.get("field_type")) if t)
            tail = "" if fits else ": its values no longer fit the column's type"
            self.add(
                "field_retyped",
                quiet if fits else ("error" if used else "info"),
                name,
                f"{where} changed type from {before} to {after}{tail}",
                after,
                before,
            )
        if old["length"] and new["length"] and old["length"] != new["length"]:
            shorter = new["length"] < old["length"]
            self.add(
                "length_changed",
                quiet if shorter else "info",
                name,
                f"{where} length changed from {old['length']} to {new['length']}"
                + (": longer values will be refused on save" if shorter else ""),
                new["length"],
                old["length"],
            )
        if old["required"] != new["required"]:
            self.add(
                "required_changed",
                quiet if new["required"] else "info",
                name,
                f"{where} is {'now' if new['required'] else 'no longer'} required on create",
                "required" if new["required"] else "optional",
                "optional" if new["required"] else "required",
            )
        if old["updateable"] and not new["updateable"]:
            self.add(
                "write_lost",
                quiet,
                name,
                f"{where} is no longer updateable by the integration user: fixes to it will be refused",
                "read-only",
                "updateable",
            )
        self.picklist(name, old["picklist"], new["picklist"])

    def picklist(self, name: str, old: list[str], new: list[str]) -> None:
        where = f"{self.system} {self.entity}.{name}"
        for value in [v for v in new if v not in old]:
            self.add(
                "picklist_value_added", "info", name, f"{where} gained the picklist value {value!r}", value
            )
        for value in [v for v in old if v not in new]:
            count = self.held(name, value) if self.held is not None else None
            holding = f"; {count:,} pulled record(s) hold it" if count else ""
            self.add(
                "picklist_value_removed",
                "warning" if count else "info",
                name,
                f"{where} lost the picklist value {value!r}{holding}",
                f"{count or 0:,} records" if count is not None else None,
                value,
            )


def diff_metadata(
    system: str,
    entity: str,
    before: ObjectMeta,
    after: ObjectMeta,
    uses: Uses | None = None,
    held: Held | None = None,
) -> list[MonitorFinding]:
    """The changes from ``before`` to ``after`` (one object's metadata, compact) as monitor findings,
    fields in name order: added, removed, then each kept field's changes. ``uses``: what of the tool
    reads each field (lower-cased names); ``held``: how many pulled records hold a picklist value."""
    diff = _Diff(system, entity, uses or {}, held)
    for name in sorted(set(after) - set(before), key=str.lower):
        diff.add(
            "field_added", "info", name, f"{system} {entity}.{name} was added ({full(after[name])['type']})"
        )
    for name in sorted(set(before) - set(after), key=str.lower):
        used = bool(diff.used(name))
        diff.add(
            "field_removed",
            "error" if used else "info",
            name,
            f"{system} {entity}.{name} is gone from the org's metadata (deleted, archived, or hidden from "
            "the integration user)" + (": its column is no longer pulled" if used else ""),
            "absent",
            full(before[name])["type"],
        )
    for name in sorted(set(before) & set(after), key=str.lower):
        diff.field(name, full(before[name]), full(after[name]))
    return diff.found


def watch_object(
    state: State,
    system: str,
    entity: str,
    now: ObjectMeta,
    uses: Uses | None = None,
    held: Held | None = None,
) -> list[MonitorFinding]:
    """Diff ``now`` against the version of (system, entity) the state keeps, then keep ``now`` (a new
    version only when it changed). The first time: a baseline, no findings."""
    kept = state.metadata(system, entity)
    found = [] if kept is None else diff_metadata(system, entity, kept[1], now, uses, held)
    state.keep_metadata(system, entity, now)
    return found


__all__ = ["KIND", "Held", "Uses", "diff_metadata", "watch_object"]
