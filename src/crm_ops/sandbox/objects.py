"""The objects both emulated CRMs hold, and their id formats.

The definitions live by CRM: ``sf_objects`` (Salesforce fields, from the tables in ``sf_fields``) and
``hs_objects`` (HubSpot properties, from the data in ``hs_properties``). The Salesforce emulator builds its
``describe`` answers from them, the SOQL compiler checks field names against them, the generator fills
their columns, and the HubSpot emulator builds its properties API from them.
"""

from __future__ import annotations

import polars as pl

from crm_ops.sandbox.hs_objects import (
    ASSOCIATION_TYPES,
    DEAL_STAGES,
    HS_LEAD_STATUSES,
    HUBSPOT_OBJECTS,
    LIFECYCLE_STAGES,
    OWNERS_SCHEMA,
    PRIMARY_ASSOCIATION_TYPES,
    HsObject,
    HsProperty,
    hubspot_objects,
)
from crm_ops.sandbox.sf_objects import (
    ACCOUNT_TYPES,
    CONTACT_ROLES,
    INDUSTRIES,
    LEAD_SOURCES,
    LEAD_STATUSES,
    OPPORTUNITY_STAGES,
    SALESFORCE_OBJECTS,
    SF_SYSTEM_FIELDS,
    SfField,
    SfObject,
    salesforce_objects,
)

__all__ = [
    "ACCOUNT_TYPES",
    "ASSOCIATION_TYPES",
    "CONTACT_ROLES",
    "DEAL_STAGES",
    "HS_LEAD_STATUSES",
    "HUBSPOT_OBJECTS",
    "INDUSTRIES",
    "LEAD_SOURCES",
    "LEAD_STATUSES",
    "LIFECYCLE_STAGES",
    "OPPORTUNITY_STAGES",
    "OWNERS_SCHEMA",
    "PRIMARY_ASSOCIATION_TYPES",
    "SALESFORCE_OBJECTS",
    "SF_SYSTEM_FIELDS",
    "HsObject",
    "HsProperty",
    "SfField",
    "SfObject",
    "hubspot_objects",
    "salesforce_objects",
    "sf_id",
    "sf_id_suffix",
    "sf_ids",
    "sf_row",
]


# --------------------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------------------

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def sf_id_suffix(id15: str) -> str:
    """The 3-character case-safety suffix Salesforce appends to a 15-character id."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def sf_id(prefix: str, row: int) -> str:
    """The 18-character id of the ``row``-th record of the object with this key prefix."""
    id15 = f"{prefix}8d0{row:09d}"
    return id15 + sf_id_suffix(id15)


def sf_ids(prefix: str, start: int, count: int) -> pl.Series:
    """``sf_id`` for ``count`` consecutive rows, vectorised."""
    suffix = sf_id_suffix(f"{prefix}8d0000000000")  # digits never change the suffix
    nums = pl.int_range(start, start + count, eager=True).cast(pl.String).str.zfill(9)
    return (prefix + "8d0" + nums + suffix).alias("Id")


def sf_id_at(prefix: str, row: int) -> str:
    """``sf_ids`` of one row, without building a Series (the generator's record-at-a-time stages)."""
    return f"{prefix}8d0{row:09d}{sf_id_suffix(f'{prefix}8d0000000000')}"


def sf_row(record_id: str, prefix: str) -> int | None:
    """The row an id points at, or None when it is not one of this object's ids (15 or 18 chars)."""
    if len(record_id) not in (15, 18) or not record_id.startswith(prefix) or record_id[3:6] != "8d0":
        return None
    digits = record_id[6:15]
    if not digits.isdigit():
        return None
    if len(record_id) == 18 and record_id[15:] != sf_id_suffix(record_id[:15]):
        return None
    return int(digits)
