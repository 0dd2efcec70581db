"""Cross-CRM compatibility of linked fields (issue 27): the linked records whose values the other CRM
will not take.

A record linked to its copy in the other CRM (its ``linked_id`` set: the CRMs' own sync ids) has its
synced columns written there by the CRMs' sync and by the tool's drift fixes. ``incompatible_values``
finds, per synced column, the values one side holds that the other side's field refuses: a value its
picklist or options lack (``monitor.compat.value_not_in_options``), a text longer than its length
(``monitor.compat.too_long``). Each is a warning naming how many records hold such values and the most
common ones: those records will not sync until one side changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from crm_ops.connectors.orgmeta import ObjectMeta, full
from crm_ops.monitors import MonitorFinding

KIND = "monitor.compat."
EXAMPLES = 3  # values named in a finding's message


def _examples(counts: pl.DataFrame) -> str:
    shown = [f"{v!r} ({n:,})" for v, n in counts.head(EXAMPLES).iter_rows()]
    more = f" and {counts.height - EXAMPLES} more" if counts.height > EXAMPLES else ""
    return ", ".join(shown) + more


def incompatible_values(
    entity: str,
    holder: str,
    frame: pl.DataFrame,
    other: str,
    other_meta: ObjectMeta,
    other_fields: Mapping[str, str],
    columns: Iterable[str],
) -> list[MonitorFinding]:
    """Findings for the linked records of ``frame`` (``holder``'s snapshot of ``entity``, canonical
    columns) whose value in a synced column ``other``'s field (``other_fields``: column -> field name,
    described by ``other_meta``) will not take."""
    if "linked_id" not in frame.columns:
        return []
    linked = frame.filter(pl.col("linked_id").is_not_null())
    if "is_deleted" in linked.columns:
        linked = linked.filter(~pl.col("is_deleted").fill_null(False))
    found: list[MonitorFinding] = []
    for column in columns:
        name = other_fields.get(column)
        if name is None or name not in other_meta or column not in linked.columns:
            continue
        if linked.schema[column] != pl.String:
            continue
        meta = full(other_meta[name])
        values = linked.select(pl.col(column).alias("value")).drop_nulls().filter(pl.col("value") != "")
        affects = (f"drift sync match.drift.{column}", f"map {other} {entity}.{name} -> {entity}.{column}")
        where = f"linked {holder} {entity} records"
        if meta["picklist"] and meta["type"] in ("picklist", "enumeration"):
            off = values.filter(~pl.col("value").is_in(meta["picklist"]))
            if off.height:
                counts = off.group_by("value").len().sort(["len", "value"], descending=[True, False])
                found.append(
                    MonitorFinding(
                        monitor=KIND + "value_not_in_options",
                        system=holder,
                        entity=entity,
                        severity="warning",
                        message=f"{off.height:,} {where} hold {column} values {other} {entity}.{name} "
                        f"does not offer: {_examples(counts)}; they will not sync",
                        field=column,
                        observed=f"{off.height:,} records",
                        expected=f"{other} {name} options: {', '.join(meta['picklist'][:10])}",
                        affects=affects,
                    )
                )
        if meta["length"]:
            long = values.filter(pl.col("value").str.len_chars() > meta["length"])
            if long.height:
                longest = int(long["value"].str.len_chars().max() or 0)  # type: ignore[arg-type]
                found.append(
                    MonitorFinding(
                        monitor=KIND + "too_long",
                        system=holder,
                        entity=entity,
                        severity="warning",
                        message=f"{long.height:,} {where} hold {column} values longer than {other} "
                        f"{entity}.{name} allows ({meta['length']} characters; the longest has {longest}): "
                        "they will not sync",
                        field=column,
                        observed=f"{long.height:,} records, longest {longest}",
                        expected=f"at most {meta['length']}",
                        affects=affects,
                    )
                )
    return found


__all__ = ["KIND", "incompatible_values"]
