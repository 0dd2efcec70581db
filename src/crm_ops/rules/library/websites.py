"""Websites and company domains: bare domains, no free-mail provider, a domain found for an account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.rules.library.lookups import FREEMAIL
from crm_ops.rules.library.registry import as_text, check, field_of, fixer, proposals
from crm_ops.values.companies import LEGAL_BY_FOLD
from crm_ops.values.domains import address_text, bare_domain_expr, email_domain_expr
from crm_ops.values.junk import junk_mask

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext


@check("bare_domain")
def bare_domain(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails unless the website is a bare lowercase domain (no scheme, www, path)."""
    column = field_of(params)
    return (as_text(column) == bare_domain_expr(pl.col(column))) & as_text(column).str.contains(
        r"^[a-z0-9-]+(\.[a-z0-9-]+)+$"
    )


@fixer("to_bare_domain")
def to_bare_domain(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Strip scheme, www, path; lowercase."""
    return proposals(rows, bare_domain_expr(pl.col(field_of(params))), 0.98)


@check("not_freemail")
def not_freemail(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when a business account's website or domain is a free-mail provider's."""
    return ~bare_domain_expr(pl.col(field_of(params))).is_in(list(FREEMAIL)).fill_null(False)


@fixer("domain_from_contacts")
def domain_from_contacts(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """Propose the business domain most of the account's contacts write from."""
    contacts = ctx.frame("Contact")
    if contacts.is_empty():
        return proposals(rows, pl.lit(None, pl.String), 0.0)
    domains = (
        # only the contacts of the accounts being fixed (a few among a million)
        contacts.filter(~pl.col("is_deleted") & pl.col("account_id").is_in(rows["id"].implode()))
        .select("account_id", email_domain_expr("email").alias("d"))
        .filter(pl.col("d").is_not_null() & ~pl.col("d").is_in(list(FREEMAIL)) & ~junk_mask(pl.col("d")))
        .group_by("account_id", "d").len()
        .sort(["account_id", "len", "d"], descending=[False, True, False]).unique("account_id", keep="first")
    )  # fmt: skip
    joined = rows.join(domains, left_on="id", right_on="account_id", how="left")
    # no contacts to ask: the same company in the other CRM, linked by the ids each keeps of the other
    other = next((o for o in ctx.systems() if o != ctx.system), None)
    twin = ctx.frame("Account", other) if other else pl.DataFrame()
    if twin.height and "linked_id" in rows.columns:
        source = pl.coalesce(
            [bare_domain_expr(pl.col(c)) for c in ("domain", "website") if c in twin.columns]
        )
        by_twin_id = twin.select(pl.col("id").alias("__twin"), source.alias("__td"))
        by_back_link = (
            twin.select(pl.col("linked_id").alias("__back"), source.alias("__bd"))
            .filter(pl.col("__back").is_not_null())
            .unique("__back")
        )
        joined = joined.join(by_twin_id, left_on="linked_id", right_on="__twin", how="left").join(
            by_back_link, left_on="id", right_on="__back", how="left"
        )
        twin_domain = pl.coalesce("__td", "__bd")
        twin_domain = pl.when(twin_domain.is_in(list(FREEMAIL))).then(None).otherwise(twin_domain)
    else:
        twin_domain = pl.lit(None, pl.String)
    # last resort, a guess for a human to confirm: the name without its legal form, at the country's TLD
    names = joined.select("name", "country").iter_rows()
    guess = pl.Series([_domain_guess(n, c) for n, c in names], dtype=pl.String)
    joined = joined.with_columns(guess.alias("__guess"))
    best = pl.coalesce(pl.col("d"), twin_domain, pl.col("__guess"))
    conf = (
        pl.when(pl.col("d").is_not_null()).then(0.8).when(twin_domain.is_not_null()).then(0.75)
        .when(pl.col("__guess").is_not_null()).then(0.3).otherwise(0.0)
    )  # fmt: skip
    return proposals(joined, best, conf)


COUNTRY_TLDS = {"US": "com", "GB": "co.uk", "DE": "de", "FR": "fr", "ES": "es", "NL": "nl", "AU": "com.au",
                "CA": "ca", "IT": "it", "CH": "ch", "AT": "at", "BE": "be", "IE": "ie",
                "SE": "se"}  # fmt: skip


def _domain_guess(name: str | None, country: str | None) -> str | None:
    if not name:
        return None
    words = [w for w in name.split() if w.casefold() not in LEGAL_BY_FOLD]
    stem = re.sub(r"[^a-z0-9]", "", address_text("".join(words)))
    tld = COUNTRY_TLDS.get((country or "").strip().upper(), "com")
    return f"{stem}.{tld}" if stem else None
