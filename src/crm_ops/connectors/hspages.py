"""HubSpot's answers as the pull reads them: records (list, search and batch-read pages) as the rows the
field map is applied to, and v4 association batch reads as frames of links (issue 30: the pull's CPU per
page).

Records are parsed by orjson and each answer's own ``properties`` dict becomes its row (``rows``): polars
builds the part's frame from them at once. Association answers (1,000 records a call, their link types
nested three deep) go to polars' JSON reader with the schema given (``decode_links``), about half the
CPU of orjson and a Python loop over each link; an answer polars refuses (a value of another JSON type
than the API documents, a body that is not JSON) is read by orjson and walked link by link
(``links_of``), so the links are the same either way and a proxy's page in place of the answer is still
reported as one (the caller's ``parse``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from crm_ops.connectors.hsapi import parse_stamp

PRIMARY_TYPES = (1, 2, 5, 6)  # the association type ids of a primary link (contact/deal/ticket to company)
S = pl.String()
LINKS = {"from_id": S, "to_id": S, "primary": pl.Boolean()}


def rows(results: list[dict[str, Any]], modified: str) -> list[dict[str, Any]]:
    """Each record's properties (the answer's own dict: the frame takes the columns it wants, a property
    the answer lacks is null) with its id and archived flag; a tombstone's ``modified`` stamp is the later
    of it and its ``archivedAt`` (a tombstone is as recent as its deletion)."""
    out = []
    for r in results:
        row = r.get("properties") or {}
        row["hs_object_id"] = str(r.get("id") or row.get("hs_object_id"))
        archived = bool(r.get("archived"))
        row["archived"] = "true" if archived else "false"
        if archived and r.get("archivedAt"):
            stamps = [s for s in (row.get(modified), r["archivedAt"]) if s]
            row[modified] = max(stamps, key=parse_stamp)
        out.append(row)
    return out


@dataclass(frozen=True)
class Links:
    """One association answer: each link (``from_id``, ``to_id``, ``primary``) in the answer's order, and
    the records whose links go on in another page (``{"id", "after"}``, to ask again)."""

    frame: pl.DataFrame
    pending: list[dict[str, str]]


def _links_schema() -> dict[str, pl.DataType]:
    kind = pl.Struct({"typeId": pl.Int64(), "label": S})
    link = pl.Struct({"toObjectId": S, "associationTypes": pl.List(kind)})
    paging = pl.Struct({"next": pl.Struct({"after": S})})
    return {
        "results": pl.List(pl.Struct({"from": pl.Struct({"id": S}), "to": pl.List(link), "paging": paging}))
    }


def decode_links(raw: bytes) -> Links | None:
    """A v4 association batch read's links, None when polars cannot read it (see the module)."""
    if not raw:
        return None
    try:
        top = pl.read_json(io.BytesIO(raw), schema=_links_schema())
    except pl.exceptions.PolarsError:
        return None
    if top.height != 1:
        return None
    results = top.lazy().select(pl.col("results").explode()).drop_nulls().unnest("results")
    kind = pl.element().struct
    primary = kind.field("typeId").is_in(PRIMARY_TYPES) | (kind.field("label") == "Primary")
    link = pl.col("to").struct
    frame = (  # one collect: polars costs about as much per call as for the whole answer
        results.select(pl.col("from").struct.field("id").alias("from_id"), "to")
        .explode("to")
        .drop_nulls("to")
        .select(
            "from_id",
            link.field("toObjectId").alias("to_id"),
            link.field("associationTypes")
            .list.eval(primary.fill_null(False))
            .list.any()
            .fill_null(False)
            .alias("primary"),
        )
        .collect()
    )
    if frame["from_id"].null_count() or frame["to_id"].null_count():
        return None  # a link without its ids: orjson's way says what is wrong
    pending: list[dict[str, str]] = []
    if b'"paging"' in raw:  # some record's links go on in another page (rare: over 500 links)
        cursor = pl.col("paging").struct.field("next").struct.field("after")
        paged = results.select(pl.col("from").struct.field("id"), cursor).filter(pl.col("after") != "")
        pending = [{"id": record, "after": token} for record, token in paged.collect().iter_rows()]
    return Links(frame, pending)


def links_of(body: Any) -> Links:
    """``Links`` of an association answer parsed by orjson."""
    found: list[tuple[str, str, bool]] = []
    pending: list[dict[str, str]] = []
    for result in (body if isinstance(body, dict) else {}).get("results", []):
        record = str(result["from"]["id"])
        after = ((result.get("paging") or {}).get("next") or {}).get("after")
        if after:
            pending.append({"id": record, "after": str(after)})
        for to in result.get("to", []):
            kinds = to.get("associationTypes") or []
            primary = any(
                k.get("typeId") in PRIMARY_TYPES or (k.get("label") or "") == "Primary" for k in kinds
            )
            found.append((record, str(to["toObjectId"]), primary))
    return Links(pl.DataFrame(found, schema=LINKS, orient="row"), pending)


def primary_of(links: pl.DataFrame, ids: pl.Series) -> pl.Series:
    """For each of ``ids``, its primary linked id: the first link marked primary, else its first link;
    null for a record without links."""
    chosen = links.group_by("from_id", maintain_order=True).agg(
        pl.col("to_id").filter(pl.col("primary")).first().fill_null(pl.col("to_id").first())
    )
    return ids.replace_strict(chosen["from_id"], chosen["to_id"], default=None, return_dtype=S)


def read_links(parse: Callable[[Any], Any]) -> Callable[[Any], Links]:
    """The reader of a raw association answer: ``decode_links`` on its bytes, else ``links_of`` on what
    ``parse`` makes of it (the connector's JSON parse, which also tells a proxy's page from an answer)."""

    def read(response: Any) -> Links:
        return decode_links(response.data) or links_of(parse(response))

    return read
