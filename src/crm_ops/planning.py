"""A profile's plan, built one way for every caller: the runner, the Python API and
the command line (``crm-ops plan``) all give a plan its review defaults (the profile's ``[review]``
settings and the rules' tags) and its context (record labels, account names, URLs from the snapshots
the findings came from and the CRMs' addresses) and its relations (which objects its CRMs merge, what
points at a merged record: ``profile_relations``), so the same findings make the same plan whoever asks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from crm_ops.check import rule_set_versions, snapshot_versions
from crm_ops.config import Profile
from crm_ops.engines import state_snapshots
from crm_ops.plan import build_plan
from crm_ops.plan.context import Context, addresses
from crm_ops.plan.format import Plan
from crm_ops.plan.review import Review
from crm_ops.rules.model import Rule
from crm_ops.schema.maploading import load_map
from crm_ops.schema.relations import Relations, relations
from crm_ops.snapshots import Snapshots
from crm_ops.state import State


def profile_plan(
    profile: Profile,
    findings: pl.DataFrame,
    rules: Sequence[Rule],
    *,
    state: State,
    connector: Callable[[str], Any] | None,
    links: pl.DataFrame | None,
    frames: Mapping[str, Mapping[str, pl.DataFrame]] | Snapshots | None = None,
    now: datetime | None = None,
) -> Plan:
    """The plan of ``findings`` (rules' and matching's, one table) for ``profile``.

    ``state`` gives the snapshots the findings came from (their pull ids go in the header, their records
    give each action its label and account), ``frames`` those snapshots when the caller already read
    them (``Snapshots``: with the tables too large to hold whole left on disk), ``links`` matching's
    cross-CRM links (the twins a drift sync is between), ``connector`` the CRMs' instance addresses for
    record URLs (None: no URLs). Each action's default approval follows the profile's ``[review]``
    settings and ``rules``' tags."""
    if isinstance(frames, Snapshots):
        found = frames
    elif frames is not None:
        found = Snapshots({s: dict(f) for s, f in frames.items()})
    else:
        found = state_snapshots(state, profile)
    return build_plan(
        findings,
        profile=profile.name,
        snapshots=snapshot_versions(state),
        rules=rule_set_versions(profile),
        now=now,
        context=Context(found.frames, links, addresses(profile, connector), found.large),
        review=Review.for_rules(rules, profile.review),
        relations=profile_relations(profile),
    )


def profile_relations(profile: Profile) -> Relations:
    """The relations of ``profile``'s maps (shipped, overridden and declared, as its pulls load them):
    which objects its CRMs can merge and what points at a merged record."""
    systems = [
        s for s, settings in (("salesforce", profile.salesforce), ("hubspot", profile.hubspot)) if settings
    ]
    return relations(
        load_map(
            system,
            overrides=profile.maps.get(system),
            overrides_origin=profile.source,
            declared=profile.object_maps,
            declared_tables=profile.objects.get(system),
        )
        for system in systems
    )
