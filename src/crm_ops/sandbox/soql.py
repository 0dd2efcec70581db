"""A subset of SOQL: a tokenizer, a recursive-descent parser, and a compiler to one polars expression.

Supported: ``SELECT f, ... | COUNT() | COUNT(f) FROM Object [WHERE cond] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]``; conditions with AND, OR, NOT and parentheses;
``= != <> < <= > >= IN NOT IN LIKE``; null; string, number, boolean, date and datetime literals and the
date literals TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n. Errors carry Salesforce's codes
and its ``ERROR at Row:1:Column:n`` message shape. Parent relationship fields one level deep
(``Owner.Email``, ``Account.Name``, ``CreatedBy.Name``) are resolved through the lookup's describe and
joined in (a lookup to a deleted or missing record gives null, as Salesforce does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import polars as pl

from crm_ops.sandbox.objects import SALESFORCE_OBJECTS, SfField, SfObject

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*(?::\d+)?)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
_STRINGY = {"id", "reference", "string", "email", "phone", "picklist", "textarea", "url"}
_NUMERIC = {"currency", "double", "percent", "int"}
_KEYWORDS = {
    "select",
    "from",
    "where",
    "order",
    "by",
    "limit",
    "offset",
    "and",
    "or",
    "not",
    "in",
    "like",
    "asc",
    "desc",
    "nulls",
    "first",
    "last",
    "null",
    "true",
    "false",
}
MAX_OFFSET = 2000


class SoqlError(Exception):
    """A query Salesforce would refuse: ``error_code`` and ``message`` as the REST API reports them."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class Token:
    """One lexeme and its 1-based column."""

    kind: str
    text: str
    column: int


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY term."""

    field: str
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Value:
    """A literal: its kind (string, number, boolean, null, date, datetime, range) and value."""

    kind: str
    value: object
    column: int


@dataclass(frozen=True)
class Compare:
    """``field op value``."""

    field: SfField
    op: str
    value: Value


@dataclass(frozen=True)
class InList:
    """``field [NOT] IN (values)``."""

    field: SfField
    values: tuple[Value, ...]
    negate: bool


@dataclass(frozen=True)
class Like:
    """``field LIKE 'pattern'``."""

    field: SfField
    pattern: str


@dataclass(frozen=True)
class BoolOp:
    """AND / OR of several conditions."""

    op: Literal["and", "or"]
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """NOT of a condition."""

    item: Condition


Condition = Compare | InList | Like | BoolOp | Not


@dataclass(frozen=True)
class SoqlQuery:
    """A parsed query, field names resolved to their canonical case."""

    object_name: str
    fields: tuple[str, ...]
    count: Literal["rows", "field"] | None
    count_field: str | None
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    # relationship name -> (lookup field, parent object, the parent's fields used anywhere in the query)
    relations: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()
    obj: SfObject | None = None


_BAD_RELATIONSHIP = (
    "Didn't understand relationship '{}' in field path. If you are attempting to use a custom "
    "relationship, be sure to append the '__r' after the custom relationship name. Please reference "
    "your WSDL or the describe call for the appropriate names."
)


class _Parser:
    def __init__(self, text: str, objects: Mapping[str, SfObject]) -> None:
        self.text = text
        self.objects = objects
        self.tokens = self._lex(text)
        self.pos = 0
        self.obj: SfObject | None = None
        self.relations: dict[str, tuple[str, str, dict[str, None]]] = {}

    def error(self, code: str, column: int, reason: str) -> SoqlError:
        line = " ".join(self.text.split())
        return SoqlError(code, f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n{reason}")

    def _lex(self, text: str) -> list[Token]:
        flat = " ".join(text.split())
        tokens: list[Token] = []
        i = 0
        while i < len(flat):
            m = _TOKEN.match(flat, i)
            if m is None:
                raise SoqlError("MALFORMED_QUERY", self._msg(flat, i + 1, f"unexpected token: '{flat[i]}'"))
            kind = m.lastgroup or ""
            if kind != "ws":
                tokens.append(Token(kind, m.group(), i + 1))
            i = m.end()
        tokens.append(Token("end", "", len(flat) + 1))
        return tokens

    @staticmethod
    def _msg(line: str, column: int, reason: str) -> str:
        return f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n{reason}"

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "word" and self.tok.text.lower() in words

    def next(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect_word(self, word: str) -> Token:
        if not self.is_word(word):
            raise self.unexpected()
        return self.next()

    def expect(self, kind: str, text: str | None = None) -> Token:
        if self.tok.kind != kind or (text is not None and self.tok.text != text):
            raise self.unexpected()
        return self.next()

    def unexpected(self) -> SoqlError:
        tok = self.tok
        text = tok.text or "<EOF>"
        return self.error("MALFORMED_QUERY", tok.column, f"unexpected token: '{text}'")

    # ---------------------------------------------------------------- grammar

    def parse(self) -> SoqlQuery:
        self.expect_word("select")
        select_start = self.pos
        # Skip the field list: names are checked once the object is known.
        depth = 0
        while not (self.is_word("from") and depth == 0):
            if self.tok.kind == "end":
                raise self.unexpected()
            if self.tok.text == "(":
                depth += 1
            elif self.tok.text == ")":
                depth -= 1
            self.next()
        select_end = self.pos
        self.expect_word("from")
        obj_tok = self.expect("word")
        obj = next((o for o in self.objects.values() if o.name.lower() == obj_tok.text.lower()), None)
        if obj is None:
            raise self.error(
                "INVALID_TYPE",
                obj_tok.column,
                f"sObject type '{obj_tok.text}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name. Please reference your WSDL or "
                "the describe call for the appropriate names.",
            )
        self.obj = obj
        after_from = self.pos
        self.pos = select_start
        fields, count, count_field = self.select_list(select_end)
        self.pos = after_from
        where = None
        if self.is_word("where"):
            self.next()
            where = self.condition()
        order: list[OrderItem] = []
        if self.is_word("order"):
            self.next()
            self.expect_word("by")
            order.append(self.order_item())
            while self.tok.text == ",":
                self.next()
                order.append(self.order_item())
        limit = offset = None
        if self.is_word("limit"):
            self.next()
            limit = self.integer("LIMIT")
        if self.is_word("offset"):
            self.next()
            offset = self.integer("OFFSET")
            if offset > MAX_OFFSET:
                raise self.error(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    self.tokens[self.pos - 1].column,
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                )
        if self.tok.kind != "end":
            raise self.unexpected()
        relations = tuple(
            (rel, lookup, target, tuple(used)) for rel, (lookup, target, used) in self.relations.items()
        )
        return SoqlQuery(
            obj.name, tuple(fields), count, count_field, where, tuple(order), limit, offset, relations, obj
        )

    def select_list(self, end: int) -> tuple[list[str], Literal["rows", "field"] | None, str | None]:
        if self.is_word("count") and self.tokens[self.pos + 1].text == "(":
            self.next()
            self.next()
            if self.tok.text == ")":
                self.next()
                result: tuple[list[str], Literal["rows", "field"] | None, str | None] = ([], "rows", None)
            else:
                f = self.field()
                self.expect("punct", ")")
                result = ([], "field", f.name)
            if self.pos != end:
                raise self.unexpected()
            return result
        fields: list[str] = []
        while True:
            fields.append(self.field().name)
            if self.pos == end:
                return fields, None, None
            self.expect("punct", ",")

    def field(self) -> SfField:
        assert self.obj is not None
        tok = self.tok
        if tok.kind != "word" or tok.text.lower() in _KEYWORDS:
            raise self.unexpected()
        self.next()
        name = tok.text
        head, dot, rest = name.partition(".")
        if dot and head.lower() == self.obj.name.lower():
            name, head, dot, rest = rest, *rest.partition(".")  # "Contact.Email" FROM Contact
        if dot:
            return self.parent_field(tok, head, rest)
        f = self.obj.field(name)
        if f is None:
            raise self.no_such_column(tok, name, self.obj)
        return f

    def no_such_column(self, tok: Token, name: str, obj: SfObject) -> SoqlError:
        return self.error(
            "INVALID_FIELD",
            tok.column,
            f"No such column '{name}' on entity '{obj.name}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please reference "
            "your WSDL or the describe call for the appropriate names.",
        )

    def parent_field(self, tok: Token, relationship: str, name: str) -> SfField:
        """``Owner.Email``: the parent's field, named by its path, its lookup noted for the join."""
        assert self.obj is not None
        lookup = self.obj.lookup(relationship)
        target = (
            next((self.objects[t] for t in lookup.reference_to if t in self.objects), None)
            if lookup is not None
            else None
        )
        if lookup is None or target is None or "." in name:
            raise self.error("INVALID_FIELD", tok.column, _BAD_RELATIONSHIP.format(relationship))
        f = target.field(name)
        if f is None:
            raise self.no_such_column(tok, name, target)
        rel = lookup.relationship_name or relationship
        if f.type == "address":
            raise self.error(
                "INVALID_FIELD", tok.column, f"compound field '{name}' through a relationship: not emulated"
            )
        self.relations.setdefault(rel, (lookup.name, target.name, {}))[2][f.name] = None
        return replace(f, name=f"{rel}.{f.name}")

    def order_item(self) -> OrderItem:
        f = self.field()
        descending = False
        if self.is_word("asc", "desc"):
            descending = self.next().text.lower() == "desc"
        nulls_last = descending
        if self.is_word("nulls"):
            self.next()
            if not self.is_word("first", "last"):
                raise self.unexpected()
            nulls_last = self.next().text.lower() == "last"
        return OrderItem(f.name, descending, nulls_last)

    def integer(self, clause: str) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.unexpected()
        self.next()
        return int(tok.text)

    def condition(self) -> Condition:
        items = [self.conjunction()]
        while self.is_word("or"):
            self.next()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def conjunction(self) -> Condition:
        items = [self.unary()]
        while self.is_word("and"):
            self.next()
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def unary(self) -> Condition:
        if self.is_word("not"):
            self.next()
            return Not(self.unary())
        if self.tok.text == "(":
            self.next()
            inner = self.condition()
            self.expect("punct", ")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        f = self.field()
        if f.type == "address":
            raise self.error(
                "INVALID_FIELD",
                self.tokens[self.pos - 1].column,
                f"field '{f.name}' can not be filtered in a query call",
            )
        if self.is_word("like"):
            self.next()
            value = self.literal()
            if value.kind != "string" or f.type not in _STRINGY:
                raise self.error("INVALID_FIELD", value.column, f"invalid operator on {f.type} field: LIKE")
            assert isinstance(value.value, str)
            return Like(f, value.value)
        negate = False
        if self.is_word("not"):
            self.next()
            negate = True
            if not self.is_word("in"):
                raise self.unexpected()
        if self.is_word("in"):
            self.next()
            self.expect("punct", "(")
            values = [self.literal()]
            while self.tok.text == ",":
                self.next()
                values.append(self.literal())
            self.expect("punct", ")")
            for v in values:
                self.check_type(f, v, "=")
            return InList(f, tuple(values), negate)
        op_tok = self.expect("op")
        value = self.literal()
        self.check_type(f, value, op_tok.text)
        return Compare(f, "!=" if op_tok.text == "<>" else op_tok.text, value)

    def literal(self) -> Value:
        tok = self.next()
        if tok.kind == "string":
            body = tok.text[1:-1]
            out, i = [], 0
            while i < len(body):
                ch = body[i]
                if ch == "\\" and i + 1 < len(body):
                    nxt = body[i + 1]
                    out.append(_ESCAPES.get(nxt, "\\" + nxt))  # \% and \_ stay escaped for LIKE
                    i += 2
                else:
                    out.append(ch)
                    i += 1
            return Value("string", "".join(out), tok.column)
        if tok.kind == "number":
            return Value("number", float(tok.text), tok.column)
        if tok.kind == "date":
            try:
                return Value("date", date.fromisoformat(tok.text), tok.column)
            except ValueError:
                raise self.error("MALFORMED_QUERY", tok.column, f"invalid date: {tok.text}") from None
        if tok.kind == "datetime":
            text = tok.text.replace("Z", "+00:00")
            if re.search(r"[+-]\d{4}$", text):
                text = text[:-2] + ":" + text[-2:]
            try:
                return Value("datetime", datetime.fromisoformat(text).astimezone(UTC), tok.column)
            except ValueError:
                raise self.error("MALFORMED_QUERY", tok.column, f"invalid datetime: {tok.text}") from None
        if tok.kind == "word":
            word = tok.text.lower()
            if word == "null":
                return Value("null", None, tok.column)
            if word in ("true", "false"):
                return Value("boolean", word == "true", tok.column)
            m = re.fullmatch(r"(last|next)_n_days:(\d+)", word)
            if word in ("today", "yesterday", "tomorrow") or m:
                return Value("range", word, tok.column)
        self.pos -= 1
        raise self.unexpected()

    def check_type(self, f: SfField, v: Value, op: str) -> None:
        if v.kind == "null":
            if op not in ("=", "!=", "<>"):
                raise self.error("MALFORMED_QUERY", v.column, "invalid operator with null value")
            return
        expected = (
            "string"
            if f.type in _STRINGY
            else "number"
            if f.type in _NUMERIC
            else "boolean"
            if f.type == "boolean"
            else f.type
        )
        ok = v.kind == expected or (v.kind == "range" and f.type in ("date", "datetime"))
        if f.type == "boolean" and op not in ("=", "!=", "<>"):
            ok = False
        if not ok:
            kind = {"datetime": "dateTime"}.get(expected, expected)
            quoted = " and should not be enclosed in quotes" if v.kind == "string" else ""
            raise self.error(
                "INVALID_FIELD",
                v.column,
                f"value of filter criterion for field '{f.name}' must be of type {kind}{quoted}",
            )


def parse(text: str, objects: Mapping[str, SfObject] | None = None) -> SoqlQuery:
    """Parse and validate a SOQL query against an org's objects (default: the ``crm_ops`` org);
    raises ``SoqlError``."""
    if not text or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string must be provided.")
    return _Parser(text, SALESFORCE_OBJECTS if objects is None else objects).parse()


def _day_range(word: str, today: date) -> tuple[date, date]:
    """The [start, end) days a date literal covers."""
    if word == "today":
        return today, today + timedelta(days=1)
    if word == "yesterday":
        return today - timedelta(days=1), today
    if word == "tomorrow":
        return today + timedelta(days=1), today + timedelta(days=2)
    kind, n = word.split(":")
    days = int(n)
    if kind == "last_n_days":
        return today - timedelta(days=days), today + timedelta(days=1)
    return today + timedelta(days=1), today + timedelta(days=days + 1)


def _compare(f: SfField, op: str, v: Value, now: datetime) -> pl.Expr:
    col = pl.col(f.name)
    if v.kind == "null":
        return col.is_null() if op == "=" else col.is_not_null()
    if v.kind == "range":
        assert isinstance(v.value, str)
        start_day, end_day = _day_range(v.value, now.date())
        if f.type == "datetime":
            lo: object = datetime.combine(start_day, time(), tzinfo=UTC)
            hi: object = datetime.combine(end_day, time(), tzinfo=UTC)
        else:
            lo, hi = start_day, end_day
        inside = (col >= pl.lit(lo)) & (col < pl.lit(hi))
        return {
            "=": inside,
            "!=": ~inside | col.is_null(),
            "<": col < pl.lit(lo),
            "<=": col < pl.lit(hi),
            ">": col >= pl.lit(hi),
            ">=": col >= pl.lit(lo),
        }[op]
    lit = pl.lit(_literal(f, v))
    if f.type in ("id", "reference") and isinstance(v.value, str) and len(v.value) == 15:
        col, lit = col.str.slice(0, 15), pl.lit(v.value)
    elif f.type in _STRINGY and op in ("=", "!="):
        # Salesforce compares text case-insensitively.
        col, lit = col.str.to_lowercase(), pl.lit(str(v.value).lower())
    expr = {
        "=": col == lit,
        "!=": col != lit,
        "<": col < lit,
        "<=": col <= lit,
        ">": col > lit,
        ">=": col >= lit,
    }[op]
    # A null never equals a value, and "!= value" includes nulls, as in Salesforce.
    return (expr | pl.col(f.name).is_null()) if op == "!=" else expr.fill_null(False)


def _literal(f: SfField, v: Value) -> object:
    if f.type == "int" and isinstance(v.value, float) and v.value.is_integer():
        return int(v.value)
    return v.value


def _in(node: InList) -> pl.Expr:
    f = node.field
    col = pl.col(f.name)
    values = [v.value for v in node.values if v.kind != "null"]
    has_null = any(v.kind == "null" for v in node.values)
    if f.type in _STRINGY:
        if f.type in ("id", "reference"):
            col = col.str.slice(0, 15)
            values = [str(x)[:15] for x in values]
        else:
            col = col.str.to_lowercase()
            values = [str(x).lower() for x in values]
    elif f.type == "int":
        values = [int(x) for x in values if isinstance(x, float)]
    member = col.is_in(pl.Series(values, dtype=col_dtype(f, values)).implode())
    if has_null:
        member = member | pl.col(f.name).is_null()
    member = member.fill_null(False)
    if node.negate:
        return ~member if has_null else (~member | pl.col(f.name).is_null())
    return member


def col_dtype(f: SfField, values: list[object]) -> pl.DataType:
    """The dtype an IN list is built with, matching the compared column."""
    if f.type in _STRINGY:
        return pl.String()
    return f.dtype


def _like(node: Like) -> pl.Expr:
    regex, i, p = ["(?is)^"], 0, node.pattern
    while i < len(p):
        ch = p[i]
        if ch == "\\" and i + 1 < len(p):
            regex.append(re.escape(p[i + 1]))
            i += 2
            continue
        regex.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    regex.append("$")
    return pl.col(node.field.name).str.contains("".join(regex)).fill_null(False)


def _compile(node: Condition, now: datetime) -> pl.Expr:
    if isinstance(node, Compare):
        return _compare(node.field, node.op, node.value, now)
    if isinstance(node, InList):
        return _in(node)
    if isinstance(node, Like):
        return _like(node)
    if isinstance(node, Not):
        return ~_compile(node.item, now)
    exprs = [_compile(item, now) for item in node.items]
    out = exprs[0]
    for e in exprs[1:]:
        out = (out & e) if node.op == "and" else (out | e)
    return out


def where_expr(query: SoqlQuery, now: datetime) -> pl.Expr | None:
    """The WHERE clause as one polars filter expression (None when there is none)."""
    return None if query.where is None else _compile(query.where, now)


def relation_id(relationship: str) -> str:
    """The column a joined parent's Id is kept in (null when the lookup finds no live record)."""
    return f"{relationship}.__id"


def _join_parents(
    lazy: pl.LazyFrame, query: SoqlQuery, related: Callable[[str], pl.DataFrame] | None
) -> pl.LazyFrame:
    for rel, lookup, target, used in query.relations:
        if related is None:
            raise ValueError(f"the query reads {rel}.*, and no parent tables were given")
        parent = related(target).lazy()
        if "IsDeleted" in parent.collect_schema():
            parent = parent.filter(~pl.col("IsDeleted"))
        key = f"{rel}.__key"
        columns = [pl.col("Id").alias(key), pl.col("Id").alias(relation_id(rel))]
        columns += [pl.col(name).alias(f"{rel}.{name}") for name in used]
        lazy = lazy.join(
            parent.select(columns), left_on=lookup, right_on=key, how="left", maintain_order="left"
        )
    return lazy


def execute(
    query: SoqlQuery,
    frame: pl.LazyFrame | pl.DataFrame,
    now: datetime,
    *,
    include_deleted: bool,
    related: Callable[[str], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """Run ``query`` over an object's frame: filter, sort, offset, limit (one ``count`` row for COUNT).

    ``related`` gives the table of a parent object when the query reads relationship fields; the
    answer then holds ``Rel.Field`` columns and, for each relationship, ``relation_id(Rel)``."""
    lazy = frame.lazy()
    obj = query.obj or SALESFORCE_OBJECTS[query.object_name]
    if not include_deleted and obj.field("IsDeleted") is not None:
        lazy = lazy.filter(~pl.col("IsDeleted"))
    lazy = _join_parents(lazy, query, related)
    condition = where_expr(query, now)
    if condition is not None:
        lazy = lazy.filter(condition)
    if query.count == "rows":
        return lazy.select(pl.len().alias("count")).collect()
    if query.count == "field":
        assert query.count_field is not None
        return lazy.select(pl.col(query.count_field).count().alias("count")).collect()
    if query.order_by:
        lazy = lazy.sort(
            [o.field for o in query.order_by],
            descending=[o.descending for o in query.order_by],
            nulls_last=[o.nulls_last for o in query.order_by],
            maintain_order=True,
        )
    if query.offset:
        lazy = lazy.slice(query.offset)
    if query.limit is not None:
        lazy = lazy.head(query.limit)
    columns = list(dict.fromkeys(["Id", *query.fields]))
    selected = {f.partition(".")[0] for f in query.fields if "." in f}
    columns += [relation_id(rel) for rel, *_ in query.relations if rel in selected]
    return lazy.select(columns).collect()
