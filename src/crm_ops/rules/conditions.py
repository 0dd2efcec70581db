"""Conditions of YAML rules (``when:``): which rows a rule judges, compiled to polars expressions.

A rule with ``when:`` judges only the rows its condition holds for; every other row passes. The
condition is one test or a list of tests (all must hold). A test is either the shorthand
``{tier: Tier 1}`` (each key a column of the judged entity: a value means ``=``, a list ``in``, null
``is_null``) or the full form ``{field: amount, op: ">", value: 1000000}``, whose operand is one of:

- ``field``: a column of the judged entity (a canonical column, or ``custom_<name>``);
- ``ref: {via: account_id, entity: Account, field: tier}``: a column of the parent record the row's
  ``via`` column points at (same CRM; a deleted or missing parent gives null);
- ``children: {entity: Opportunity, via: account_id, agg: count, field: amount, when: ...}``: an
  aggregate (``count``, ``sum``, ``min``, ``max``, ``mean``) over the live child records whose ``via``
  column is the row's id, optionally only those matching the child's own ``when`` (its own columns only).
  A row without children counts 0 and sums 0; its min, max and mean are null.

The ``value`` of ``=``, ``!=``, ``>``, ``>=``, ``<`` and ``<=`` may itself be an operand of the row, in
the same forms: ``{children: {entity: LineItem, via: opportunity_id, agg: sum, field: total_price}, op:
"=", value: {field: amount}}`` compares an aggregate with the row's own column. Numbers compared by ``=``
or ``!=`` may take ``within: 0.01``: equal when they differ by no more than that (money rounded to the
cent, say).

A null value matches only ``is_null``, ``!=`` and ``not_in`` (a missing value equals nothing), so a
condition never judges a row by accident; a comparison with a null operand is the same. Every mistake
(an unknown op, field or entity, a value of the wrong type for its column, a malformed regular
expression, a tolerance on a text) is a problem naming the ``when`` key; the loader reports it as a
rule error. Nothing here is evaluated as code: each test becomes a polars
expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from crm_ops.rules.library.registry import proposals
from crm_ops.rules.names import nearest
from crm_ops.schema.entities import CUSTOM_PREFIX, SOURCE_ENTITIES, columns, entity_names, is_entity
from crm_ops.schema.entities import live as live_records

if TYPE_CHECKING:
    from crm_ops.rules.model import Rule, RuleContext

# The operators of a test, with what each takes (docs/reference/checks.md is generated from this).
OP_HELP = {
    "=": "a value: the value equals it",
    "!=": "a value: the value differs from it (an empty value differs from everything)",
    ">": "a number or date: the value is greater",
    ">=": "a number or date: the value is greater or equal",
    "<": "a number or date: the value is smaller",
    "<=": "a number or date: the value is smaller or equal",
    "in": "a list: the value is one of them",
    "not_in": "a list: the value is none of them (an empty value is none of them)",
    "is_null": "nothing: the value is empty",
    "not_null": "nothing: the value is not empty",
    "contains": "a text: the value contains it (case matters)",
    "matches": "a regular expression: the value contains a match",
}
OPS = tuple(OP_HELP)
ORDERING = (">", ">=", "<", "<=")
NO_VALUE = ("is_null", "not_null")
TEXT_OPS = ("contains", "matches")
# The keys of the full form, of ``ref`` and of ``children``.
TEST_KEYS = ("field", "ref", "children", "op", "value", "within")
OPERAND_KEYS = ("field", "ref", "children")
COMPARISONS = ("=", "!=", *ORDERING)
REF_KEYS = ("via", "entity", "field")
CHILDREN_KEYS = ("entity", "via", "agg", "field", "when")
AGGS = ("count", "sum", "min", "max", "mean")


@dataclass(frozen=True)
class Operand:
    """What a test looks at: a column of the row, of its parent, or an aggregate of its children."""

    kind: str  # "field", "ref" or "children"
    column: str  # the row's column (field), the parent's column (ref) or the children's (children)
    dtype: pl.DataType
    entity: str = ""  # ref, children: the other entity
    via: str = ""  # ref: the row's column holding the parent id; children: the child's column
    agg: str = ""  # children
    child_when: Condition | None = None  # children: which children count

    def expr(self, frame: pl.DataFrame, ctx: RuleContext) -> pl.Expr:
        """The operand's value for each row of ``frame`` (the judged entity's live rows)."""
        if self.kind == "field":
            return _column(frame, self.column, self.dtype)
        if self.kind == "ref":
            parents = live_records(ctx.frame(self.entity))
            if self.column not in parents.columns or "id" not in parents.columns:
                return pl.lit(None, self.dtype)
            # the parent's own id (does the record exist?) is a column like any other
            keys = parents.select("id", pl.col(self.column).alias("__v")).unique("id", keep="first")
            return _column(frame, self.via, pl.String()).replace_strict(
                keys["id"], keys["__v"].cast(self.dtype), default=None, return_dtype=self.dtype
            )
        children = live_records(ctx.frame(self.entity))
        if self.via not in children.columns:
            return pl.lit(0 if self.agg == "count" else None, self.dtype)
        if self.child_when is not None:
            children = children.filter(self.child_when.expr(children, ctx))
        value = (
            pl.len()
            if self.agg == "count"
            else getattr(_column(children, self.column, self.dtype), self.agg)()
        )
        per_parent = (
            children.filter(pl.col(self.via).is_not_null())
            .group_by(self.via)
            .agg(value.cast(self.dtype).alias("__v"))
        )
        empty = 0 if self.agg in ("count", "sum") else None
        return pl.col("id").replace_strict(
            per_parent[self.via], per_parent["__v"], default=empty, return_dtype=self.dtype
        )

    def reads_others(self) -> bool:
        """Whether the operand reads records other than the row's own."""
        return self.kind != "field"

    def __str__(self) -> str:
        if self.kind == "field":
            return self.column
        if self.kind == "ref":
            return f"{self.entity}.{self.column} (via {self.via})"
        shown = f"{self.agg} of {self.entity}{'.' + self.column if self.column else ''} (via {self.via}"
        return shown + (f", where {self.child_when})" if self.child_when else ")")


@dataclass(frozen=True)
class Test:
    """One test of a condition: an operand, an operator and its value (already of the operand's type)."""

    operand: Operand
    op: str
    value: Any = None
    other: Operand | None = None  # a value that is an operand of the row (``value: {field: amount}``)
    within: float | None = None  # =, != on numbers: equal when no further apart than this

    def expr(self, frame: pl.DataFrame, ctx: RuleContext) -> pl.Expr:
        """True where the test holds (never null: a null value holds only for is_null, != and not_in)."""
        x = self.operand.expr(frame, ctx)
        v = self.value
        if self.other is not None or self.within is not None:
            y = self.other.expr(frame, ctx) if self.other is not None else pl.lit(v, self.operand.dtype)
            return _compare(x, y, self.op, self.within)
        if self.op == "is_null":
            return x.is_null()
        if self.op == "not_null":
            return x.is_not_null()
        if self.op in ("in", "not_in"):
            member = x.is_in(pl.Series(v, dtype=self.operand.dtype).implode())
            return member.fill_null(False) if self.op == "in" else (~member).fill_null(True)
        if self.op == "contains":
            return x.str.contains(str(v), literal=True).fill_null(False)
        if self.op == "matches":
            return x.str.contains(str(v)).fill_null(False)
        return _compare(x, pl.lit(v, self.operand.dtype), self.op, None)

    def reads_others(self) -> bool:
        """Whether the test reads records beyond the row (in its operand or its value)."""
        return self.operand.reads_others() or (self.other is not None and self.other.reads_others())

    def __str__(self) -> str:
        if self.op in NO_VALUE:
            return f"{self.operand} {self.op}"
        near = f" within {self.within:g}" if self.within is not None else ""
        if self.other is not None:
            return f"{self.operand} {self.op} {self.other}{near}"
        shown = ", ".join(map(str, self.value)) if isinstance(self.value, list) else self.value
        return (
            f"{self.operand} {self.op} {'[' + shown + ']' if isinstance(self.value, list) else shown}{near}"
        )


@dataclass(frozen=True)
class Condition:
    """A rule's ``when:``: tests that must all hold for a row to be judged."""

    tests: tuple[Test, ...]

    def expr(self, frame: pl.DataFrame, ctx: RuleContext) -> pl.Expr:
        """True where the rule judges the row."""
        out = pl.lit(True)
        for t in self.tests:
            out = out & t.expr(frame, ctx)
        return out

    def reads_others(self) -> bool:
        """Whether any test reads records beyond the row (a parent's value, a children aggregate)."""
        return any(t.reads_others() for t in self.tests)

    def __str__(self) -> str:
        return " and ".join(map(str, self.tests))


def _compare(x: pl.Expr, y: pl.Expr, op: str, within: float | None) -> pl.Expr:
    """``x op y`` for each row, never null (a null side holds only for ``!=``); ``within``: = and != with
    a tolerance."""
    if within is not None:
        close = (x - y).abs() <= within
        return close.fill_null(False) if op == "=" else (~close).fill_null(True)
    compared = {"=": x == y, "!=": x != y, ">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[op]
    return compared.fill_null(op == "!=")


def _column(frame: pl.DataFrame, column: str, dtype: pl.DataType) -> pl.Expr:
    """The column, or null of its type when the frame lacks it (a custom field the pull did not bring)."""
    return pl.col(column) if column in frame.columns else pl.lit(None, dtype)


def _dtype(entity: str, column: str) -> pl.DataType | None:
    if column.startswith(CUSTOM_PREFIX):
        return pl.String()
    return columns(entity).get(column)


def no_such_field(entity: str, column: object) -> str:
    """The problem of a field ``entity`` lacks: the nearest name, and every field it has."""
    known = columns(entity)
    guess = nearest(str(column), known)
    return (
        f"{entity} has no field {column!r}"
        + (f" (did you mean {guess!r}?)" if guess else "")
        + f"; its fields: {', '.join(known)} (or {CUSTOM_PREFIX}<name> for a custom field)"
    )


def _field_type(entities: Sequence[str], column: Any, where: str) -> tuple[pl.DataType | None, list[str]]:
    """The type of ``column`` in every one of ``entities`` (they must agree), or the problems."""
    if not isinstance(column, str) or not column:
        return None, [f"{where}: a field name, got {column!r}"]
    types: list[pl.DataType] = []
    for e in entities:
        found = _dtype(e, column)
        if found is None:
            return None, [f"{where}: {no_such_field(e, column)}"]
        types.append(found)
    if any(t != types[0] for t in types):
        return None, [f"{where}: {column!r} has different types in {', '.join(entities)}"]
    return types[0], []


def _entity(raw: Any, where: str) -> tuple[str | None, list[str]]:
    # the CRMs' entities, core or declared by a map (read when the rule loads: maps are declared first)
    crm = [e for e in entity_names() if e not in SOURCE_ENTITIES]
    if not isinstance(raw, str) or not is_entity(raw) or raw in SOURCE_ENTITIES:
        return None, [f"{where}: entity must be one of {', '.join(crm)}, got {raw!r}"]
    return str(raw), []


def _mapping(raw: Any, keys: Sequence[str], where: str) -> list[str]:
    if not isinstance(raw, dict):
        return [f"{where}: a mapping of {', '.join(keys)}, got {raw!r}"]
    unknown = sorted(set(map(str, raw)) - set(keys))
    return [f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(keys)}"] if unknown else []


def _ref(raw: Any, entities: Sequence[str], where: str) -> tuple[Operand | None, list[str]]:
    problems = _mapping(raw, REF_KEYS, where)
    if problems:
        return None, problems
    missing = [k for k in REF_KEYS if k not in raw]
    if missing:
        return None, [f"{where}: needs {', '.join(REF_KEYS)} (missing {', '.join(missing)})"]
    via_type, problems = _field_type(entities, raw["via"], f"{where} via")
    if problems:
        return None, problems
    if via_type != pl.String():
        return None, [f"{where} via: {raw['via']!r} is not a column holding a record id"]
    parent, problems = _entity(raw["entity"], f"{where} entity")
    if parent is None:
        return None, problems
    dtype, problems = _field_type([parent], raw["field"], f"{where} field")
    if dtype is None:
        return None, problems
    return Operand("ref", str(raw["field"]), dtype, entity=parent, via=str(raw["via"])), []


def _children(raw: Any, where: str) -> tuple[Operand | None, list[str]]:
    problems = _mapping(raw, CHILDREN_KEYS, where)
    if problems:
        return None, problems
    missing = [k for k in ("entity", "via") if k not in raw]
    if missing:
        return None, [f"{where}: needs entity and via (missing {', '.join(missing)})"]
    child, problems = _entity(raw["entity"], f"{where} entity")
    if child is None:
        return None, problems
    via_type, problems = _field_type([child], raw["via"], f"{where} via")
    if problems:
        return None, problems
    if via_type != pl.String():
        return None, [f"{where} via: {raw['via']!r} is not a column holding a record id"]
    agg = raw.get("agg", "count")
    if agg not in AGGS:
        return None, [f"{where} agg: must be one of {', '.join(AGGS)}, got {agg!r}"]
    column, dtype = "", cast(pl.DataType, pl.Int64())
    if agg != "count":
        if "field" not in raw:
            return None, [f"{where}: agg {agg} needs the child's field"]
        found, problems = _field_type([child], raw["field"], f"{where} field")
        if found is None:
            return None, problems
        if agg in ("sum", "mean") and not found.is_numeric():
            return None, [f"{where} field: {agg} needs a number column; {raw['field']!r} is {found}"]
        if not (found.is_numeric() or found.is_temporal()):
            return None, [f"{where} field: {agg} needs a number or date column; {raw['field']!r} is {found}"]
        column, dtype = str(raw["field"]), (pl.Float64() if agg in ("sum", "mean") else found)
    elif "field" in raw:
        return None, [f"{where} field: count counts records; it takes no field"]
    child_when = None
    if raw.get("when") is not None:
        child_when, problems = parse_condition(raw["when"], [child], where=f"{where} when", nested=False)
        if child_when is None:
            return None, problems
    return Operand(
        "children", column, dtype, entity=child, via=str(raw["via"]), agg=agg, child_when=child_when
    ), []


def _typed(value: Any, dtype: pl.DataType, where: str) -> tuple[Any, str | None]:
    """``value`` as a value of ``dtype`` (a date from its ISO text...), or the problem."""
    wrong = f"{where}: {value!r} is not a {{}}, the type of the field"
    if dtype == pl.Boolean():
        return (value, None) if isinstance(value, bool) else (None, wrong.format("true or false"))
    if dtype.is_numeric():
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return (value, None) if ok else (None, wrong.format("number"))
    if dtype == pl.Date():
        if isinstance(value, datetime):
            return value.date(), None
        if isinstance(value, date):
            return value, None
        try:
            return date.fromisoformat(str(value)), None
        except ValueError:
            return None, wrong.format("date (2024-12-31)")
    if isinstance(dtype, pl.Datetime):
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)), None
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC), None
        try:
            found = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None, wrong.format("date or time (2024-12-31 or 2024-12-31T09:00:00Z)")
        return (found if found.tzinfo else found.replace(tzinfo=UTC)), None
    if isinstance(value, str):
        return value, None
    return None, wrong.format("text (put it in quotes)")


def _test(
    operand: Operand,
    op: Any,
    raw: Mapping[str, Any],
    where: str,
    entities: Sequence[str] = (),
    nested: bool = True,
) -> tuple[Test | None, list[str]]:
    if op not in OPS:
        return None, [f"{where} op: unknown op {op!r}; known: {', '.join(OPS)}"]
    test, problems = _plain_test(operand, op, raw, where, entities, nested)
    if test is None or raw.get("within") is None:
        return test, problems
    within = raw["within"]
    if op not in ("=", "!="):
        return None, [f"{where} within: only = and != take a tolerance; op is {op}"]
    if not operand.dtype.is_numeric():
        return None, [f"{where} within: a tolerance needs a number field; {operand} is {operand.dtype}"]
    if not isinstance(within, int | float) or isinstance(within, bool) or within < 0:
        return None, [f"{where} within: a number 0 or more (0.01: a cent), got {within!r}"]
    return Test(test.operand, test.op, test.value, test.other, float(within)), []


def _plain_test(
    operand: Operand, op: str, raw: Mapping[str, Any], where: str, entities: Sequence[str], nested: bool
) -> tuple[Test | None, list[str]]:
    dtype = operand.dtype
    if op in NO_VALUE:
        if raw.get("value") is not None:
            return None, [f"{where}: {op} takes no value"]
        return Test(operand, op), []
    if "value" not in raw or raw["value"] is None:
        hint = " (to test for an empty value: op: is_null)" if op in ("=", "!=") else ""
        return None, [f"{where}: op {op} needs a value{hint}"]
    value = raw["value"]
    if isinstance(value, dict):
        return _operand_test(operand, op, value, f"{where} value", entities, nested)
    if op in TEXT_OPS:
        if dtype != pl.String():
            return None, [f"{where}: {op} needs a text field; {operand} is {dtype}"]
        if not isinstance(value, str):
            return None, [f"{where} value: {op} takes a text, got {value!r}"]
        if op == "matches":
            try:
                re.compile(value)
            except re.error as exc:
                return None, [f"{where} value: not a regular expression: {exc}"]
        return Test(operand, op, value), []
    if op in ORDERING and not (dtype.is_numeric() or dtype.is_temporal()):
        return None, [f"{where}: {op} needs a number or date field; {operand} is {dtype}"]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return None, [f"{where} value: {op} takes a list of values"]
        typed = []
        for item in value:
            found, problem = _typed(item, dtype, f"{where} value")
            if problem:
                return None, [problem]
            typed.append(found)
        return Test(operand, op, typed), []
    found, problem = _typed(value, dtype, f"{where} value")
    return (None, [problem]) if problem else (Test(operand, op, found), [])


def _operand_test(
    operand: Operand, op: str, raw: dict[str, Any], where: str, entities: Sequence[str], nested: bool
) -> tuple[Test | None, list[str]]:
    """A test whose value is an operand of the row (``value: {field: amount}``)."""
    if op not in COMPARISONS:
        return None, [
            f"{where}: {op} compares with a value; a field, ref or children value takes one of "
            f"{', '.join(COMPARISONS)}"
        ]
    other, problems = operand_value(raw, entities, where, nested=nested)
    if other is None:
        return None, problems
    a, b = operand.dtype, other.dtype
    if not (a == b or (a.is_numeric() and b.is_numeric())):
        return None, [
            f"{where}: {operand} is {a} and {other} is {b}; compare a number with a number, "
            "a date with a date, a text with a text"
        ]
    if op in ORDERING and not (a.is_numeric() or a.is_temporal()):
        return None, [f"{where}: {op} needs numbers or dates; {operand} is {a}"]
    return Test(operand, op, other=other), []


def parse_operand(
    raw: Mapping[str, Any], entities: Sequence[str], where: str, *, nested: bool = True
) -> tuple[Operand | None, list[str]]:
    """What a test looks at, from the one of ``field``, ``ref`` or ``children`` ``raw`` gives; or the
    problems. ``nested=False`` allows ``field`` only (a children's own ``when``)."""
    given = [k for k in OPERAND_KEYS if k in raw]
    if len(given) != 1:
        return None, [f"{where}: needs exactly one of field, ref or children"]
    if given[0] != "field" and not nested:
        return None, [f"{where}: {given[0]} is not allowed here (a children's when tests their own fields)"]
    if given[0] == "field":
        dtype, problems = _field_type(entities, raw["field"], f"{where} field")
        return (Operand("field", str(raw["field"]), dtype) if dtype is not None else None), problems
    if given[0] == "ref":
        return _ref(raw["ref"], entities, f"{where} ref")
    return _children(raw["children"], f"{where} children")


def operand_value(
    raw: Any, entities: Sequence[str], where: str, *, nested: bool = True
) -> tuple[Operand | None, list[str]]:
    """An operand given as a value (``value: {field: amount}``, ``fix: {set: {children: ...}}``): a
    mapping of exactly one of ``field``, ``ref`` or ``children``; or the problems."""
    problems = _mapping(raw, OPERAND_KEYS, where)
    return (None, problems) if problems else parse_operand(raw, entities, where, nested=nested)


def _full_test(
    raw: Mapping[str, Any], entities: Sequence[str], where: str, nested: bool
) -> tuple[Test | None, list[str]]:
    problems = _mapping(raw, TEST_KEYS, where)
    if problems:
        return None, problems
    if len([k for k in OPERAND_KEYS if k in raw]) == 1 and "op" not in raw:
        return None, [f"{where}: needs op (one of {', '.join(OPS)})"]
    operand, problems = parse_operand(raw, entities, where, nested=nested)
    if operand is None:
        return None, problems
    return _test(operand, raw["op"], raw, where, entities, nested)


def _shorthand(
    raw: Mapping[str, Any], entities: Sequence[str], where: str, nested: bool
) -> tuple[list[Test], list[str]]:
    tests: list[Test] = []
    for column, value in raw.items():
        dtype, problems = _field_type(entities, column, f"{where} {column}")
        if dtype is None:
            return [], problems
        op = "is_null" if value is None else "in" if isinstance(value, list) else "="
        test, problems = _test(
            Operand("field", str(column), dtype), op, {"value": value}, f"{where} {column}", entities, nested
        )
        if test is None:
            return [], problems
        tests.append(test)
    return tests, []


def parse_condition(
    raw: Any, entities: Sequence[str], *, where: str = "when", nested: bool = True
) -> tuple[Condition | None, list[str]]:
    """A rule's ``when:`` for rules on ``entities``, checked against their columns; or the problems.

    ``nested=False`` (a children's ``when``) allows the children's own fields only."""
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        return None, [f"{where}: an empty list; give a test such as {{tier: Tier 1}}"]
    tests: list[Test] = []
    for i, item in enumerate(items, start=1):
        here = f"{where} test {i}" if isinstance(raw, list) else where
        if not isinstance(item, dict) or not item:
            return None, [
                f"{here}: a test is a mapping such as {{tier: Tier 1}} "
                "or {field: amount, op: '>', value: 0}"
            ]
        if any(k in item for k in TEST_KEYS):
            test, problems = _full_test(item, entities, here, nested)
            if test is None:
                return None, problems
            tests.append(test)
        else:
            found, problems = _shorthand(item, entities, here, nested)
            if problems:
                return None, problems
            tests += found
    return Condition(tuple(tests)), []


@dataclass(frozen=True, eq=False)  # hashed by identity, as the check functions it stands beside
class ConditionCheck:
    """A check written as a condition (``check: {holds: ...}``): a row passes where the condition holds."""

    condition: Condition

    def __call__(self, frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
        """True where the condition holds for the row."""
        return self.condition.expr(frame, ctx)


@dataclass(frozen=True, eq=False)  # hashed by identity, as the fixers it stands beside
class OperandFix:
    """A fix proposing an operand's value (``fix: {set: {children: ...}}``): the sum of the line items,
    say, for an amount that does not add up."""

    operand: Operand
    confidence: float

    def __call__(self, rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
        """The proposals: each failing row's operand value, at the fix's confidence."""
        found = proposals(rows, self.operand.expr(rows, ctx), self.confidence)
        return found.filter(pl.col("proposed_value").is_not_null())


def reads_others(rule: Rule) -> bool:
    """Whether a rule's condition or condition check reads records beyond the judged row."""
    check, fix = rule.check, rule.fix
    return (
        (rule.when is not None and rule.when.reads_others())
        or (isinstance(check, ConditionCheck) and check.condition.reads_others())
        or (isinstance(fix, OperandFix) and fix.operand.reads_others())
    )


def judges(rule: Rule) -> str:
    """Which rows a rule judges, for people (``crm-ops rules list``): its condition and its tolerance;
    empty for a rule judging every live row, with no tolerance."""
    shown = [str(rule.when) if rule.when else "", f"tolerance {rule.tolerance}" if rule.tolerance else ""]
    return "; ".join(s for s in shown if s)
