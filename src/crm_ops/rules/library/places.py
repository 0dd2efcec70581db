"""Countries and states: ISO 3166 codes, and the fixers that look names and aliases up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.rules.library.registry import as_text, check, field_of, fixer
from crm_ops.values.countries import alias_key, country_code, iso_countries, state_codes, state_lookup

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext


@check("country_iso")
def country_iso(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails unless the country is an ISO 3166-1 alpha-2 code in capitals."""
    return as_text(field_of(params)).is_in(sorted(iso_countries()))


@fixer("country_to_iso")
def country_to_iso(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Look the value up among names, codes and aliases (distinct values only)."""
    column = field_of(params)
    mapping = {v: country_code(v) for v in rows[column].drop_nulls().unique().to_list()}
    proposed = rows[column].replace_strict(mapping, default=None, return_dtype=pl.String)
    return pl.DataFrame({"record_id": rows["id"], "proposed_value": proposed}).with_columns(
        pl.when(pl.col("proposed_value").is_not_null()).then(0.97).otherwise(0.0).alias("confidence")
    )


@check("state_iso")
def state_iso(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails unless the state is its country's ISO 3166-2 code (CA, BY, NSW), where the country is known."""
    column, country = field_of(params), params.get("country_field", "country")
    countries = list(params.get("countries", ["US", "CA", "AU", "DE"]))
    valid = pl.lit(True)
    for c in countries:
        valid = (
            pl.when(pl.col(country) == c).then(as_text(column).is_in(sorted(state_codes(c)))).otherwise(valid)
        )
    return valid | pl.col(column).is_null()


@fixer("state_to_iso")
def state_to_iso(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Look the name or abbreviation up among the country's subdivisions and common abbreviations."""
    column, country = field_of(params), params.get("country_field", "country")
    values = []
    for value, c in rows.select(as_text(column), as_text(country)).iter_rows():
        values.append(state_lookup(c).get(alias_key(value)) if value and c else None)
    proposed = pl.Series(values, dtype=pl.String)
    return pl.DataFrame(
        {
            "record_id": rows["id"],
            "proposed_value": proposed,
            "confidence": proposed.is_not_null().cast(pl.Float64) * 0.95,
        }
    )
