"""Whether a Salesforce write whose answer was lost happened: looked up before it is sent again.

A merge, an undelete or a lead conversion sent twice is refused the second time (ENTITY_IS_DELETED,
UNDELETE_FAILED, a lead already converted), which would journal a write that landed as ``failed``.
After a call that got no answer (``errors.unanswered``), and on a refusal that may be our own earlier
write, the records are read back, deleted ones included (``queryAll``):

- a merge landed when every record of the call is in the recycle bin with ``MasterRecordId`` = the
  master (``merged_into``);
- an undelete landed for each record no longer deleted;
- a conversion landed for each lead converted into the very contact and account asked for.

``SalesforceLookups`` is a mixin of ``SalesforceWrites``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from crm_ops.connectors import sfsoap
from crm_ops.connectors.base import Conversion
from crm_ops.connectors.sfsoql import READ_BATCH, soql_quote
from crm_ops.schema.fieldmap import EntityMap


class SalesforceLookups:
    """Reading back what a write whose answer was lost did, for ``SalesforceWrites``."""

    if TYPE_CHECKING:

        def _records(self, soql: str, endpoint: str = "query") -> list[dict[str, Any]]: ...
        def _map(self, entity: str) -> EntityMap: ...

    def _read_all(self, object_name: str, ids: Sequence[str], fields: str) -> dict[str, dict[str, Any]]:
        """``fields`` of the records ``ids``, deleted ones included, by id."""
        out: dict[str, dict[str, Any]] = {}
        unique = sorted(set(ids))
        for start in range(0, len(unique), READ_BATCH):
            chunk = ", ".join(soql_quote(i) for i in unique[start : start + READ_BATCH])
            # the fields and object are ours, the ids quoted
            soql = f"SELECT Id, {fields} FROM {object_name} WHERE Id IN ({chunk})"  # noqa: S608
            out.update({str(r["Id"]): r for r in self._records(soql, "queryAll")})
        return out

    def merged_into(self, entity: str, survivor: str, losers: Sequence[str]) -> set[str]:
        """The ``losers`` the org shows merged into ``survivor``: in the recycle bin with
        ``MasterRecordId`` = the survivor."""
        found = self._read_all(self._map(entity).object, losers, "IsDeleted, MasterRecordId")
        return {
            i
            for i in losers
            if found.get(i, {}).get("IsDeleted") and found[i].get("MasterRecordId") == survivor
        }

    def _merge_landed(
        self, object_name: str, survivor: str, losers: Sequence[str]
    ) -> Callable[[], list[sfsoap.SoapResult] | None]:
        """The lookup for a merge call: its answer as Salesforce gave it, when every record is merged."""

        def landed() -> list[sfsoap.SoapResult] | None:
            found = self._read_all(object_name, losers, "IsDeleted, MasterRecordId")
            if all(
                found.get(i, {}).get("IsDeleted") and found[i].get("MasterRecordId") == survivor
                for i in losers
            ):
                return [sfsoap.SoapResult(id=survivor, success=True, merged=tuple(losers))]
            return None

        return landed

    def _live(self, object_name: str, ids: Sequence[str]) -> set[str]:
        """The records of ``ids`` that are not deleted (an undelete landed)."""
        found = self._read_all(object_name, ids, "IsDeleted")
        return {i for i in ids if i in found and not found[i].get("IsDeleted")}

    def _undelete_landed(
        self, object_name: str, ids: Sequence[str]
    ) -> Callable[[], list[sfsoap.SoapResult] | None]:
        """The lookup for an undelete call: its answer, when every record is out of the recycle bin."""

        def landed() -> list[sfsoap.SoapResult] | None:
            live = self._live(object_name, ids)
            if len(live) < len(ids):
                return None  # sent again: the ones out already answer UNDELETE_FAILED, taken as done
            return [sfsoap.SoapResult(id=i, success=True) for i in ids]

        return landed

    def _converted(self, conversions: Sequence[Conversion]) -> dict[str, sfsoap.SoapResult]:
        """The conversions the org shows done: the lead converted into that contact and account."""
        found = self._read_all(
            "Lead",
            [c.lead_id for c in conversions],
            "IsConverted, ConvertedContactId, ConvertedAccountId, ConvertedOpportunityId",
        )
        out = {}
        for c in conversions:
            lead = found.get(c.lead_id) or {}
            if lead.get("IsConverted") and (
                lead.get("ConvertedContactId"),
                lead.get("ConvertedAccountId"),
            ) == (
                c.contact_id,
                c.account_id,
            ):
                ids = {"leadId": c.lead_id, "contactId": c.contact_id, "accountId": c.account_id}
                out[c.lead_id] = sfsoap.SoapResult(id=c.lead_id, success=True, ids=ids)
        return out

    def _convert_landed(
        self, conversions: Sequence[Conversion]
    ) -> Callable[[], list[sfsoap.SoapResult] | None]:
        """The lookup for a convertLead call: its answer, when every lead is converted as asked."""

        def landed() -> list[sfsoap.SoapResult] | None:
            done = self._converted(conversions)
            if len(done) < len(conversions):
                return None
            return [done[c.lead_id] for c in conversions]

        return landed
