"""What several checks and fixers look up beyond the judged row: the live records of an entity, the
accounts' domains, the shipped free-mail domains."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

import polars as pl

from crm_ops.schema.entities import live
from crm_ops.values.domains import bare_domain_expr
from crm_ops.values.wordlists import shipped as shipped_lists

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext

# a business account's domain is not a free-mail provider's (the shipped list: rules use no profile's)
FREEMAIL = shipped_lists().freemail


T = TypeVar("T")


def once_per_frame(ctx: RuleContext, name: str, frame: pl.DataFrame, compute: Callable[[], T]) -> T:
    """``compute()``, a lookup of ``frame`` (one of the run's frames), computed once per run and frame
    however many rules and systems ask: kept in the run's cache under the frame itself (its identity,
    with the frame held so that its id cannot be reused by another). A table read from its snapshot
    each time (``RuleContext.frame`` of a large one) is not kept: holding it is what reading it each
    time avoids."""
    key = (name, id(frame))
    cached = ctx.cache.get(key)
    if isinstance(cached, tuple) and cached[0] is frame:
        return cast(T, cached[1])
    value = compute()
    if any(f is frame for system in ctx.systems() for f in ctx.frames(system).values()):
        ctx.cache[key] = (frame, value)
    return value


def live_ids(ctx: RuleContext, entity: str) -> pl.Series:
    """The ids of the live (not deleted) records of ``entity`` in this system."""
    frame = ctx.frame(entity)
    if frame.is_empty():
        return pl.Series("id", [], dtype=pl.String)
    return once_per_frame(ctx, "live_ids", frame, lambda: live(frame.select("id", *_deleted(frame)))["id"])


def _deleted(frame: pl.DataFrame) -> list[str]:
    return ["is_deleted"] if "is_deleted" in frame.columns else []


def account_domains(ctx: RuleContext) -> pl.DataFrame:
    """Live accounts' bare domains (from website or domain), by account id."""
    accounts = ctx.frame("Account")
    if accounts.is_empty():
        return pl.DataFrame(schema={"account_id": pl.String, "account_domain": pl.String})
    return once_per_frame(ctx, "account_domains", accounts, lambda: _account_domains(accounts))


def _account_domains(accounts: pl.DataFrame) -> pl.DataFrame:
    source = pl.coalesce(
        [bare_domain_expr(pl.col(c)) for c in ("domain", "website") if c in accounts.columns]
    )
    return (
        live(accounts)
        .select(pl.col("id").alias("account_id"), source.alias("account_domain"))
        .filter(pl.col("account_domain").is_not_null() & ~pl.col("account_domain").is_in(list(FREEMAIL)))
    )
