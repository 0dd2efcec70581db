"""The sources' links (billing customers to accounts, product users to contacts and leads) for the Spark
engine: ``crm_ops.match.sources.source_links`` itself, on the driver, over only the columns it reads.

The links are the polars linker's (stored ids, then the account matcher on name and domain; e-mail for
product users), so they equal the polars engine's. The driver holds the sources' subscriptions and
product users whole and, of each CRM, the accounts' names and domains and the contacts' and leads'
e-mail addresses: a few columns, not the records (about 60 bytes a contact). They feed the cross-source
rules and matching's ``source_links`` output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl

from crm_ops.match.sources import CRMS, SOURCE_LINK_SCHEMA, id_column, source_frames, source_links
from crm_ops.spark.frames import to_polars

if TYPE_CHECKING:
    from crm_ops.values.wordlists import WordLists

SOURCE_ENTITIES = ("Subscription", "ProductUser")
# what link_customers and link_users read of each CRM entity (the stored billing ids are added per source)
CRM_COLUMNS = {
    "Account": ("id", "is_deleted", "name", "domain", "website", "created_at"),
    "Contact": ("id", "is_deleted", "email", "created_at"),
    "Lead": ("id", "is_deleted", "is_converted", "email", "created_at"),
}


def has_sources(frames: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether any system beyond the two CRMs gives subscriptions or product users."""
    return any(source_frames(frames, e) for e in SOURCE_ENTITIES)


def source_links_spark(
    frames: Mapping[str, Mapping[str, Any]], lists: WordLists | None = None
) -> pl.DataFrame:
    """``source_links`` of Spark frames ({system: {entity: DataFrame}}), as the polars engine finds them."""
    if not has_sources(frames):
        return pl.DataFrame(schema=SOURCE_LINK_SCHEMA)
    sources = [s for s in frames if s not in CRMS]
    stored = {id_column(s) for s in sources}
    narrowed: dict[str, dict[str, pl.DataFrame]] = {}
    for system, entities in frames.items():
        for entity, frame in entities.items():
            if system in CRMS:
                wanted = set(CRM_COLUMNS.get(entity, ())) | (stored if entity == "Account" else set())
                columns = [c for c in frame.columns if c in wanted]
                if entity in CRM_COLUMNS:
                    narrowed.setdefault(system, {})[entity] = to_polars(frame.select(*columns))
            elif entity in SOURCE_ENTITIES:
                narrowed.setdefault(system, {})[entity] = to_polars(frame)
    return source_links(narrowed, lists)


__all__ = ["has_sources", "source_links_spark"]
