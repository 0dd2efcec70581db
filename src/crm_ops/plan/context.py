"""What a person reviewing a plan needs beside each action: what the record is and where it opens.

- Labels come from the snapshots the plan is built from: a contact, lead or owner is its name and
  e-mail, an account its name and domain (or website), an opportunity its name and amount; a contact's
  or opportunity's account name (a lead's company) rides along.
- The other record: a merge's survivor, a conversion's contact, an association's account, a lead
  flag's contact, and a drift sync's twin in the other CRM (from matching's links).
- URLs: Salesforce Lightning ``{instance_url}/lightning/r/{Object}/{Id}/view``; HubSpot
  ``https://{ui_domain}/contacts/{portal_id}/record/{objectTypeId}/{id}`` (0-1 contacts, 0-2
  companies, 0-3 deals). ``addresses`` finds the instance URL and the portal id: from the profile when
  it says (``salesforce.instance_url``, ``hubspot.portal_id``), else from the CRM (the signed-in
  instance; HubSpot's ``GET /account-info/v3/details``).

CRM values are data here: they are joined into labels as text and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import structlog

from crm_ops.config import Profile
from crm_ops.errors import ApiError, ConfigError
from crm_ops.layered import Snapshot
from crm_ops.plan.labels import LABEL_COLUMNS, column_texts, labels_of
from crm_ops.schema.relations import Relations

log = structlog.get_logger("crm_ops.plan")
SF_OBJECTS = {"ContactRole": "OpportunityContactRole", "Owner": "User"}
HS_TYPES = {"Contact": "0-1", "Account": "0-2", "Opportunity": "0-3"}
OTHER_ENTITY = {"associate": "Account"}  # a link's target; a merge's survivor is the same entity
ANNOTATED = ("label", "account", "url", "other_id", "other_label", "other_url")  # what annotate_table sets
LOOKUP = {
    "system": pl.String,
    "entity": pl.String,
    "record_id": pl.String,
    "label": pl.String,
    "account_ref": pl.String,
    "company": pl.String,
}
NAMES = {"system": pl.String, "account_ref": pl.String, "account_name": pl.String}
MOVE_KEY = {"system": pl.String, "entity": pl.String, "record_id": pl.String}


@dataclass(frozen=True)
class Addresses:
    """Where records open: the Salesforce instance URL and the HubSpot portal (None: unknown)."""

    instance_url: str | None = None
    portal_id: int | None = None
    ui_domain: str = "app.hubspot.com"

    def url_of(self, system: str, entity: str, record_id: str) -> pl.Expr:
        """The page in its CRM of each record in columns ``system``, ``entity`` and ``record_id`` (null when
        that is not known), a column at a time."""
        sys_, ent, rid = pl.col(system), pl.col(entity), pl.col(record_id)
        out: Any = pl.when(rid.fill_null("") == "").then(pl.lit(None, pl.String))
        if self.instance_url:
            obj = ent.replace(SF_OBJECTS)
            base = f"{self.instance_url.rstrip('/')}/lightning/r/"
            out = out.when(sys_ == "salesforce").then(
                pl.concat_str(pl.lit(base), obj, pl.lit("/"), rid, pl.lit("/view"))
            )
        if self.portal_id:
            kind = ent.replace_strict(HS_TYPES, default=None, return_dtype=pl.String)
            base = f"https://{self.ui_domain}/contacts/{self.portal_id}/record/"
            out = out.when((sys_ == "hubspot") & kind.is_not_null()).then(
                pl.concat_str(pl.lit(base), kind, pl.lit("/"), rid)
            )
        url: pl.Expr = out.otherwise(pl.lit(None, pl.String))
        return url


def addresses(profile: Profile, connector: Callable[[str], Any] | None = None) -> Addresses:
    """The profile's CRM addresses; what it does not say is asked of the CRM through ``connector``
    (a CRM that cannot be reached leaves its links blank, logged: the plan is still worth having)."""
    instance = profile.salesforce.instance_url if profile.salesforce else None
    portal = profile.hubspot.portal_id if profile.hubspot else 0
    domain = profile.hubspot.ui_domain if profile.hubspot else "app.hubspot.com"
    if profile.salesforce and not instance and connector is not None:
        try:
            instance = getattr(connector("salesforce"), "instance_url", None)
        except (ApiError, ConfigError) as exc:
            log.warning("plan.no_salesforce_links", error=str(exc))
    if profile.hubspot and not portal and connector is not None:
        try:
            info = connector("hubspot").account_info()
            portal = int(info.get("portalId") or 0)
            domain = str(info.get("uiDomain") or domain)
        except (ApiError, ConfigError, ValueError, TypeError) as exc:
            log.warning("plan.no_hubspot_links", error=str(exc))
    return Addresses(instance or None, portal or None, domain)


@dataclass
class Context:
    """The snapshots a plan is made from (by system, then entity), matching's cross-CRM links
    (entity, sf_id, hs_id), and where records open."""

    frames: Mapping[str, Mapping[str, pl.DataFrame]] = field(default_factory=dict)
    links: pl.DataFrame | None = None
    addresses: Addresses = field(default_factory=Addresses)
    # tables too large to hold whole (``crm_ops.snapshots.Snapshots.large``): only the rows and columns
    # a plan needs are read from them
    large: Mapping[str, Mapping[str, Snapshot]] = field(default_factory=dict)

    def _table(self, system: str, entity: str) -> pl.LazyFrame | None:
        frame = self.frames.get(system, {}).get(entity)
        if frame is not None:
            return frame.lazy()
        path = self.large.get(system, {}).get(entity)
        return path.scan() if path is not None else None

    def annotate_table(self, table: pl.DataFrame) -> pl.DataFrame:
        """A plan's table (``crm_ops.plan.format.ACTION_SCHEMA``) with each action's label, account name,
        other record and URLs (``ANNOTATED``), joined from the snapshots a table at a time."""
        key, columns = ["system", "entity", "record_id"], table.columns
        table = table.with_columns(self._twins_of(table)).with_columns(_other_record())
        mine = table.select(key)
        theirs = table.select(
            pl.col("o_system").alias("system"),
            pl.col("o_entity").alias("entity"),
            pl.col("o_id").alias("record_id"),
        ).drop_nulls()
        wanted = pl.concat([mine, theirs]).unique()
        found = [
            self._labelled(system, entity, ids["record_id"])
            for (system, entity), ids in wanted.group_by(["system", "entity"], maintain_order=True)
        ]
        rows = pl.concat(found) if found else pl.DataFrame(schema=LOOKUP)
        accounts = rows.filter(pl.col("account_ref").is_not_null()).select("system", "account_ref").unique()
        names = [
            self._account_names(system, ids["account_ref"])
            for (system,), ids in accounts.group_by(["system"], maintain_order=True)
        ]
        named = pl.concat(names) if names else pl.DataFrame(schema=NAMES)
        others = rows.select(
            pl.col("system").alias("o_system"),
            pl.col("entity").alias("o_entity"),
            pl.col("record_id").alias("o_id"),
            pl.col("label").alias("other_label"),
        )
        joined = (
            table.drop(ANNOTATED)
            .join(rows, on=key, how="left", maintain_order="left")
            .join(named, on=["system", "account_ref"], how="left", maintain_order="left")
            .join(others, on=["o_system", "o_entity", "o_id"], how="left", maintain_order="left")
        )
        account = (
            pl.when(pl.col("account_ref").is_not_null())
            .then(pl.col("account_name"))
            .when(pl.col("entity") == "Lead")
            .then(pl.col("company"))
        )
        return joined.with_columns(
            account.alias("account"),
            self.addresses.url_of("system", "entity", "record_id").alias("url"),
            pl.col("o_id").alias("other_id"),
            self.addresses.url_of("o_system", "o_entity", "o_id").alias("other_url"),
        ).select(columns)

    def moves(self, merges: pl.DataFrame, relations: Relations) -> pl.DataFrame:
        """For each merged-away record of ``merges`` (system, entity, record_id): its children, the live
        records of the snapshots whose parent column (``relations``) holds its id, counted by
        ``<entity>.<column>`` (``moves``: a list of {child, n}, by child; a record with none: absent),
        which the merge moves to the survivor."""
        counts = []
        for (system, entity), ids in merges.group_by(["system", "entity"], maintain_order=True):
            wanted = ids["record_id"].unique()
            for child, column in relations.children(str(system), str(entity)):
                table = self._table(str(system), child)
                names = table.collect_schema().names() if table is not None else []
                if table is None or column not in names:
                    continue
                if "is_deleted" in names:
                    table = table.filter(~pl.col("is_deleted").fill_null(False))
                parent = pl.col(column).cast(pl.String)
                found = table.filter(parent.is_in(wanted.implode())).group_by(parent.alias("record_id")).len()
                counts.append(
                    found.select(
                        pl.lit(system, pl.String).alias("system"),
                        pl.lit(entity, pl.String).alias("entity"),
                        "record_id",
                        pl.lit(f"{child}.{column}").alias("child"),
                        pl.col("len").cast(pl.Int64).alias("n"),
                    ).collect()
                )
        if not counts:
            return pl.DataFrame(
                schema={**MOVE_KEY, "moves": pl.List(pl.Struct({"child": pl.String, "n": pl.Int64}))}
            )
        return (
            pl.concat(counts)
            .sort("child")
            .group_by(list(MOVE_KEY), maintain_order=True)
            .agg(pl.struct("child", "n").alias("moves"))
        )

    def _twins_of(self, table: pl.DataFrame) -> pl.Expr:
        """The id of each drift sync's record's twin in the other CRM (matching's links), else null."""
        drift = pl.col("rule").str.starts_with("match.drift.")
        if self.links is None or self.links.is_empty() or not table.select(drift.any()).item():
            return pl.lit(None, pl.String).alias("twin")
        pairs = [
            self.links.select(
                pl.lit(system).alias("system"),
                pl.col("entity").cast(pl.String),
                pl.col(here).cast(pl.String).alias("record_id"),
                pl.col(there).cast(pl.String).alias("twin"),
            )
            for system, here, there in (("salesforce", "sf_id", "hs_id"), ("hubspot", "hs_id", "sf_id"))
        ]
        twins = (
            pl.concat(pairs)
            .drop_nulls()
            .unique(["system", "entity", "record_id"], keep="last", maintain_order=True)
        )
        found = table.select("system", "entity", "record_id").join(
            twins, on=["system", "entity", "record_id"], how="left", maintain_order="left"
        )
        return pl.when(drift).then(pl.lit(found["twin"])).alias("twin")

    def _labelled(self, system: str, entity: str, ids: pl.Series) -> pl.DataFrame:
        """The records of ``ids`` in the snapshot: each one's label (``labels_of``), account id and
        company (a lead's), as text (``LOOKUP``)."""
        table = self._table(system, entity)
        if table is None:
            return pl.DataFrame(schema=LOOKUP)
        names = table.collect_schema().names()
        columns = [c for c in ("id", "account_id", *LABEL_COLUMNS) if c in names]
        subset = (
            table.with_columns(pl.col("id").cast(pl.String))
            .filter(pl.col("id").is_in(ids.unique().implode()))
            .select(columns)
            .collect()
            .unique("id", keep="last", maintain_order=True)
        )
        texts = {c: column_texts(subset[c]) for c in columns if c not in ("id", "amount", "account_id")}
        blank = pl.Series([None] * subset.height, dtype=pl.String)
        got = {c: texts.get(c, blank) for c in LABEL_COLUMNS if c != "amount"}
        account = subset["account_id"].cast(pl.String) if "account_id" in subset.columns else blank
        label = labels_of(entity, got, subset["amount"] if "amount" in subset.columns else None)
        return pl.DataFrame(
            {
                "system": [system] * subset.height,
                "entity": [entity] * subset.height,
                "record_id": subset["id"],
                "label": label,
                "account_ref": pl.select(pl.when(pl.lit(account) != "").then(pl.lit(account))).to_series(),
                "company": got["company"],
            },
            schema=LOOKUP,
        )

    def _account_names(self, system: str, ids: pl.Series) -> pl.DataFrame:
        """The names (as text) of accounts ``ids`` of ``system`` (an account not in the snapshot: absent)."""
        table = self._table(system, "Account")
        if table is None:
            return pl.DataFrame(schema=NAMES)
        has_name = "name" in table.collect_schema().names()
        subset = (
            table.with_columns(pl.col("id").cast(pl.String))
            .filter(pl.col("id").is_in(ids.unique().implode()))
            .select("id", *(["name"] if has_name else []))
            .collect()
            .unique("id", keep="last", maintain_order=True)
        )
        name = (
            column_texts(subset["name"]) if has_name else pl.Series([None] * subset.height, dtype=pl.String)
        )
        return pl.DataFrame(
            {"system": [system] * subset.height, "account_ref": subset["id"], "account_name": name},
            schema=NAMES,
        )

    def labels(self, system: str, entity: str, ids: Iterable[str]) -> dict[str, str | None]:
        """Each record's label by id, from the snapshot (a record not in it: absent)."""
        found = self._labelled(system, entity, pl.Series(list(ids), dtype=pl.String))
        return dict(found.select("record_id", "label").iter_rows())


def _other_record() -> list[pl.Expr]:
    """The other record an action involves (``o_system``, ``o_entity``, ``o_id``; none: null): a merge's
    survivor, a conversion's contact, an association's account, a lead flag's contact, an unmerged
    duplicate's survivor, a drift sync's twin (column ``twin``) in the other CRM."""
    kind, rule, system, entity = pl.col("kind"), pl.col("rule"), pl.col("system"), pl.col("entity")
    proposed, other, twin = pl.col("proposed_value"), pl.col("other_id"), pl.col("twin")
    given, named = proposed.fill_null("") != "", other.fill_null("") != ""
    elsewhere = pl.when(system == "salesforce").then(pl.lit("hubspot")).otherwise(pl.lit("salesforce"))
    cases = [
        ((kind == "merge") & given, system, entity, proposed),
        ((kind == "convert") & given, system, pl.lit("Contact"), proposed),
        ((kind == "associate") & given, system, pl.lit(OTHER_ENTITY["associate"]), proposed),
        (
            (kind == "flag") & (rule == "match.lead_duplicates_contact") & named,
            pl.lit("salesforce"),
            pl.lit("Contact"),
            other,
        ),
        ((kind == "flag") & (rule == "match.duplicate") & named, system, entity, other),
        (twin.is_not_null(), elsewhere, entity, twin),
    ]
    out = []
    for i, name in enumerate(("o_system", "o_entity", "o_id")):
        expr: Any = pl
        for case in cases:
            expr = expr.when(case[0]).then(case[i + 1])
        out.append(expr.otherwise(pl.lit(None, pl.String)).alias(name))
    return out
