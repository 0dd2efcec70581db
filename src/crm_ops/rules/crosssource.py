"""Checks across the CRMs and the sources beyond them (billing, product): the shipped rules of
``rules/sources.yaml`` call these by name.

Each reads the sources' links (billing customers to accounts, product users to contacts and leads:
``crm_ops.match.sources.source_links``) and the sources' frames from the run's context (every system
that is not a CRM). Without a source frame there is nothing to compare: every record passes. The links
are matching's work, and matching sits above the rules, so the caller gives them to the rule run:
``run_rules(cache={CACHE_KEY: links})``, or, to have them computed only when a check first asks,
``cache={CACHE_KEY: source_links}`` (a function of the run's frames, {system: {entity: frame}}).

Money is compared in one currency: ``rates`` (a rule parameter, the profile's ``[rules.params]``) gives
the value of one unit of each currency in ``base_currency``; an amount in a currency the table lacks is
not compared (the account passes, and a warning names the currency once per run).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
import structlog

from crm_ops.rules.library.registry import check, fixer, proposals
from crm_ops.schema.entities import SUBSCRIPTION_ACTIVE, live
from crm_ops.values.junk import junk_mask
from crm_ops.values.wordlists import shipped as shipped_lists

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext

log = structlog.get_logger("crm_ops.rules")
ENDED = ("cancelled", "canceled", "ended", "expired", "incomplete_expired")
CRMS = ("salesforce", "hubspot")


CACHE_KEY = "source_links"  # where a rule run's shared cache holds the sources' links (see above)


def _links(ctx: RuleContext) -> pl.DataFrame:
    """The sources' links the caller gave the run, computed on first use when it gave a function."""
    given = ctx.cache.get(CACHE_KEY)
    if callable(given):
        given = ctx.cache[CACHE_KEY] = given({s: ctx.frames(s) for s in ctx.systems()})
    if not isinstance(given, pl.DataFrame):
        raise TypeError(
            f"the cross-source checks need the sources' links: run_rules(cache={{{CACHE_KEY!r}: ...}}) "
            "takes them (crm_ops.match.sources.source_links, or the function itself)"
        )
    return given


def _source_frames(ctx: RuleContext, entity: str) -> list[tuple[str, pl.DataFrame]]:
    return [
        (s, live(ctx.frame(entity, s))) for s in ctx.systems() if s not in CRMS and entity in ctx.frames(s)
    ]


def _subscriptions(ctx: RuleContext) -> pl.DataFrame | None:
    """Every source's subscriptions with their ``source``, or None when no source gives any."""
    frames = _source_frames(ctx, "Subscription")
    if not frames:
        return None
    return pl.concat([f.with_columns(pl.lit(s).alias("source")) for s, f in frames], how="diagonal_relaxed")


def _statuses(params: Mapping[str, Any], key: str, default: tuple[str, ...]) -> list[str]:
    return [str(s).lower() for s in params.get(key, default)]


def _rate_of(params: Mapping[str, Any]) -> pl.Expr:
    """The rate of each row's ``currency`` (null when the table lacks it; the base currency is 1)."""
    base = str(params.get("base_currency", "USD")).upper()
    rates = {str(k).upper(): float(v) for k, v in dict(params.get("rates", {})).items()} | {base: 1.0}
    return pl.col("currency").str.to_uppercase().replace_strict(rates, default=None, return_dtype=pl.Float64)


def _by_account(ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame | None:
    """Per account of this system linked to billing: paying now, every subscription ended, the billing
    ARR in the base currency (active subscriptions; ``arr``, else 12 x ``mrr``), currencies without a
    rate, and how the link was made (``id`` before ``match``, with its score)."""
    subs = _subscriptions(ctx)
    if subs is None:
        return None
    key = ("billing_by_account", ctx.system, repr(sorted(params.items())))
    if key in ctx.cache:
        found: pl.DataFrame = ctx.cache[key]
        return found
    links = _links(ctx).filter(
        (pl.col("system") == ctx.system)
        & (pl.col("entity") == "Account")
        & (pl.col("source_entity") == "Subscription")
    )
    active = _statuses(params, "active_statuses", SUBSCRIPTION_ACTIVE)
    ended = _statuses(params, "ended_statuses", ENDED)
    status = pl.col("status").str.strip_chars().str.to_lowercase()
    rows = subs.join(
        links.select("source", pl.col("source_id").alias("customer_id"), "crm_id", "method", "score"),
        on=["source", "customer_id"],
    ).with_columns(
        status.is_in(active).alias("__active"),
        status.is_in(ended).alias("__ended"),
        (pl.coalesce(pl.col("arr"), pl.col("mrr") * 12) * _rate_of(params)).alias("__arr"),
        _rate_of(params).is_null().alias("__no_rate"),
    )
    out = rows.group_by("crm_id").agg(
        pl.col("__active").any().alias("paying"),
        pl.col("__ended").all().alias("all_ended"),
        pl.col("__arr").filter(pl.col("__active")).sum().alias("billing_arr"),
        pl.col("currency")
        .filter(pl.col("__active") & pl.col("__no_rate"))
        .drop_nulls()
        .unique()
        .alias("no_rate"),
        (pl.col("method") == "id").any().alias("by_id"),
        pl.col("score").max().alias("score"),
    )
    ctx.cache[key] = out
    return out


def _aligned(frame: pl.DataFrame, facts: pl.DataFrame, on: str = "id") -> pl.DataFrame:
    """``facts`` (keyed ``crm_id``) in ``frame``'s row order, nulls where none."""
    return frame.select(pl.col(on).alias("crm_id")).join(
        facts, on="crm_id", how="left", maintain_order="left"
    )


def _is_customer(frame: pl.DataFrame, params: Mapping[str, Any]) -> pl.Series:
    field = str(params["field"])
    values = [str(v).lower() for v in params.get("customer_values", ())]
    if field not in frame.columns:
        return pl.Series([False] * frame.height)
    return frame[field].cast(pl.String).str.strip_chars().str.to_lowercase().is_in(values).fill_null(False)


# ------------------------------------------------------------------------------ billing and accounts


@check("paying_customer_is_customer")
def paying_customer_is_customer(
    frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]
) -> pl.Series:
    """Fails on an account billing says pays now (an active subscription of a customer linked to it)
    whose ``field`` (Type, lifecycle stage) is none of ``customer_values``."""
    facts = _by_account(ctx, params)
    if facts is None:
        return pl.Series([True] * frame.height)
    paying = _aligned(frame, facts)["paying"].fill_null(False)
    return ~(paying & ~_is_customer(frame, params))


@fixer("set_customer_stage")
def set_customer_stage(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """``set`` (the customer value) where the evidence is strong: the account is linked by an id one
    system keeps of the other (0.95), or matched at ``min_score`` or above (0.9); otherwise no fix."""
    facts = _by_account(ctx, params)
    if facts is None or rows.is_empty():
        return proposals(rows.head(0), pl.lit(None), 0.0)
    aligned = _aligned(rows, facts)
    flagged = rows.with_columns(
        aligned["by_id"].fill_null(False).alias("__strong"),
        (aligned["score"].fill_null(0.0) >= float(params.get("min_score", 0.95))).alias("__matched"),
    )
    confidence = pl.when(pl.col("__strong")).then(0.95).when(pl.col("__matched")).then(0.9).otherwise(0.0)
    return proposals(flagged, pl.lit(str(params["set"])), confidence)


@check("customer_has_live_subscription")
def customer_has_live_subscription(
    frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]
) -> pl.Series:
    """Fails on an account marked a customer (``field`` in ``customer_values``) whose billing
    subscriptions have all ended (cancelled, expired...): churned in billing, active in the CRM."""
    facts = _by_account(ctx, params)
    if facts is None:
        return pl.Series([True] * frame.height)
    ended = _aligned(frame, facts)["all_ended"].fill_null(False)
    return ~(ended & _is_customer(frame, params))


@check("account_not_churned")
def account_not_churned(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails on a record (an open case or ticket) whose account (the ``account`` column, default
    ``account_id``) billing says has churned: every subscription of the customer linked to it has ended.
    Passes everything when no source gives subscriptions."""
    column = str(params.get("account", "account_id"))
    facts = _by_account(ctx, {k: v for k, v in params.items() if k != "field"})
    if facts is None or column not in frame.columns:
        return pl.Series([True] * frame.height)
    return ~_aligned(frame, facts, on=column)["all_ended"].fill_null(False)


@check("arr_matches_billing")
def arr_matches_billing(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails when the account's ARR in the CRM and in billing differ by more than ``tolerance`` (a
    share of billing's) and ``min_difference``, both in ``base_currency`` (``rates``). The CRM's is the
    ``crm_field`` column when given, else the amounts of the opportunities won in the last
    ``window_days`` (in their ``currency``, else the account's, else ``crm_currency``)."""
    facts = _by_account(ctx, params)
    if facts is None:
        return pl.Series([True] * frame.height)
    crm_field = params.get("crm_field")
    base = frame.select("id", *(c for c in ("currency",) if c in frame.columns))
    default_currency = str(params.get("crm_currency", params.get("base_currency", "USD")))
    if crm_field and crm_field in frame.columns:
        crm = frame.select(
            pl.col("id").alias("crm_id"),
            pl.col(crm_field).cast(pl.Float64, strict=False).alias("__amount"),
            (pl.col("currency") if "currency" in frame.columns else pl.lit(None, pl.String))
            .fill_null(default_currency)
            .alias("currency"),
        )
    else:
        opps = live(ctx.frame("Opportunity"))
        cutoff = ctx.today - timedelta(days=int(params.get("window_days", 365)))
        won = opps.filter(pl.col("is_won").fill_null(False) & (pl.col("close_date") >= cutoff))
        account_currency = base.select(
            pl.col("id").alias("account_id"),
            (pl.col("currency") if "currency" in base.columns else pl.lit(None, pl.String)).alias("__acur"),
        )
        crm = won.join(account_currency, on="account_id", how="left").select(
            pl.col("account_id").alias("crm_id"),
            pl.col("amount").alias("__amount"),
            pl.coalesce("currency", "__acur", pl.lit(default_currency)).alias("currency"),
        )
    rate = _rate_of(params)
    crm_arr = crm.group_by("crm_id").agg(
        (pl.col("__amount") * rate).sum().alias("crm_arr"),
        rate.is_null().any().alias("__crm_no_rate"),
        pl.col("currency").filter(rate.is_null()).unique().alias("__crm_missing"),
    )
    joined = _aligned(frame, facts).join(crm_arr, on="crm_id", how="left", maintain_order="left")
    missing = {
        c
        for col in ("no_rate", "__crm_missing")
        for items in joined[col].drop_nulls().to_list()
        for c in items
    }
    if missing:
        log.warning(
            "rules.no_rate", currencies=sorted(str(m) for m in missing), detail="amounts not compared"
        )
    billing, here = joined["billing_arr"].fill_null(0.0), joined["crm_arr"].fill_null(0.0)
    judged = (billing > 0) & (here > 0) & ~joined["__crm_no_rate"].fill_null(False)
    judged = judged & (joined["no_rate"].list.len().fill_null(0) == 0)
    gap = (billing - here).abs()
    tolerance = float(params.get("tolerance", 0.1))
    bad = judged & (gap > tolerance * billing) & (gap > float(params.get("min_difference", 1.0)))
    return ~bad


# --------------------------------------------------------------------------------------- deals


@check("won_has_subscription")
def won_has_subscription(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails on an opportunity won over ``days`` ago (and at most ``max_age_days`` ago, when given) whose
    account has no subscription in billing live within ``days`` of the close (started by then, not
    ended before it)."""
    subs = _subscriptions(ctx)
    if subs is None:
        return pl.Series([True] * frame.height)
    days = int(params.get("days", 30))
    judged = frame["is_won"].fill_null(False) & (frame["close_date"] <= ctx.today - timedelta(days=days))
    if params.get("max_age_days") is not None:
        judged = judged & (frame["close_date"] >= ctx.today - timedelta(days=int(params["max_age_days"])))
    judged = judged.fill_null(False)
    links = _links(ctx).filter((pl.col("system") == ctx.system) & (pl.col("entity") == "Account"))
    ended = pl.coalesce(pl.col("cancelled_at").dt.date(), pl.col("end_date"))
    window = frame.filter(judged).select("id", "account_id", "close_date")
    live_in_time = (
        window.join(
            links.select("source", "crm_id", pl.col("source_id").alias("customer_id")),
            left_on="account_id",
            right_on="crm_id",
        )
        .join(
            subs.select("source", "customer_id", "start_date", "cancelled_at", "end_date"),
            on=["source", "customer_id"],
        )
        .filter(
            (pl.col("start_date") <= pl.col("close_date") + pl.duration(days=days))
            & (ended.is_null() | (ended >= pl.col("close_date")))
        )
        .select("id")
        .unique()
    )
    has = frame["id"].is_in(live_in_time["id"].implode())
    return ~judged | has


# ------------------------------------------------------------------------------ sources' own records


@check("customer_has_account")
def customer_has_account(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails on a subscription whose billing customer is linked to no account in any CRM."""
    if not any("Account" in ctx.frames(s) for s in CRMS):
        return pl.Series([True] * frame.height)
    links = _links(ctx).filter(
        (pl.col("source") == ctx.system)
        & (pl.col("entity") == "Account")
        & (pl.col("source_entity") == "Subscription")
    )
    return frame["customer_id"].is_in(links["source_id"].implode()) | frame["customer_id"].is_null()


@check("signup_has_person")
def signup_has_person(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails on a product user signed up from a business address (not free-mail, not a placeholder;
    in the last ``days`` days when given) with no contact or lead of that address in any CRM."""
    if not any(e in ctx.frames(s) for s in CRMS for e in ("Contact", "Lead")):
        return pl.Series([True] * frame.height)
    links = _links(ctx).filter((pl.col("source") == ctx.system) & (pl.col("source_entity") == "ProductUser"))
    email = frame["email"].cast(pl.String).str.strip_chars().str.to_lowercase()
    domain = email.str.extract(r"@([^@\s]+)$", 1)
    business = (
        email.is_not_null()
        & domain.is_not_null()
        & ~domain.is_in(list(shipped_lists().freemail)).fill_null(False)
        & ~frame.select(junk_mask(pl.col("email"))).to_series()
    )
    if params.get("days") is not None and "signed_up_at" in frame.columns:
        recent = frame["signed_up_at"] >= ctx.now - timedelta(days=int(params["days"]))
        business = business & recent.fill_null(False)
    return ~business.fill_null(False) | frame["id"].is_in(links["source_id"].implode())
