"""Who survives a merge, and what it ends with: the master chosen by an ordering, each field by a rule.

The master (survivor) of a cluster is the first record by ``MergeRules.master``, a list of terms tried
in order (ties go to the next term, then the smaller id):

- ``has:FIELD``: records with FIELD set first (``has:linked_id``: the record the other CRM knows);
- ``max:FIELD`` / ``min:FIELD``: the largest / smallest FIELD first (``max:last_activity_date``);
- ``most_complete`` (most fields set), ``oldest`` (created first), ``most_recent`` (modified last).

Every other field the survivor ends with comes from a rule (``MergeRules.fields``, per entity):

- ``master``: the master's value, or when it has none the first record's (in master order) that has one;
- ``any_true``: true when any record is true (opt-outs, do-not-call: a merge never loses a refusal);
- ``most_recent`` / ``oldest`` / ``most_complete``: the value of the most recently modified / the
  oldest / the most complete record that has one;
- ``max`` / ``min``: the largest / smallest value (numbers and dates);
- ``concat``: every distinct value of a multi-value field (``;``-separated), the master's first;
- ``from:salesforce`` / ``from:hubspot``: the value the named CRM holds for these people (the linked
  record of a member, from cross-CRM matching); the master's when no member is linked.

Shipped defaults: ``any_true`` for every opt-out and do-not-call column (``email_opt_out``,
``do_not_call`` and any column named like them), ``concat`` for the secondary e-mails and domains, and
``master`` for the rest. In a CRM that keeps secondary values (HubSpot: ``hs_additional_emails`` for
contacts, ``hs_additional_domains`` for companies) the merged-away records' e-mails and domains are
added to them, so the duplicate is not created again from the same address; Salesforce has no standard
field for them, and the plan says so.

``survivor_values`` returns, per cluster, the fields whose value the survivor would change, each with
its value before, its rule and where it came from: what a merge action carries (``detail``), what the
plan shows and what applying writes.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

from crm_ops.errors import ConfigError
from crm_ops.schema.entities import CUSTOM_PREFIX, ENTITIES

STRATEGIES = ("master", "any_true", "most_recent", "oldest", "most_complete", "max", "min", "concat")
SYSTEMS = ("salesforce", "hubspot")
ORDERINGS = ("most_complete", "oldest", "most_recent")
DEFAULT_MASTER = ("has:linked_id", "most_complete", "oldest")
TERMS = "has:FIELD, max:FIELD, min:FIELD, " + ", ".join(ORDERINGS)
# columns a merge does not choose: identity, stamps, and the ids the integration keeps of the other CRM
NOT_CHOSEN = frozenset(
    {"id", "source_system", "is_deleted", "updated_at", "created_at", "linked_id", "linked_lead_id"}
)
# a secondary column and the primary one whose merged-away values it keeps
SECONDARY = {"additional_emails": "email", "additional_domains": "domain"}
SECONDARY_SYSTEMS = ("hubspot",)  # CRMs with standard secondary e-mail / domain fields
NO_SECONDARY = {
    "salesforce": "Salesforce has no standard secondary e-mail or domain field: the merged-away "
    "records' addresses stay only on them (in the recycle bin)",
}
_REFUSAL = re.compile(r"opt_?out|optout|do_?not_?(call|email|contact)|donot(call|email)|unsubscri", re.I)
_TRUE = ("true", "1", "yes", "y")
SEPARATOR = ";"


def default_rule(column: str) -> str:
    """The shipped rule of a column: ``any_true`` for refusals, ``concat`` for secondaries, else
    ``master``."""
    if _REFUSAL.search(column):
        return "any_true"
    if column in SECONDARY:
        return "concat"
    return "master"


def _valid_rule(rule: str) -> bool:
    if rule.startswith("from:"):
        return rule.removeprefix("from:") in SYSTEMS
    return rule in STRATEGIES


def _valid_term(term: str) -> bool:
    if term in ORDERINGS:
        return True
    kind, _, column = term.partition(":")
    return kind in ("has", "max", "min") and bool(column)


@dataclass(frozen=True)
class MergeRules:
    """How the master is chosen and each field decided, overall and per entity."""

    master: tuple[str, ...] = DEFAULT_MASTER
    fields: Mapping[str, str] = field(default_factory=dict)
    entity_master: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    entity_fields: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    secondary_systems: tuple[str, ...] = SECONDARY_SYSTEMS
    converted_status: str = "Closed - Converted"

    def master_for(self, entity: str) -> tuple[str, ...]:
        """The master ordering of ``entity``."""
        return tuple(self.entity_master.get(entity, self.master))

    def rule_for(self, entity: str, column: str) -> str:
        """The rule deciding ``column`` of ``entity``: the entity's, the profile's, the default."""
        own = self.entity_fields.get(entity, {}).get(column)
        return own or self.fields.get(column) or default_rule(column)

    @classmethod
    def from_profile(cls, raw: Mapping[str, Any], where: str) -> MergeRules:
        """From ``[profiles.P.match.merge]``: ``master`` (list of terms), ``fields`` (column -> rule),
        per entity (``Contact``, ``Account``) the same two, ``secondary`` (CRMs whose secondary e-mail
        and domain fields are kept) and ``converted_status`` (the lead status of a converted lead).
        Every bad key and value is named."""
        problems: list[str] = []
        entities = ("Contact", "Account", "Lead")
        known = {"master", "fields", "secondary", "converted_status", *entities}
        for key in sorted(set(raw) - known):
            problems.append(f"{where}.{key}: unknown setting; known: {', '.join(sorted(known))}")

        def master(value: Any, at: str, entity: str | None) -> tuple[str, ...]:
            if not isinstance(value, list) or not value or not all(isinstance(t, str) for t in value):
                problems.append(f"{at}: a non-empty list of terms ({TERMS})")
                return DEFAULT_MASTER
            for term in value:
                if not _valid_term(term):
                    problems.append(f"{at}: {term!r} is not a term ({TERMS})")
                elif ":" in term:
                    problems.extend(_unknown_columns([term.split(":", 1)[1]], at, entity))
            return tuple(value)

        def rules(value: Any, at: str, entity: str | None) -> dict[str, str]:
            if not isinstance(value, Mapping):
                problems.append(f"{at}: a table of column = rule")
                return {}
            out = {}
            for column, rule in value.items():
                if not isinstance(rule, str) or not _valid_rule(rule):
                    problems.append(
                        f"{at}.{column}: {rule!r} is not a rule ({', '.join(STRATEGIES)}, "
                        f"from:salesforce, from:hubspot)"
                    )
                    continue
                problems.extend(_unknown_columns([column], at, entity))
                problems.extend(_rule_fits(column, rule, f"{at}.{column}", entity))
                out[str(column)] = rule
            return out

        overall_master = master(raw["master"], f"{where}.master", None) if "master" in raw else DEFAULT_MASTER
        overall = rules(raw.get("fields", {}), f"{where}.fields", None)
        entity_master: dict[str, tuple[str, ...]] = {}
        entity_fields: dict[str, dict[str, str]] = {}
        for entity in entities:
            if entity not in raw:
                continue
            table = raw[entity]
            at = f"{where}.{entity}"
            if not isinstance(table, Mapping):
                problems.append(f"{at}: a table with master and fields")
                continue
            for key in sorted(set(table) - {"master", "fields"}):
                problems.append(f"{at}.{key}: unknown setting; known: fields, master")
            if "master" in table:
                entity_master[entity] = master(table["master"], f"{at}.master", entity)
            if "fields" in table:
                entity_fields[entity] = rules(table["fields"], f"{at}.fields", entity)
        secondary = raw.get("secondary", list(SECONDARY_SYSTEMS))
        if not isinstance(secondary, list) or any(s not in SYSTEMS for s in secondary):
            problems.append(f"{where}.secondary: a list of CRMs ({', '.join(SYSTEMS)}), got {secondary!r}")
            secondary = list(SECONDARY_SYSTEMS)
        status = raw.get("converted_status", "Closed - Converted")
        if not isinstance(status, str) or not status.strip():
            problems.append(f"{where}.converted_status: the name of a converted lead status")
            status = "Closed - Converted"
        if problems:
            raise ConfigError(problems)
        return cls(overall_master, overall, entity_master, entity_fields, tuple(secondary), status)


def _columns_of(entity: str | None) -> set[str]:
    if entity is not None:
        return set(ENTITIES.get(entity, {}))
    return set(ENTITIES["Contact"]) | set(ENTITIES["Account"]) | set(ENTITIES["Lead"])


def _unknown_columns(columns: Iterable[str], at: str, entity: str | None) -> list[str]:
    known = _columns_of(entity)
    return [
        f"{at}: {c!r} is not a column of {entity or 'Contact, Account or Lead'} (nor custom_*)"
        for c in columns
        if c not in known and not c.startswith(CUSTOM_PREFIX)
    ]


def _rule_fits(column: str, rule: str, at: str, entity: str | None) -> list[str]:
    """A rule that cannot work on the column's type (max of a name, concat of a number)."""
    if column.startswith(CUSTOM_PREFIX) or rule not in ("max", "min", "concat", "any_true"):
        return []
    types = {ENTITIES[e][column] for e in ("Contact", "Account", "Lead") if column in ENTITIES[e]}
    if entity is not None and column in ENTITIES.get(entity, {}):
        types = {ENTITIES[entity][column]}
    if rule in ("max", "min") and not all(t.is_numeric() or t.is_temporal() for t in types):
        return [f"{at}: {rule} needs a number or a date column"]
    if rule == "concat" and not all(t == pl.String() for t in types):
        return [f"{at}: concat needs a text column"]
    if rule == "any_true" and not all(t == pl.Boolean() for t in types):
        return [f"{at}: any_true needs a true/false column"]
    return []


# ---------------------------------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is str:  # most cells: the same as below, without the other types' tests
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value.isoformat() if isinstance(value, datetime | date) else value).strip()
    return text or None


def text(value: Any) -> str | None:
    """A value as text, the way a plan shows it and a rule judges it (None when empty)."""
    return _text(value)


def _items(value: Any) -> list[str]:
    """A multi-value cell's items (``;``-separated), trimmed, empty ones dropped."""
    text = _text(value)
    return [part.strip() for part in text.split(SEPARATOR) if part.strip()] if text else []


def truthy(value: Any) -> bool:
    """Whether a flag's value is true (a boolean, or text such as ``true``/``1``/``yes``)."""
    if isinstance(value, bool):
        return value
    text = _text(value)
    return text is not None and text.lower() in _TRUE


def fingerprint(row: Mapping[str, Any], columns: Sequence[str]) -> str:
    """A short hash of a record's matched fields: a remembered decision holds while it is unchanged."""
    values = [_text(row.get(c)) for c in columns]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()[:16]


# the characters ``str.strip`` takes off (``str.isspace``), for polars to strip the same
_PY_SPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())


def fingerprints(frame: pl.DataFrame, columns: Sequence[str]) -> list[str]:
    """``fingerprint`` of every row of ``frame``, its text columns trimmed and emptied in polars (as
    ``_text`` does a value at a time), the rest through ``_text``."""
    texts: list[list[str | None]] = []
    for column in columns:
        if column not in frame.columns:
            texts.append([None] * frame.height)
        elif frame.schema[column] == pl.String:
            trimmed = pl.col(column).str.strip_chars(_PY_SPACE)
            texts.append(frame.select(pl.when(trimmed != "").then(trimmed)).to_series().to_list())
        else:
            texts.append([_text(v) for v in frame.get_column(column).to_list()])
    return (
        [
            hashlib.sha256(json.dumps(list(values)).encode()).hexdigest()[:16]
            for values in zip(*texts, strict=True)
        ]
        if texts
        else [fingerprint({}, columns)] * frame.height
    )


def master_order(frame: pl.DataFrame, terms: Sequence[str]) -> tuple[list[pl.Expr], list[bool]]:
    """Sort keys (expressions, descending flags) that put the master first, by ``terms``."""
    keys: list[pl.Expr] = []
    descending: list[bool] = []
    for term in terms:
        if term == "most_complete":
            keys.append(pl.col("__complete"))
            descending.append(True)
        elif term == "oldest":
            keys.append(pl.col("created_at"))
            descending.append(False)
        elif term == "most_recent":
            keys.append(pl.col("updated_at"))
            descending.append(True)
        else:
            kind, _, column = term.partition(":")
            if column not in frame.columns:
                continue
            if kind == "has":
                keys.append(pl.col(column).is_not_null() & (pl.col(column).cast(pl.String) != ""))
                descending.append(True)
            else:
                keys.append(pl.col(column))
                descending.append(kind == "max")
    keys.append(pl.col("id"))
    descending.append(False)
    return keys, descending


def completeness(frame: pl.DataFrame) -> pl.Expr:
    """How many fields a record has set (stamps and identity not counted)."""
    cols = [c for c in frame.columns if c not in NOT_CHOSEN and not c.startswith("__")]
    return pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in cols])


@dataclass
class Cluster:
    """The members of one cluster, master first (in master order)."""

    survivor: str
    members: list[dict[str, Any]]  # rows, master order
    twins: dict[str, dict[str, Any]] = field(default_factory=dict)  # member id -> its twin's row


def rank_clusters(
    frame: pl.DataFrame, members: pl.DataFrame, terms: Sequence[str], first: Iterable[str] = ()
) -> pl.DataFrame:
    """``frame``'s rows in ``members`` (id, cluster_id), each with ``__rank`` (0: the master) and
    ``survivor``. Ids in ``first`` are ranked before everyone else (a lead's contact)."""
    data = frame.join(members, on="id").with_columns(
        completeness(frame).alias("__complete"), pl.col("id").is_in(list(first)).alias("__first")
    )
    keys, descending = master_order(data, terms)
    ranked = data.sort(
        ["cluster_id", pl.col("__first"), *keys], descending=[False, True, *descending], nulls_last=True
    )
    ranked = ranked.with_columns(pl.int_range(pl.len()).over("cluster_id").alias("__rank"))
    survivors = ranked.filter(pl.col("__rank") == 0).select("cluster_id", pl.col("id").alias("survivor"))
    return ranked.join(survivors, on="cluster_id")


def _pick(rule: str, rows: list[dict[str, Any]], column: str) -> dict[str, Any] | None:
    """The member whose value a single-source rule takes (None: none has one)."""
    if rule in ("master", "from:salesforce", "from:hubspot"):  # the first that has one
        return next((r for r in rows if _text(r.get(column)) is not None), None)
    having = [r for r in rows if _text(r.get(column)) is not None]
    if not having:
        return None
    if rule == "most_recent":
        return max(having, key=lambda r: (_stamp(r.get("updated_at")), -r["__rank"]))
    if rule == "oldest":
        return min(having, key=lambda r: (_stamp(r.get("created_at"), late=True), r["__rank"]))
    if rule == "most_complete":
        return max(having, key=lambda r: (r.get("__complete") or 0, -r["__rank"]))
    if rule == "max":
        return max(having, key=lambda r: (r[column], -r["__rank"]))
    if rule == "min":
        return min(having, key=lambda r: (r[column], r["__rank"]))
    raise ValueError(f"unknown rule {rule!r}")  # pragma: no cover - validated on load


def _stamp(value: Any, late: bool = False) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float("inf") if late else float("-inf")


def decide(
    cluster: Cluster,
    columns: Sequence[str],
    entity: str,
    system: str,
    rules: MergeRules,
    rule_of: Mapping[str, str] | None = None,
    todo: Sequence[str] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The survivor's changed fields (field, value, before, rule, from, and for ``concat`` the items
    each record brings) and notes for the reviewer. ``rule_of``: each column's rule, when the caller
    has looked them up once for many clusters (else ``rules.rule_for``). ``todo``: the columns to
    decide, in ``columns``' decision order, when the caller knows the others keep the master's value
    (``cluster_details``: a ``master`` rule's column the master has a value in)."""
    master = cluster.members[0]
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    finals: dict[str, Any] = {}
    keeps_secondary = system in rules.secondary_systems
    if rule_of is None:
        rule_of = {c: rules.rule_for(entity, c) for c in columns}
    ordered = decision_order(columns) if todo is None else todo
    own_rules = _own_rules(system)
    for column in ordered:
        rule = rule_of[column]
        before = master.get(column)
        entry: dict[str, Any] | None = None
        if column in SECONDARY and not keeps_secondary:
            continue
        if rule in own_rules and _text(before) is not None:
            continue  # ``_pick`` would choose the master itself: nothing changes
        if rule == "any_true":
            yes = [r["id"] for r in cluster.members if truthy(r.get(column))]
            if yes and not truthy(before):
                entry = {"value": True, "from": yes}
        elif rule == "concat":
            primary = SECONDARY.get(column) if keeps_secondary else None
            final_primary = _text(finals.get(primary, master.get(primary))) if primary else None
            seen = {i.lower() for i in _items(before)} | ({final_primary.lower()} if final_primary else set())
            parts: dict[str, list[str]] = {}
            own = _text(master.get(primary)) if primary else None
            if own is not None and own.lower() not in seen:  # the master's own address, replaced
                seen.add(own.lower())
                parts[master["id"]] = [own]
            for r in cluster.members[1:]:
                brought = [*([_text(r.get(primary))] if primary else []), *_items(r.get(column))]
                new = []
                for item in brought:
                    if item is not None and item.lower() not in seen:
                        seen.add(item.lower())
                        new.append(item)
                if new:
                    parts[r["id"]] = new
            if parts:
                value = SEPARATOR.join([*_items(before), *(i for p in parts.values() for i in p)])
                entry = {"value": value, "from": list(parts), "parts": parts}
        elif rule.startswith("from:"):
            named = rule.removeprefix("from:")
            if named != system:
                twins = [cluster.twins[r["id"]] for r in cluster.members if r["id"] in cluster.twins]
                chosen = _pick("master", twins, column)
                if chosen is not None:
                    entry = {"value": chosen.get(column), "from": [f"{named}:{chosen['id']}"]}
            if entry is None:
                chosen = _pick("master", cluster.members, column)
                if chosen is not None and chosen["id"] != master["id"]:
                    entry = {"value": chosen.get(column), "from": [chosen["id"]]}
        else:
            chosen = _pick(rule, cluster.members, column)
            if chosen is not None and chosen["id"] != master["id"]:
                entry = {"value": chosen.get(column), "from": [chosen["id"]]}
        if entry is not None and _text(entry["value"]) != _text(before):
            finals[column] = entry["value"]
            out.append(
                {"field": column, "before": _jsonable(before), "rule": rule, **entry,
                 "value": _jsonable(entry["value"])}
            )  # fmt: skip
    if not keeps_secondary and system in NO_SECONDARY:
        primaries = {SECONDARY[c] for c in SECONDARY if c in columns} or {"email", "domain"}
        lost = [
            r["id"]
            for r in cluster.members[1:]
            for p in primaries
            if _text(r.get(p)) and _text(r.get(p)) != _text(finals.get(p, master.get(p)))
        ]
        if lost:
            notes.append(NO_SECONDARY[system])
    return out, notes


def decision_order(columns: Sequence[str]) -> list[str]:
    """The order ``decide`` decides columns in: primaries before their secondaries."""
    return sorted(columns, key=lambda c: c in SECONDARY)


def _own_rules(system: str) -> tuple[str, str]:
    """The rules that keep the master's value when it has one (``_pick`` chooses the first that has)."""
    return ("master", f"from:{system}")


# a character Python's ``str.strip`` keeps (checked against every code point: ``\s`` is Unicode's
# White_Space, ``str.isspace`` also takes the four separators \x1c-\x1f)
_NOT_SPACE = r"[^\s\x1c-\x1f]"


def _lacking(frame: pl.DataFrame, columns: Sequence[str], flags: Collection[str] = ()) -> pl.Expr:
    """Per row, a bit per column of ``columns`` (at most 62) set where ``_text`` of its value is None,
    or, for the true/false columns of ``flags``, where it is not true (``truthy``)."""
    bits = []
    for bit, column in enumerate(columns):
        value = pl.col(column)
        if column in flags:
            has = value
        elif frame.schema[column] in (pl.String, pl.Categorical, pl.Enum):
            has = value.cast(pl.String).str.contains(_NOT_SPACE)
        else:  # numbers, dates, flags: text whenever set
            has = value.is_not_null()
        bits.append(pl.when(has.fill_null(False)).then(0).otherwise(1 << bit).cast(pl.Int64))
    return pl.sum_horizontal(bits) if bits else pl.lit(0, pl.Int64)


def chosen_columns(frame: pl.DataFrame) -> list[str]:
    """The columns a merge decides."""
    return [c for c in frame.columns if c not in NOT_CHOSEN and not c.startswith("__")]


def cluster_details(
    ranked: pl.DataFrame,
    columns: Sequence[str],
    entity: str,
    system: str,
    rules: MergeRules,
    matched: Sequence[str],
    twins: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per cluster id: the survivor, its changed values, notes and the members' fingerprints."""
    out: dict[str, dict[str, Any]] = {}
    wanted = {*columns, *matched, "id", "updated_at", "created_at", "__rank", "__complete", "cluster_id"}
    keep = [c for c in ranked.columns if c in wanted]
    rule_of = {c: rules.rule_for(entity, c) for c in columns}  # looked up once, not per cluster
    ordered = decision_order(columns)
    # the columns whose master's value stays unless the master has none (and the true/false columns
    # an ``any_true`` rule sets only when the master is not true): which of them each record lacks,
    # found for every record at once (a bit each), so ``decide`` skips the others
    flags = {c for c in ordered if rule_of[c] == "any_true" and ranked.schema.get(c) == pl.Boolean}
    own = [c for c in ordered if (rule_of[c] in _own_rules(system) or c in flags) and c in ranked.columns]
    own = own[:62]
    sorted_rows = ranked.sort("cluster_id", "__rank").select(keep)
    lacking = sorted_rows.select(_lacking(sorted_rows, own, flags)).to_series().to_list()
    prints = fingerprints(sorted_rows, matched)
    full = (1 << len(own)) - 1
    by_cluster: dict[str, list[dict[str, Any]]] = {}
    master_lacks: dict[str, int] = {}
    others_have: dict[str, int] = {}  # the columns some other member has a value in
    for row, lacks in zip(sorted_rows.iter_rows(named=True), lacking, strict=True):
        members = by_cluster.setdefault(row["cluster_id"], [])
        if not members:
            master_lacks[row["cluster_id"]] = lacks
            others_have[row["cluster_id"]] = 0
        else:
            others_have[row["cluster_id"]] |= full ^ lacks
        members.append(row)
    owned = {c: 1 << bit for bit, c in enumerate(own)}
    # the columns to decide: every other rule's, and those the master lacks and another member has
    todo_of: dict[int, list[str]] = {}
    twin_rows = twins or {}
    start = 0
    for cluster_id, rows in by_cluster.items():
        open_ = master_lacks[cluster_id] & others_have[cluster_id]
        todo = todo_of.get(open_)
        if todo is None:
            todo = todo_of[open_] = [c for c in ordered if c not in owned or open_ & owned[c]]
        linked = {r["id"]: twin_rows[r["id"]] for r in rows if r["id"] in twin_rows}
        cluster = Cluster(rows[0]["id"], rows, linked)
        values, notes = decide(cluster, columns, entity, system, rules, rule_of, todo)
        out[cluster_id] = {
            "survivor": cluster.survivor,
            "master": list(rules.master_for(entity)),
            "values": values,
            "notes": notes,
            "matched": list(matched),
            "fingerprints": {
                r["id"]: f for r, f in zip(rows, prints[start : start + len(rows)], strict=True)
            },
        }
        start += len(rows)
    return out


def describe_values(values: Sequence[Mapping[str, Any]]) -> str:
    """The survivor's values as one line for a person: ``field = value (rule, from id)``; ..."""
    parts = []
    for v in values:
        shown = _text(v.get("value"))
        source = ", ".join(str(x) for x in v.get("from") or [])
        shown = shown if shown is not None else "(empty)"
        parts.append(f"{v['field']} = {shown} ({v['rule']}, from {source})")
    return "; ".join(parts)


__all__ = [
    "DEFAULT_MASTER",
    "STRATEGIES",
    "MergeRules",
    "cluster_details",
    "default_rule",
    "describe_values",
    "fingerprint",
    "rank_clusters",
    "truthy",
]
