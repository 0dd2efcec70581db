"""Records that point at others: a contact's account, a record's owner, an opportunity's contacts,
a HubSpot contact's Salesforce lead."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.rules.library.lookups import FREEMAIL, account_domains, live_ids
from crm_ops.rules.library.registry import check, fixer, proposals
from crm_ops.values.domains import email_domain_expr

if TYPE_CHECKING:
    from crm_ops.rules.model import RuleContext


@check("account_exists")
def account_exists(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the record has no account, or its account is deleted or missing."""
    column = params.get("field", "account_id")
    return pl.col(column).is_in(live_ids(ctx, "Account").implode()).fill_null(False)


@fixer("account_by_email_domain")
def account_by_email_domain(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """The live account whose domain is the contact's e-mail domain (when exactly one has it)."""
    domains = account_domains(ctx).filter(pl.col("account_id").is_in(live_ids(ctx, "Account").implode()))
    unique = domains.group_by("account_domain").agg(pl.col("account_id").first(), pl.len().alias("n"))
    unique = unique.filter(pl.col("n") == 1).drop("n")
    if "email" not in rows.columns:
        return proposals(rows, pl.lit(None, pl.String), 0.0)
    # where no account carries the domain (its website may be wrong too), the account most colleagues
    # writing from that domain belong to
    contacts = ctx.frame("Contact")
    colleagues = (
        contacts.select("is_deleted", "account_id", "email").filter(
            ~pl.col("is_deleted") & pl.col("account_id").is_in(live_ids(ctx, "Account").implode())
        )
        .select(email_domain_expr("email").alias("account_domain"), "account_id")
        .filter(pl.col("account_domain").is_not_null() & ~pl.col("account_domain").is_in(list(FREEMAIL)))
        .group_by("account_domain", "account_id").len()
        .sort(["account_domain", "len", "account_id"], descending=[False, True, False])
        .unique("account_domain", keep="first").select("account_domain", pl.col("account_id").alias("__peer"))
    )  # fmt: skip
    joined = (
        rows.with_columns(email_domain_expr("email").alias("__d"))
        .join(unique.rename({"account_id": "__acc"}), left_on="__d", right_on="account_domain", how="left")
        .join(colleagues, left_on="__d", right_on="account_domain", how="left")
    )
    best = pl.coalesce("__acc", "__peer")
    conf = pl.when(pl.col("__acc").is_not_null()).then(0.8).when(pl.col("__peer").is_not_null()).then(0.7)
    return proposals(joined, best, conf.otherwise(0.0))


@fixer("account_by_contact_role")
def account_by_contact_role(rows: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.DataFrame:
    """An opportunity's account from its contacts' live accounts (when they agree)."""
    roles, contacts = ctx.frame("ContactRole"), ctx.frame("Contact")
    if roles.is_empty() or contacts.is_empty():
        return proposals(rows, pl.lit(None, pl.String), 0.0)
    live = live_ids(ctx, "Account").implode()
    accounts = (
        roles.filter(~pl.col("is_deleted")).select("opportunity_id", "contact_id")
        .join(contacts.select(pl.col("id").alias("contact_id"), "account_id"), on="contact_id")
        .filter(pl.col("account_id").is_in(live))
        .group_by("opportunity_id").agg(pl.col("account_id").unique().alias("a"))
        .filter(pl.col("a").list.len() == 1).with_columns(pl.col("a").list.first())
    )  # fmt: skip
    joined = rows.join(accounts, left_on="id", right_on="opportunity_id", how="left")
    return proposals(joined, pl.col("a"), pl.when(pl.col("a").is_null()).then(0.0).otherwise(0.85))


@check("owner_active")
def owner_active(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when the record's owner is inactive or is not a known user."""
    owners = ctx.frame("Owner")
    if owners.is_empty():
        return pl.lit(True)
    active = owners.filter(pl.col("is_active").fill_null(True) & ~pl.col("is_deleted"))["id"].implode()
    return pl.col("owner_id").is_in(active) | pl.col("owner_id").is_null()


@check("has_contact_role")
def has_contact_role(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Expr:
    """Fails when an open opportunity has no contact on it."""
    roles = ctx.frame("ContactRole")
    with_people = (
        roles.filter(~pl.col("is_deleted"))["opportunity_id"].unique().implode()
        if roles.height
        else pl.Series([], dtype=pl.String).implode()
    )
    return pl.col("id").is_in(with_people) | pl.col("is_closed").fill_null(False)


@check("lifecycle_matches_lead")
def lifecycle_matches_lead(frame: pl.DataFrame, ctx: RuleContext, params: Mapping[str, Any]) -> pl.Series:
    """Fails when a HubSpot contact's lifecycle stage contradicts its Salesforce lead (converted or not)."""
    leads = ctx.frame("Lead", "salesforce")
    if leads.is_empty() or "linked_lead_id" not in frame.columns:
        return pl.Series([True] * frame.height)
    early = list(params.get("early_stages", ["subscriber", "lead"]))
    late = list(params.get("late_stages", ["opportunity", "customer", "evangelist"]))
    dead = list(params.get("dead_statuses", ["Closed - Not Converted", "Unqualified"]))
    joined = (
        frame.select("linked_lead_id", "lifecycle_stage")
        .with_row_index("__row")
        .join(
            leads.select(pl.col("id").alias("linked_lead_id"), "is_converted", "status"),
            on="linked_lead_id",
            how="left",
        )
        .sort("__row")
    )
    bad = (joined["is_converted"].fill_null(False) & joined["lifecycle_stage"].is_in(early)) | (
        joined["status"].is_in(dead) & joined["lifecycle_stage"].is_in(late)
    )
    return ~bad.fill_null(False)
