"""Controls a test turns on a running sandbox to hold the data monitors (issue 27): what happens to an
org between two nightly runs without anyone telling crm_ops.

- ``hide``: a share of an object's records disappears for the integration user, as a sharing rule or a
  profile / permission set change does: not deleted (no tombstone, ``IsDeleted`` and ``archived``
  unchanged, no change stamp moved), simply absent from every query, ``queryAll``, Bulk job, search,
  list and read (a read by id answers not found, as for a record the user may not see). ``reveal`` gives
  them back.
- ``daily_edits``: a day of ordinary work on contacts, through the CRMs' own APIs: some updates, some
  new records, some deletions, on both CRMs (the edits a sync carries from one to the other).
- ``stall``: one side of the sync stops receiving them (its connector is down): ``daily_edits`` leaves
  that CRM alone until ``resume``.
- Salesforce's recycle bin (``sfrecycle``, issue 31): ``end_recycle_window`` ends now the time
  ``queryAll`` still returns records emptied from the bin (about 24 hours in Salesforce), after which
  their values are gone from the store; ``grant_modify_all_data`` gives or takes the integration user's
  Modify All Data; ``delete_as_colleague`` deletes records as another user does in the UI (without
  Modify All Data, the integration user may not empty those from the bin).

``Sandbox.controls`` holds one, for the running sandbox.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import requests

from crm_ops.sandbox.clients import salesforce_client
from crm_ops.sandbox.sfrecycle import RecycleBin
from crm_ops.sandbox.sfwrite import SaveError, Writer
from crm_ops.sandbox.store import Store

SYSTEMS = ("salesforce", "hubspot")


class Controls:
    """The controls of one running sandbox (its two stores and the env its clients read)."""

    def __init__(
        self, salesforce: Store, hubspot: Store, env: Mapping[str, str], recycle: RecycleBin | None = None
    ) -> None:
        self.stores = {"salesforce": salesforce, "hubspot": hubspot}
        self.env = env
        self.stalled: set[str] = set()
        self.recycle = recycle

    def _bin(self) -> RecycleBin:
        if self.recycle is None:
            raise ValueError("this sandbox's Salesforce has no recycle bin to control")
        return self.recycle

    def end_recycle_window(self) -> int:
        """End now the ``queryAll`` window of every record emptied from Salesforce's recycle bin: their
        values are nulled and no query returns them again; how many."""
        return self._bin().end_window()

    def grant_modify_all_data(self, granted: bool) -> None:
        """Give (True) or take the integration user's Modify All Data permission: without it, it may empty
        from the recycle bin only the records it deleted itself."""
        self._bin().modify_all_data = granted

    def delete_as_colleague(self, obj: str, ids: list[str]) -> None:
        """Delete Salesforce records as another user of the org does in the UI (to the recycle bin, with
        what each delete reaches); raises ValueError naming a record that cannot be deleted."""
        recycle = self._bin()
        users = self.stores["salesforce"]["User"].frame()["Id"].to_list()
        colleague = next((str(u) for u in users if str(u) != recycle.user_id), None)
        if colleague is None:
            raise ValueError("the org has no other user to delete as")
        sf_obj = recycle.objects[obj]
        table = self.stores["salesforce"][sf_obj.name]
        now = recycle.now()
        for record_id in ids:
            try:
                Writer(sf_obj, table, self.stores["salesforce"].tables, colleague).delete(record_id, now)
            except SaveError as exc:
                raise ValueError(f"{obj} {record_id}: {exc}") from None
        recycle.deleted(sf_obj, ids, now, colleague)

    def _store(self, system: str) -> Store:
        if system not in self.stores:
            raise ValueError(f"system {system!r}: use one of {', '.join(SYSTEMS)}")
        return self.stores[system]

    def hide(self, system: str, obj: str, share: float, *, seed: int = 0) -> int:
        """Hide ``share`` (0-1) of the live records of ``obj`` (``Contact``, ``contacts``...) from the
        integration user, drawn with ``seed``; returns how many are hidden now."""
        if not 0 <= share <= 1:
            raise ValueError(f"share {share!r}: use a fraction from 0 to 1")
        table = self._store(system)[obj]
        frame = table.frame()
        gone = "IsDeleted" if system == "salesforce" else "archived"
        live = [i for i, dead in enumerate(frame[gone].to_list()) if not dead and i not in table.unseen]
        chosen = random.Random(seed).sample(live, round(share * (len(live) + len(table.hidden))))
        with table.lock:
            table.hidden = table.hidden | frozenset(chosen)
        return len(table.hidden)

    def reveal(self, system: str, obj: str) -> None:
        """Give the integration user back every hidden record of ``obj``."""
        table = self._store(system)[obj]
        with table.lock:
            table.hidden = frozenset()

    def stall(self, system: str) -> None:
        """Stop the sync's changes reaching ``system``: ``daily_edits`` leaves it alone."""
        self._store(system)
        self.stalled.add(system)

    def resume(self, system: str) -> None:
        """Let the sync's changes reach ``system`` again."""
        self.stalled.discard(system)

    def daily_edits(
        self, *, seed: int, updates: int = 30, creates: int = 8, deletes: int = 4, blank: str | None = None
    ) -> dict[str, int]:
        """One day of ordinary edits of contacts on each CRM the sync still reaches, through their APIs:
        ``updates`` titles changed, ``creates`` new contacts, ``deletes`` deleted. ``blank``: instead of
        the titles, empty this Salesforce Contact field / HubSpot contact property on ``updates``
        records (a broken integration writing nulls). Returns the calls made per CRM."""
        done: dict[str, int] = {}
        draw = random.Random(seed)
        if "salesforce" not in self.stalled:
            done["salesforce"] = self._salesforce_day(draw, updates, creates, deletes, blank)
        if "hubspot" not in self.stalled:
            done["hubspot"] = self._hubspot_day(draw, updates, creates, deletes, blank)
        return done

    def _salesforce_day(
        self, draw: random.Random, updates: int, creates: int, deletes: int, blank: str | None
    ) -> int:
        sf: Any = salesforce_client(self.env)
        ids = [r["Id"] for r in sf.query_all("SELECT Id FROM Contact WHERE IsDeleted = false")["records"]]
        picked = draw.sample(ids, min(len(ids), updates + deletes))
        for rid in picked[:updates]:
            sf.Contact.update(rid, {blank: None} if blank else {"Title": draw.choice(TITLES)})
        for rid in picked[updates:]:
            sf.Contact.delete(rid)
        for _ in range(creates):
            first, last = draw.choice(FIRST), draw.choice(LAST)
            n = draw.randrange(10**6)
            sf.Contact.create(
                {"FirstName": first, "LastName": last, "Email": f"{first}.{last}{n}@example.org"}
            )
        return len(picked) + creates

    def _hubspot_day(
        self, draw: random.Random, updates: int, creates: int, deletes: int, blank: str | None
    ) -> int:
        base = self.env["CRM_OPS_HUBSPOT_BASE_URL"].rstrip("/") + "/crm/v3/objects/contacts"
        session = requests.Session()
        session.trust_env = False
        session.headers["Authorization"] = f"Bearer {self.env['CRM_OPS_HUBSPOT_TOKEN']}"
        ids: list[str] = []
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 100}
            if after:
                params["after"] = after
            page = session.get(base, params=params, timeout=30)
            page.raise_for_status()
            body = page.json()
            ids += [r["id"] for r in body["results"]]
            after = (body.get("paging") or {}).get("next", {}).get("after")
            if not after:
                break
        picked = draw.sample(ids, min(len(ids), updates + deletes))
        for rid in picked[:updates]:
            values = {blank: ""} if blank else {"jobtitle": draw.choice(TITLES)}
            session.patch(f"{base}/{rid}", json={"properties": values}, timeout=30).raise_for_status()
        for rid in picked[updates:]:
            session.delete(f"{base}/{rid}", timeout=30).raise_for_status()
        for _ in range(creates):
            first, last = draw.choice(FIRST), draw.choice(LAST)
            email = f"{first}.{last}{draw.randrange(10**6)}@example.org".lower()
            props = {"firstname": first, "lastname": last, "email": email}
            session.post(base, json={"properties": props}, timeout=30).raise_for_status()
        session.close()
        return len(picked) + creates


TITLES = ("Account Executive", "CFO", "Head of Sales", "Engineer", "Office Manager", "VP Marketing")
FIRST = ("Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas")
LAST = ("Keller", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka")
