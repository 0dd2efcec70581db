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
from pathlib import Path
from typing import Any

import polars as pl
import structlog

from crm_ops.config import Profile
from crm_ops.errors import ApiError, ConfigError
from crm_ops.plan.format import Action
from crm_ops.schema.relations import Relations

log = structlog.get_logger("crm_ops.plan")
SF_OBJECTS = {"ContactRole": "OpportunityContactRole", "Owner": "User"}
HS_TYPES = {"Contact": "0-1", "Account": "0-2", "Opportunity": "0-3"}
LABEL_COLUMNS = ("first_name", "last_name", "email", "name", "domain", "website", "amount", "company", "role")
OTHER_ENTITY = {"associate": "Account"}  # a link's target; a merge's survivor is the same entity


@dataclass(frozen=True)
class Addresses:
    """Where records open: the Salesforce instance URL and the HubSpot portal (None: unknown)."""

    instance_url: str | None = None
    portal_id: int | None = None
    ui_domain: str = "app.hubspot.com"

    def url(self, system: str, entity: str, record_id: str | None) -> str | None:
        """The record's page in its CRM, or None when that is not known."""
        if not record_id:
            return None
        if system == "salesforce" and self.instance_url:
            obj = SF_OBJECTS.get(entity, entity)
            return f"{self.instance_url.rstrip('/')}/lightning/r/{obj}/{record_id}/view"
        if system == "hubspot" and self.portal_id and entity in HS_TYPES:
            return f"https://{self.ui_domain}/contacts/{self.portal_id}/record/{HS_TYPES[entity]}/{record_id}"
        return None


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
    large: Mapping[str, Mapping[str, Path]] = field(default_factory=dict)

    def _table(self, system: str, entity: str) -> pl.LazyFrame | None:
        frame = self.frames.get(system, {}).get(entity)
        if frame is not None:
            return frame.lazy()
        path = self.large.get(system, {}).get(entity)
        return pl.scan_parquet(path) if path is not None else None

    def annotate(self, actions: list[Action]) -> list[Action]:
        """``actions`` with their labels, account names, other records and URLs."""
        twins = self._twins([a for a in actions if a.rule.startswith("match.drift.")])
        others = {a.action_id: self._other(a, twins) for a in actions}
        wanted: dict[tuple[str, str], set[str]] = {}
        for a in actions:
            wanted.setdefault((a.system, a.entity), set()).add(a.record_id)
            other = others[a.action_id]
            if other is not None:
                wanted.setdefault(other[:2], set()).add(other[2])
        rows = {key: self._rows(*key, ids) for key, ids in wanted.items()}
        accounts: dict[str, set[str]] = {}
        for (system, _), found in rows.items():
            for row in found.values():
                if row.get("account_id"):
                    accounts.setdefault(system, set()).add(str(row["account_id"]))
        names = {
            system: {i: r.get("name") for i, r in self._rows(system, "Account", ids).items()}
            for system, ids in accounts.items()
        }

        def label(system: str, entity: str, record_id: str) -> str | None:
            row = rows.get((system, entity), {}).get(record_id)
            return record_label(entity, row) if row is not None else None

        out = []
        for a in actions:
            row = rows.get((a.system, a.entity), {}).get(a.record_id) or {}
            account = row.get("company") if a.entity == "Lead" else None
            if row.get("account_id"):
                account = names.get(a.system, {}).get(str(row["account_id"]))
            other = others[a.action_id]
            out.append(
                a.replace(
                    label=label(a.system, a.entity, a.record_id),
                    account=_text(account),
                    url=self.addresses.url(a.system, a.entity, a.record_id),
                    other_id=other[2] if other else None,
                    other_label=label(*other) if other else None,
                    other_url=self.addresses.url(*other) if other else None,
                )
            )
        return out

    def with_moves(self, actions: list[Action], relations: Relations) -> list[Action]:
        """``actions`` with each merge's children counted in its ``detail["moves"]``: the live records
        of the snapshots whose parent column (``relations``) holds the merged-away record's id, by
        ``<entity>.<column>`` (none: an empty table), which the merge moves to the survivor."""
        merged: dict[tuple[str, str], list[str]] = {}
        for a in actions:
            if a.kind == "merge":
                merged.setdefault((a.system, a.entity), []).append(a.record_id)
        counts: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
        for (system, entity), ids in merged.items():
            mine = counts.setdefault((system, entity), {})
            for child, column in relations.children(system, entity):
                table = self._table(system, child)
                names = table.collect_schema().names() if table is not None else []
                if table is None or column not in names:
                    continue
                if "is_deleted" in names:
                    table = table.filter(~pl.col("is_deleted").fill_null(False))
                found = (
                    table.filter(pl.col(column).cast(pl.String).is_in(ids))
                    .group_by(pl.col(column).cast(pl.String).alias("parent"))
                    .len()
                    .collect()
                )
                for parent, n in found.iter_rows():
                    mine.setdefault(str(parent), {})[f"{child}.{column}"] = int(n)
        out = []
        for a in actions:
            if a.kind != "merge":
                out.append(a)
                continue
            moves = counts.get((a.system, a.entity), {}).get(a.record_id, {})
            out.append(a.replace(detail={**(a.detail or {}), "moves": dict(sorted(moves.items()))}))
        return out

    def _twins(self, drifts: list[Action]) -> dict[tuple[str, str, str], str]:
        """(system, entity, id) -> the id of its twin in the other CRM, for the records of ``drifts``."""
        if not drifts or self.links is None or self.links.is_empty():
            return {}
        out: dict[tuple[str, str, str], str] = {}
        for system, here, there in (("salesforce", "sf_id", "hs_id"), ("hubspot", "hs_id", "sf_id")):
            ids = list({a.record_id for a in drifts if a.system == system})
            if not ids:
                continue
            found = self.links.filter(pl.col(here).is_in(ids)).select("entity", here, there)
            for entity, record_id, twin in found.iter_rows():
                out[(system, str(entity), str(record_id))] = str(twin)
        return out

    def _other(self, a: Action, twins: Mapping[tuple[str, str, str], str]) -> tuple[str, str, str] | None:
        """(system, entity, id) of the other record an action involves."""
        if a.kind == "merge" and a.proposed_value:
            return a.system, a.entity, a.proposed_value
        if a.kind == "convert" and a.proposed_value:
            return a.system, "Contact", a.proposed_value
        if a.kind == "associate" and a.proposed_value:
            return a.system, OTHER_ENTITY["associate"], a.proposed_value
        if a.kind == "flag" and a.rule == "match.lead_duplicates_contact" and a.other_id:
            return "salesforce", "Contact", a.other_id
        if a.kind == "flag" and a.rule == "match.duplicate" and a.other_id:  # no merge API: its survivor
            return a.system, a.entity, a.other_id
        twin = twins.get((a.system, a.entity, a.record_id)) if a.rule.startswith("match.drift.") else None
        if twin is not None:
            return ("hubspot" if a.system == "salesforce" else "salesforce"), a.entity, twin
        return None

    def labels(self, system: str, entity: str, ids: Iterable[str]) -> dict[str, str | None]:
        """Each record's label (``record_label``) by id, from the snapshot (a record not in it: absent)."""
        return {i: record_label(entity, row) for i, row in self._rows(system, entity, ids).items()}

    def _rows(self, system: str, entity: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        table = self._table(system, entity)
        if table is None:
            return {}
        names = table.collect_schema().names()
        columns = [c for c in ("id", "account_id", *LABEL_COLUMNS) if c in names]
        subset = table.filter(pl.col("id").is_in(list(ids))).select(columns).collect()
        return {str(r["id"]): r for r in subset.to_dicts()}


def record_label(entity: str, row: Mapping[str, Any]) -> str | None:
    """A person's name and e-mail, an account's name and domain, an opportunity's name and amount (what
    the record has of them; a record with none says so)."""
    if entity in ("Contact", "Lead", "Owner"):
        person = " ".join(x for x in (_text(row.get("first_name")), _text(row.get("last_name"))) if x)
        email = _text(row.get("email"))
        return f"{person} <{email}>" if person and email else (person or email or "(no name, no e-mail)")
    if entity == "Account":
        name, where = _text(row.get("name")), _text(row.get("domain")) or _text(row.get("website"))
        return f"{name} ({where})" if name and where else (name or where or "(no name)")
    if entity == "Opportunity":
        title, amount = _text(row.get("name")), row.get("amount")
        shown = None if amount is None else f"{amount:,.2f}".removesuffix(".00")
        return f"{title} ({shown})" if title and shown else (title or shown or "(no name)")
    if entity == "ContactRole":
        return _text(row.get("role"))
    return _text(row.get("name"))  # a declared entity (a custom object): its name, when it maps one


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None
