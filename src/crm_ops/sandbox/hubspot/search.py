"""CRM v3 search: filterGroups (an OR of ANDs) compiled into one polars expression, sorts, paging by
offset and the 10,000-result cap."""

from __future__ import annotations

from typing import Any

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.common import JSON, HsError
from crm_ops.sandbox.hubspot.records import RecordModel, parse_value
from crm_ops.sandbox.objects import HsObject, HsProperty

MAX_SEARCH = 200
SEARCH_CAP = 10_000
_OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}


class SearchHandlers(RecordModel):
    """The search endpoint of each object type."""

    def search(self, request: Request, object_type: str) -> Response:
        """POST search: filterGroups (OR of ANDs), sorts, paging by offset, the 10,000-result cap."""
        obj, table = self._object(object_type)
        body = self._body(request)
        limit = self._limit(body.get("limit"), 10, MAX_SEARCH)
        after_raw = body.get("after") or 0
        try:
            offset = int(after_raw)
        except (TypeError, ValueError):
            raise HsError(400, "VALIDATION_ERROR", f"after must be a number, got {after_raw}") from None
        if offset + limit > SEARCH_CAP:
            raise HsError(
                400,
                "VALIDATION_ERROR",
                f"There was a problem with the request. The maximum number of results that can be "
                f"paged through by search is {SEARCH_CAP}; use filters to narrow the results.",
            )
        expr = self._filter(obj, body.get("filterGroups") or [])
        lazy = table.visible().lazy().filter(~pl.col("archived"))
        named = {
            f.get("propertyName")
            for g in body.get("filterGroups") or []
            if isinstance(g, dict)
            for f in g.get("filters") or []
            if isinstance(f, dict)
        }
        named |= {
            (s.get("propertyName") if isinstance(s, dict) else str(s).lstrip("-"))
            for s in body.get("sorts") or []
        }
        absent = [
            obj.by_name[n]
            for n in named
            if n in obj.by_name and n not in table.schema and n != "hs_object_id"
        ]
        lazy = lazy.with_columns(pl.lit(None, dtype=p.dtype).alias(p.name) for p in absent)
        if expr is not None:
            lazy = lazy.filter(expr)
        sorts = body.get("sorts") or []
        by, desc = [], []
        for s in sorts:
            name, direction = (
                (s.get("propertyName"), s.get("direction", "ASCENDING"))
                if isinstance(s, dict)
                else (str(s).lstrip("-"), "DESCENDING" if str(s).startswith("-") else "ASCENDING")
            )
            column = "id" if name == "hs_object_id" else name
            if column not in obj.by_name and column != "id":
                raise HsError(400, "VALIDATION_ERROR", f"Cannot sort on unknown property {name}")
            by.append(column)
            desc.append(direction == "DESCENDING")
        by.append("id")
        desc.append(False)
        matches = lazy.sort(by, descending=desc, nulls_last=True)
        total = int(matches.select(pl.len()).collect().item())
        page = matches.slice(offset, limit).collect()
        props = self._props(obj, body.get("properties") or None)
        out: dict[str, Any] = {"total": total, "results": self._render(obj, page, props)}
        if offset + limit < total:
            out["paging"] = {"next": {"after": str(offset + limit)}}
        return Response.json(200, out, JSON)

    def _filter(self, obj: HsObject, groups: Any) -> pl.Expr | None:
        if not isinstance(groups, list) or len(groups) > 5:
            raise HsError(400, "VALIDATION_ERROR", "filterGroups: at most 5 groups are allowed")
        total = sum(len(g.get("filters", [])) for g in groups if isinstance(g, dict))
        if total > 18:
            raise HsError(400, "VALIDATION_ERROR", f"at most 18 filters are allowed in all, got {total}")
        ors = []
        for group in groups:
            filters = group.get("filters", []) if isinstance(group, dict) else None
            if not isinstance(filters, list) or len(filters) > 6:
                raise HsError(400, "VALIDATION_ERROR", "each filter group holds at most 6 filters")
            ands = [self._one_filter(obj, f) for f in filters]
            if ands:
                expr = ands[0]
                for e in ands[1:]:
                    expr = expr & e
                ors.append(expr)
        if not ors:
            return None
        out = ors[0]
        for e in ors[1:]:
            out = out | e
        return out

    def _one_filter(self, obj: HsObject, f: Any) -> pl.Expr:
        if not isinstance(f, dict):
            raise HsError(400, "VALIDATION_ERROR", "a filter must be an object")
        name, op = f.get("propertyName"), f.get("operator")
        if op not in _OPERATORS:
            raise HsError(
                400, "VALIDATION_ERROR", f"Unknown operator {op}; expected one of {sorted(_OPERATORS)}"
            )
        if name == "hs_object_id":
            prop = HsProperty("id", "number", "number", "Record ID")
            col = pl.col("id").cast(pl.Float64)
        else:
            found = obj.by_name.get(str(name))
            if found is None:
                raise HsError(
                    400,
                    "VALIDATION_ERROR",
                    f"There was a problem with the request: property {name} does not exist",
                )
            prop, col = found, pl.col(found.name)
        if op == "HAS_PROPERTY":
            return col.is_not_null()
        if op == "NOT_HAS_PROPERTY":
            return col.is_null()

        def value(raw: Any) -> Any:
            try:
                parsed = (
                    parse_value(prop, raw)
                    if prop.type != "enumeration"
                    else (None if raw is None else str(raw))
                )
            except ValueError as e:
                raise HsError(400, "VALIDATION_ERROR", f"invalid value {raw!r} for {name}: {e}") from None
            return parsed

        text = prop.type in ("string", "enumeration")
        if op in ("IN", "NOT_IN"):
            values = f.get("values")
            if not isinstance(values, list):
                raise HsError(400, "VALIDATION_ERROR", f"{op} needs a list of values")
            parsed = [value(v) for v in values]
            if text:
                member = col.str.to_lowercase().is_in([str(v).lower() for v in parsed])
            else:
                member = col.is_in(
                    pl.Series(parsed, dtype=prop.dtype if name != "hs_object_id" else pl.Float64).implode()
                )
            return member.fill_null(False) if op == "IN" else (~member).fill_null(True)
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = str(f.get("value", "")).lower().replace("*", "")
            hit = col.cast(pl.String).str.to_lowercase().str.contains(token, literal=True).fill_null(False)
            return hit if op == "CONTAINS_TOKEN" else ~hit
        if op == "BETWEEN":
            lo, hi = value(f.get("value")), value(f.get("highValue"))
            between: pl.Expr = ((col >= lo) & (col <= hi)).fill_null(False)
            return between
        v = value(f.get("value"))
        if text and op in ("EQ", "NEQ"):
            col, v = col.str.to_lowercase(), (None if v is None else str(v).lower())
        cmp = {
            "EQ": col == v,
            "NEQ": col != v,
            "LT": col < v,
            "LTE": col <= v,
            "GT": col > v,
            "GTE": col >= v,
        }[op]
        result: pl.Expr = cmp.fill_null(op == "NEQ")
        return result
