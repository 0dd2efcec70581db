"""The FixPlan format: a reviewable file of proposed changes, versioned.

``plan.jsonl``: the first line is the header, every other line one action::

    {"type": "header", "format": "crm_ops.fixplan", "version": 3, "plan_id": "...",
     "created_at": "...", "profile": "prod", "snapshots": {"salesforce.Contact": "<pull id>"},
     "rules": {"<file>": "<sha256>"}, "review": {"approve": ["tag:format"], "min_confidence": 0.95}}
    {"type": "action", "action_id": "...", "kind": "update", "system": "salesforce", "entity": "Contact",
     "record_id": "003...", "field": "email", "seen_value": " Ann@Acme.com", "proposed_value": "ann@acme.com",
     "rule": "person.email.normalised", "severity": "warning", "confidence": 0.99, "reason": "...",
     "label": "Ann Lee <ann@acme.com>", "account": "Acme", "url": "https://.../lightning/r/Contact/003.../view",
     "other_id": null, "other_label": null, "other_url": null, "approved": true, "review_reason": ""}

Kinds: ``update`` (set a field), ``merge`` (merge ``record_id`` into ``proposed_value``; ``seen_value``
is the record's ``updated_at`` at pull time; ``detail`` the survivor's values, their rules and sources,
notes and the records' fingerprints), ``convert`` (convert lead ``record_id`` into contact
``proposed_value``, ``detail`` as for a merge plus the account), ``associate`` (link ``record_id`` to
``proposed_value`` through ``field``: a lookup in Salesforce, an association in HubSpot), ``flag`` (for a
human; nothing is written). Undo plans also hold ``unmerge`` (bring back ``record_id``, merged into
``seen_value``; ``proposed_value`` is the journaled record, links and survivor values, JSON) and
``unconvert`` (put back contact ``seen_value``'s values; the lead stays converted).

For a person, each action also says what the record is (``label``: a person's name and e-mail, an
account's name and domain, an opportunity's name and amount; ``account``: the account of a contact or
opportunity, a lead's company), where it opens in its CRM (``url``), and the other record a merge, an
association, a drift sync or a lead flag involves (``other_id``, ``other_label``, ``other_url``: the
survivor, the account, the twin in the other CRM, the contact). ``approved`` is the default approval
(``crm_ops.plan.review``) and ``review_reason`` why a person has to decide (empty when approved).
Version 1 plans (without these fields and the header's ``review``) are still read; their ``approved``
is ``None``. Version 2 plans lack ``detail``.

``plan.csv`` holds the same actions for review in a spreadsheet: ``approve`` (yes/no, from the default
approval; blank on a merge or a conversion, a person's decision: ``no`` or ``not_duplicate`` there is
remembered) and ``review_reason`` first, then the labels, values (``survivor_values``: what a merge's
survivor ends with; ``explain``: why its records are said to match, each field's signed weight,
strongest first, ``crm_ops.explain.compact`` of the ``detail``'s ``explain``; read-only, not read back),
``picks`` (a merge's per-field picks, ``crm_ops.plan.picks``), links, who decided (``reviewed_by``,
``reviewed_at``: blank until a person or the review app fills them), the ``action_id`` and the
``plan_id``; applying with ``--review`` honours ``approve`` under the contract of
``crm_ops.plan.reviewfile`` (rows held to their plan). A merge row shows the duplicate's label as its
seen value and the survivor's as its proposed value (``plan.jsonl`` keeps the time and the id applying
checks). ``seen_value`` is the value at pull time: applying re-reads the record and skips it as a
conflict when the CRM no longer holds that value. ``crm_ops.csvio`` writes and reads it: values a
spreadsheet would run as formulas are neutralised, a value with a line break (a lone CR too) stays in
its row, Excel's files (BOM, ``;``) are read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from crm_ops.errors import ConfigError
from crm_ops.explain import compact

FORMAT = "crm_ops.fixplan"
VERSION = 3
READABLE = (1, 2, 3)  # versions read_plan accepts
KINDS = ("update", "merge", "convert", "associate", "flag", "unmerge", "unconvert")
DECIDED_BY_PERSON = ("merge", "convert")  # rows whose approve starts blank: yes, no (remembered) or blank
ACTION_FIELDS = (
    "action_id", "kind", "system", "entity", "record_id", "field", "seen_value", "proposed_value",
    "rule", "severity", "confidence", "reason",
    "label", "account", "url", "other_id", "other_label", "other_url", "approved", "review_reason", "detail",
)  # fmt: skip
CSV_FIELDS = (
    "approve", "review_reason", "kind", "system", "entity", "record_id", "label", "account", "field",
    "seen_value", "proposed_value", "survivor_values", "picks", "explain", "other_id", "other_label",
    "confidence", "rule", "severity", "reason", "url", "other_url", "reviewed_by", "reviewed_at", "action_id",
    "plan_id",
)  # fmt: skip
PLAN_ID = "plan_id"  # the review file's column holding the plan's id on every row (``plan.reviewfile``)


@dataclass(frozen=True)
class Action:
    """One proposed change."""

    kind: str
    system: str
    entity: str
    record_id: str
    field: str | None
    seen_value: str | None
    proposed_value: str | None
    rule: str
    severity: str
    confidence: float | None
    reason: str
    action_id: str = ""
    label: str | None = None
    account: str | None = None
    url: str | None = None
    other_id: str | None = None
    other_label: str | None = None
    other_url: str | None = None
    approved: bool | None = None
    review_reason: str = ""
    # a merge's or conversion's survivor: the values it ends with and where each comes from, notes, the
    # fingerprints of the records' matched fields (``crm_ops.match.merges``)
    detail: dict[str, Any] | None = None

    def replace(self, **changes: Any) -> Action:
        """The same action with ``changes`` (its ``detail`` shared, not copied: actions are not changed
        in place, and a plan of a million actions would copy every merge's detail at each step)."""
        return dataclasses.replace(self, **changes)

    def with_id(self) -> Action:
        """The same action with its stable id (same change, same id, whatever plan it is in)."""
        key = "\x1f".join(str(x) for x in (self.kind, self.system, self.entity, self.record_id, self.field,
                                            self.proposed_value, self.rule))  # fmt: skip
        return dataclasses.replace(
            self, action_id=hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        )

    def as_dict(self) -> dict[str, Any]:
        """The action's fields as a dict (shallow: what ``asdict`` gives for these plain values, without
        copying ``detail``)."""
        return {f: getattr(self, f) for f in _ACTION_FIELD_NAMES}


_ACTION_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Action))


@dataclass(frozen=True)
class Header:
    """What a plan was made from."""

    plan_id: str
    created_at: str
    profile: str
    snapshots: dict[str, str] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)
    review: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT
    version: int = VERSION


ACTION_SCHEMA: dict[str, pl.DataType] = {
    **{f: pl.String() for f in ACTION_FIELDS},
    "confidence": pl.Float64(),
    "approved": pl.Boolean(),
}  # a plan's actions as a frame: ``detail`` as JSON text (keys sorted)
SHOWN = ("survivor_values", "explain")  # what the review file shows of a merge's detail, beside it


class Plan:
    """A header and its actions, held as ``Action`` objects, as a frame (``table``: a row an action, in
    ``ACTION_SCHEMA``, beside the review file's ``SHOWN`` columns) or both: each is made from the other
    the first time it is asked for. ``build_plan`` makes the frame, and a nightly run writes its files
    from it without one Python object per action."""

    __slots__ = ("_actions", "_built_as_table", "_table", "header")

    def __init__(
        self, header: Header, actions: Iterable[Action] | None = None, *, table: pl.DataFrame | None = None
    ) -> None:
        if (actions is None) == (table is None):
            raise ValueError("a plan is made of its actions or of their table, one of them")
        self.header = header
        self._actions = tuple(actions) if actions is not None else None
        self._table = table.select([*ACTION_SCHEMA, *SHOWN]) if table is not None else None
        self._built_as_table = table is not None

    @property
    def actions(self) -> tuple[Action, ...]:
        """The actions, best first (made from the table the first time)."""
        if self._actions is None:
            assert self._table is not None
            self._actions = tuple(Action(**row) for row in table_rows(self._table))
        return self._actions

    def rows(self, detail: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The actions as dicts (``Action.as_dict``), made from the table without an ``Action`` each;
        ``detail``: the keys of each detail wanted (read by polars: a merge's detail is long, and the run
        report reads only its ``explain``), all of it when None."""
        if self._actions is not None or detail is None:
            return (
                [a.as_dict() for a in self._actions] if self._actions is not None else table_rows(self.table)
            )
        wanted = pl.Struct(dict.fromkeys(detail, pl.String()))
        try:
            parts = self.table.select(pl.col("detail").str.json_decode(wanted))["detail"].to_list()
        except pl.exceptions.PolarsError:  # a key that is not text: read each detail whole
            return [{**row, "detail": _keys(row["detail"], detail)} for row in table_rows(self.table)]
        rows = self.table.select([f for f in ACTION_FIELDS if f != "detail"]).to_dicts()
        for row, part in zip(rows, parts, strict=True):
            row["detail"] = part
        return rows

    def where(self, condition: pl.Expr) -> list[Action]:
        """The actions of the table's rows meeting ``condition``: only those become ``Action`` objects."""
        if self._actions is not None:
            picked = self.table.with_row_index("i").filter(condition)["i"].to_list()
            return [self._actions[i] for i in picked]
        return [Action(**row) for row in table_rows(self.table.filter(condition))]

    @property
    def table(self) -> pl.DataFrame:
        """The actions as a frame (``ACTION_SCHEMA`` and ``SHOWN``; made from the actions the first time)."""
        if self._table is None:
            assert self._actions is not None
            self._table = actions_table(self._actions)
        return self._table

    @property
    def framed(self) -> bool:
        """Whether the plan was made as a table (``build_plan``), not of ``Action`` objects."""
        return self._built_as_table

    def __len__(self) -> int:
        return self._table.height if self._table is not None else len(self.actions)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Plan):
            return NotImplemented
        return self.header == other.header and self.actions == other.actions

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Plan({self.header!r}, {len(self):,} actions)"


def _keys(detail: Mapping[str, Any] | None, keys: Sequence[str]) -> dict[str, Any] | None:
    return None if detail is None else {k: detail.get(k) for k in keys}


def table_rows(table: pl.DataFrame) -> list[dict[str, Any]]:
    """The rows of a plan's table as ``Action`` fields (its ``detail`` read from JSON)."""
    rows = table.select(ACTION_FIELDS).to_dicts()
    for row in rows:
        if row["detail"] is not None:
            row["detail"] = json.loads(row["detail"])
    return rows


def actions_table(actions: Iterable[Action]) -> pl.DataFrame:
    """``actions`` as a plan's table (``ACTION_SCHEMA`` and ``SHOWN``)."""
    rows = []
    for a in actions:
        row = a.as_dict()
        row["detail"] = json.dumps(a.detail, sort_keys=True) if a.detail is not None else None
        row["survivor_values"], row["explain"] = detail_survivor(a.detail), detail_explain(a.detail)
        rows.append(row)
    return pl.DataFrame(rows, schema={**ACTION_SCHEMA, **dict.fromkeys(SHOWN, pl.String())}, orient="row")


def new_plan_id(now: datetime | None = None) -> str:
    """A sortable plan id: the time, then a random suffix."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{os.urandom(3).hex()}"


def rule_versions(paths: Iterable[Path]) -> dict[str, str]:
    """A content hash of each rule file, so a plan says which rule set versions made it."""
    out = {}
    for path in sorted(paths):
        if path.is_file():
            out[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return out


def csv_row(action: Action) -> dict[str, Any]:
    """An action as a review row: ``approve`` yes/no (blank when the plan does not say, and on a merge
    or a conversion not approved: a person's decision, where ``no`` is remembered), a merge's seen and
    proposed values as the two records' labels, the survivor's values after it."""
    values = action.as_dict()
    values["approve"] = {True: "yes", False: "no", None: ""}[action.approved]
    if action.kind in DECIDED_BY_PERSON and action.approved is False:
        values["approve"] = ""
    if action.kind in ("merge", "convert"):
        values["seen_value"] = action.label or action.record_id
        values["proposed_value"] = action.other_label or action.proposed_value
    values["survivor_values"] = survivor_text(action)
    values["explain"] = explain_text(action)
    values["picks"] = values["reviewed_by"] = values["reviewed_at"] = ""  # a person's (review file)
    return values


def explain_text(action: Action) -> str:
    """Why a merge's or conversion's records match, in one line (``crm_ops.explain.compact`` of its
    ``detail``'s ``explain``); empty without one, said when it does not read (a findings file edited)."""
    return detail_explain(action.detail)


def detail_explain(detail: Mapping[str, Any] | None) -> str:
    """``explain_text`` of a merge's or conversion's ``detail``."""
    try:
        return compact((detail or {}).get("explain"))
    except ValueError as exc:
        return f"(unreadable: {exc})"


def survivor_text(action: Action) -> str:
    """A merge's or conversion's survivor values and notes, one line: ``field = value (rule, from id)``."""
    return detail_survivor(action.detail)


def detail_survivor(detail: Mapping[str, Any] | None) -> str:
    """``survivor_text`` of a merge's or conversion's ``detail``."""
    detail = detail or {}
    parts = []
    for v in detail.get("values") or []:
        value = v.get("value")
        shown = (
            "(empty)"
            if value is None
            else ("true" if value is True else "false" if value is False else value)
        )
        parts.append(
            f"{v.get('field')} = {shown} ({v.get('rule')}, from {', '.join(map(str, v.get('from') or []))})"
        )
    parts += [str(n) for n in detail.get("notes") or []]
    return "; ".join(parts)


def read_plan(path: Path) -> Plan:
    """Read ``plan.jsonl``; a malformed line is an error naming the file and line."""
    problems: list[str] = []
    header: Header | None = None
    actions: list[Action] = []
    try:
        raw_lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the plan: {exc.strerror}") from None
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            byte = raw[exc.start]
            problems.append(f"{path}:{number}: column {exc.start + 1}: not UTF-8 (byte 0x{byte:02X})")
            continue
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{number}: column {exc.colno}: not JSON ({exc.msg})")
            continue
        if not isinstance(data, dict):
            problems.append(f"{path}:{number}: expected a JSON object, got a {type(data).__name__}")
            continue
        kind = data.pop("type", None)
        try:
            if kind == "header":
                if data.get("format") != FORMAT or data.get("version") not in READABLE:
                    versions = ", ".join(map(str, READABLE[:-1])) + f" or {READABLE[-1]}"
                    problems.append(f"{path}:{number}: not a {FORMAT} version {versions} plan")
                    continue
                header = Header(**data)
            elif kind == "action":
                wrong = _wrong_types(data)
                if wrong:
                    problems += [f"{path}:{number}: {w}" for w in wrong]
                    continue
                action = Action(**data)
                if action.kind not in KINDS:
                    problems.append(f"{path}:{number}: unknown action kind {action.kind!r}")
                    continue
                actions.append(action)
            else:
                problems.append(f"{path}:{number}: each line is a header or an action")
        except TypeError as exc:
            problems.append(f"{path}:{number}: {exc}")
    if header is None:
        problems.append(f"{path}:1: the plan has no header line")
    if problems:
        raise ConfigError(problems)
    assert header is not None
    return Plan(header, tuple(actions))


_TEXT = ("kind", "system", "entity", "record_id", "rule", "severity", "reason", "action_id", "review_reason")
_OPTIONAL_TEXT = ("field", "seen_value", "proposed_value", "label", "account", "url", "other_id",
                  "other_label", "other_url")  # fmt: skip


def _wrong_types(data: Mapping[str, Any]) -> list[str]:
    """The fields of an action line that are not of their type (``confidence: "high"``...)."""
    out = []
    for key in _TEXT:
        if key in data and not isinstance(data[key], str):
            out.append(f"{key}: expected text, got {data[key]!r}")
    for key in _OPTIONAL_TEXT:
        if data.get(key) is not None and not isinstance(data[key], str):
            out.append(f"{key}: expected text or null, got {data[key]!r}")
    confidence = data.get("confidence")
    if confidence is not None and (
        isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 1
    ):
        out.append(f"confidence: expected a number from 0 to 1 or null, got {confidence!r}")
    if data.get("approved") is not None and not isinstance(data["approved"], bool):
        out.append(f"approved: expected true, false or null, got {data['approved']!r}")
    if data.get("detail") is not None and not isinstance(data["detail"], dict):
        out.append(f"detail: expected an object or null, got a {type(data['detail']).__name__}")
    return out


def select_actions(
    plan: Plan,
    *,
    approvals: Mapping[str, bool] | None = None,
    rules: Iterable[str] = (),
    severities: Iterable[str] = (),
    min_confidence: float | None = None,
    entities: Iterable[str] = (),
    systems: Iterable[str] = (),
) -> list[Action]:
    """The actions to apply: approved in the review file, then filtered by rule, severity, confidence,
    object and system (empty filters keep everything)."""
    rules, severities, entities, systems = set(rules), set(severities), set(entities), set(systems)
    chosen = []
    for a in plan.actions:
        if approvals is not None and not approvals.get(a.action_id, False):
            continue
        if rules and a.rule not in rules:
            continue
        if severities and a.severity not in severities:
            continue
        if min_confidence is not None and (a.confidence or 0.0) < min_confidence:
            continue
        if entities and a.entity not in entities:
            continue
        if systems and a.system not in systems:
            continue
        chosen.append(a)
    return chosen
