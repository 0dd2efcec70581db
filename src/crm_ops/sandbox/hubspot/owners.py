"""CRM v3 owners: the portal's users who own records (string ``id``, numeric ``userId``)."""

from __future__ import annotations

from typing import Any

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.common import JSON, HsError, HubSpotState, wire


class OwnerHandlers(HubSpotState):
    """Listing and reading owners."""

    def _owner(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(row["id"]),
            "email": row["email"],
            "type": "PERSON",
            "firstName": row["firstName"],
            "lastName": row["lastName"],
            "userId": row["userId"],
            "userIdIncludingInactive": row["userId"],
            "createdAt": wire(row["createdAt"]),
            "updatedAt": wire(row["updatedAt"]),
            "archived": bool(row["archived"]),
        }

    def list_owners(self, request: Request) -> Response:
        """GET owners: ``limit`` (max 500), ``after``, ``email``, ``archived``."""
        limit = self._limit(request.arg("limit"), 100, 500)
        archived = (request.arg("archived") or "false").lower() == "true"
        frame = self.owners.frame().filter(pl.col("archived") == archived)
        email = request.arg("email")
        if email:
            frame = frame.filter(pl.col("email").str.to_lowercase() == email.lower())
        after = request.arg("after")
        if after and after.isdigit():
            frame = frame.filter(pl.col("id") >= int(after))
        body: dict[str, Any] = {"results": [self._owner(r) for r in frame.head(limit).iter_rows(named=True)]}
        if frame.height > limit:
            nxt = str(frame["id"][limit])
            body["paging"] = {"next": {"after": nxt, "link": f"{self.base_url}/crm/v3/owners?after={nxt}"}}
        return Response.json(200, body, JSON)

    def get_owner(self, request: Request, owner_id: str) -> Response:
        """GET one owner."""
        frame = self.owners.frame()
        hit = frame.filter(pl.col("id") == int(owner_id)) if owner_id.isdigit() else frame.head(0)
        if not hit.height:
            raise HsError(404, "OBJECT_NOT_FOUND", f"owner {owner_id} not found")
        return Response.json(200, self._owner(hit.row(0, named=True)), JSON)
