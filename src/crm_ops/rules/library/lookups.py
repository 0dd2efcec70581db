"""What several checks and fixers look up beyond the judged row: the live records of an entity, the
accounts' domains, the shipped free-mail domains."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from crm_ops.schema.entities import live
from crm_ops.values.domains import bare_domain_expr
from crm_ops.values.wordlists import shipped as shipped_lists

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext

# a business account's domain is not a free-mail provider's (the shipped list: rules use no profile's)
FREEMAIL = shipped_lists().freemail


def live_ids(ctx: RuleContext, entity: str) -> pl.Series:
    """The ids of the live (not deleted) records of ``entity`` in this system."""
    frame = ctx.frame(entity)
    if frame.is_empty():
        return pl.Series("id", [], dtype=pl.String)
    return live(frame)["id"]


def account_domains(ctx: RuleContext) -> pl.DataFrame:
    """Live accounts' bare domains (from website or domain), by account id."""
    accounts = ctx.frame("Account")
    if accounts.is_empty():
        return pl.DataFrame(schema={"account_id": pl.String, "account_domain": pl.String})
    source = pl.coalesce(
        [bare_domain_expr(pl.col(c)) for c in ("domain", "website") if c in accounts.columns]
    )
    return (
        live(accounts)
        .select(pl.col("id").alias("account_id"), source.alias("account_domain"))
        .filter(pl.col("account_domain").is_not_null() & ~pl.col("account_domain").is_in(list(FREEMAIL)))
    )
