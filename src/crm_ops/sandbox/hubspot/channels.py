"""What a contact's read-only e-mail properties are written through, as HubSpot serves them:

- secondary addresses (``hs_additional_emails``, ``;``-separated): the contacts API v1
  ``PUT /contacts/v1/secondary-email/{vid}/email/{email}`` adds one, ``DELETE`` the same path removes
  it; each answers ``{"portalId", "vid", "secondaryEmails"}``. A merge adds the merged contact's
  address (and its own secondaries) to the primary's, and a new contact whose address a live contact
  holds, as its e-mail or a secondary one, is refused (409 CONFLICT), as in HubSpot;
- the opt-out from all e-mail (``hs_email_optout``): communication preferences v4
  ``POST /communication-preferences/v4/statuses/{email}/unsubscribe-all?channel=EMAIL`` opts the
  address out (every live contact whose e-mail it is); HubSpot's API does not let crm-ops subscribe it
  again, and the emulator has no route that would.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import polars as pl

from crm_ops.sandbox.http import Request, Response
from crm_ops.sandbox.hubspot.common import BLOCKLISTED, JSON, HsError
from crm_ops.sandbox.hubspot.records import RecordModel
from crm_ops.sandbox.store import Table

SECONDARY = "hs_additional_emails"
OPT_OUT = "hs_email_optout"


def emails(value: Any) -> list[str]:
    """The addresses of a ``;``-separated property value."""
    return [p.strip() for p in str(value or "").split(";") if p.strip()]


class ChannelHandlers(RecordModel):
    """Secondary e-mail addresses and the opt-out from all e-mail."""

    def _contact_row(self, vid: str) -> int:
        obj, table = self._object("contacts")
        row = self._row(obj, table, vid)
        if row is None:
            raise HsError(404, "OBJECT_NOT_FOUND", f"contact {vid} does not exist")
        return row

    def _secondary_answer(self, vid: str, row: int) -> Response:
        _, table = self._object("contacts")
        record = table.row(row) or {}
        body = {"portalId": self.portal_id, "vid": int(vid), "secondaryEmails": emails(record.get(SECONDARY))}
        return Response.json(200, body, JSON)

    def add_secondary_email(self, request: Request, vid: str, email: str) -> Response:
        """PUT a secondary address on a contact (already there: nothing changes)."""
        address = unquote(email).strip()
        if "@" not in address:
            raise HsError(400, "VALIDATION_ERROR", f"{address!r} is not a valid email address")
        if self._blocklisted(address):  # "primary or additional": neither comes back (``gdpr``)
            raise HsError(400, "VALIDATION_ERROR", BLOCKLISTED)
        obj, table = self._object("contacts")
        row = self._contact_row(vid)
        with table.lock:
            record = table.row(row) or {}
            have = emails(record.get(SECONDARY))
            if address.lower() not in {e.lower() for e in have}:
                table.update(row, {SECONDARY: ";".join([*have, address]), **self._modified(obj, self.now())})
        return self._secondary_answer(vid, row)

    def remove_secondary_email(self, request: Request, vid: str, email: str) -> Response:
        """DELETE a secondary address from a contact (not there: nothing changes)."""
        address = unquote(email).strip().lower()
        obj, table = self._object("contacts")
        row = self._contact_row(vid)
        with table.lock:
            record = table.row(row) or {}
            have = emails(record.get(SECONDARY))
            kept = [e for e in have if e.lower() != address]
            if len(kept) != len(have):
                table.update(row, {SECONDARY: ";".join(kept) or None, **self._modified(obj, self.now())})
        return self._secondary_answer(vid, row)

    def unsubscribe_all(self, request: Request, email: str) -> Response:
        """POST unsubscribe-all for an address on the EMAIL channel: its contacts are opted out."""
        if (request.arg("channel") or "EMAIL").upper() != "EMAIL":
            raise HsError(400, "VALIDATION_ERROR", "only the EMAIL channel is emulated")
        address = unquote(email).strip().lower()
        obj, table = self._object("contacts")
        now = self.now()
        frame = table.frame().with_row_index("_row")
        hits = frame.filter(
            ~pl.col("archived")
            & (pl.col("email").cast(pl.String).str.to_lowercase().str.strip_chars() == address)
        )
        if not hits.height:
            raise HsError(404, "OBJECT_NOT_FOUND", f"no contact has the address {address}")
        with table.lock:
            for row in hits["_row"].to_list():
                table.update(int(row), {OPT_OUT: True, **self._modified(obj, now)})
        stamp = now.isoformat().replace("+00:00", "Z")
        result = {"subscriberIdString": address, "channel": "EMAIL", "status": "UNSUBSCRIBED",
                  "wideStatusType": "PORTAL_WIDE", "timestamp": stamp}  # fmt: skip
        return Response.json(200, {"status": "COMPLETE", "results": [result], "startedAt": stamp,
                                   "completedAt": stamp}, JSON)  # fmt: skip


def address_holders(table: Table, addresses: list[str]) -> dict[str, int]:
    """The live contacts holding any of ``addresses`` as their e-mail or a secondary one, by address."""
    wanted = {a.strip().lower() for a in addresses if a and a.strip()}
    if not wanted:
        return {}
    frame = table.frame().filter(~pl.col("archived"))
    out: dict[str, int] = {}
    folded = pl.col("email").cast(pl.String).str.to_lowercase().str.strip_chars()
    for record_id, email in frame.filter(folded.is_in(list(wanted))).select("id", "email").iter_rows():
        out[str(email).strip().lower()] = int(record_id)
    if SECONDARY in frame.columns:
        held = frame.filter(pl.col(SECONDARY).is_not_null()).select("id", SECONDARY)
        for record_id, value in held.iter_rows():
            for e in emails(value):
                if e.lower() in wanted:
                    out.setdefault(e.lower(), int(record_id))
    return out
