"""Property lists too long for a GET URL: HubSpot answers 414 Request-URI Too Large (an HTML page from
its front servers) when a list call names hundreds of custom properties in its query string.

``split_for_url`` keeps the first properties (the ones the map needs, in order) in the URL up to a
budget under the smallest limit reported (8 KB; measured limits are nearer 16k characters); the rest
are read for the same records through batch read, whose property list travels in the POST body, and
joined on the record id (``join_rest``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

URL_PROPERTIES_BUDGET = 6_000  # characters of ``properties=...&`` a list call may carry

BatchRead = Callable[[list[str], list[str], bool], list[dict[str, Any]]]


def query_length(props: Sequence[str]) -> int:
    """Characters the properties take in a query string (``properties=name&`` each)."""
    return sum(len("properties=") + len(quote(p, safe="")) + 1 for p in props)


def split_for_url(props: Sequence[str], budget: int = URL_PROPERTIES_BUDGET) -> tuple[list[str], list[str]]:
    """(the properties asked in the URL, the rest to batch-read), the order kept."""
    in_url: list[str] = []
    used = 0
    for i, prop in enumerate(props):
        cost = query_length([prop])
        if used + cost > budget:
            return in_url, list(props[i:])
        in_url.append(prop)
        used += cost
    return in_url, []


def join_rest(results: list[dict[str, Any]], rest: list[str], read: BatchRead, archived: bool) -> None:
    """Fill ``rest`` into each result's properties (in place) from batch reads of the results' ids."""
    if not rest or not results:
        return
    ids = [str(r["id"]) for r in results]
    found = {str(r["id"]): r.get("properties") or {} for r in read(ids, rest, archived)}
    for r in results:
        values = found.get(str(r["id"]), {})
        props = r.setdefault("properties", {})
        for name in rest:
            props.setdefault(name, values.get(name))
