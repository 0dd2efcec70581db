"""What real orgs refuse when records are saved, and the records that make them refuse (issue 15), laid
over the Salesforce emulator's write paths (sObject PATCH, composite collections, Bulk 2.0 ingest).

``SaveRules.check`` is the emulator's save guard (``SalesforceState.save_guard``): every update is put to
it after the emulator's own validation, with what the request carried:

- duplicate rules (``RealWorld.duplicate_rules``): an update that gives a contact or lead the e-mail of
  another live record of its object, or an account the name of another live account, answers
  DUPLICATES_DETECTED with the ``duplicateResult`` Salesforce sends (rule, ``matchResults`` naming each
  matched record). The rules alert rather than block: a REST or composite request carrying
  ``Sforce-Duplicate-Rule-Header: allowSave=true`` saves; Bulk API jobs take no such header and are
  always refused;
- a validation rule written after the records (``FaultProfile.rate_validation``): that share of
  contacts, accounts, leads and opportunities created over a year ago (chosen by their id, so always
  the same ones) fail every edit with FIELD_CUSTOM_VALIDATION_EXCEPTION and the rule's message;
- row locks (``FaultProfile.rate_lock_row``): UNABLE_TO_LOCK_ROW, drawn per record and attempt (another
  transaction holds the record or its parent); in a Bulk job, records whose parent (AccountId) is also
  written by another of the job's 200-record chunks, which Salesforce runs in parallel, meet it ten
  times as often.

Seeding (``seed_salesforce``): ``converted_leads`` (a share of leads converted, onto a contact and its
account) and ``person_accounts`` (``Account.IsPersonAccount``, read-only, true for a share of accounts;
the emulator refuses their Name, as Salesforce does).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl

from crm_ops.sandbox.sf_objects import SfField, SfObject
from crm_ops.sandbox.sfwrite import SaveError
from crm_ops.sandbox.store import Store

if TYPE_CHECKING:
    from crm_ops.sandbox.http import FaultProfile

DUPLICATE_RULES = {
    "Contact": ("Email", "Standard_Contact_Duplicate_Rule", "Standard_Contact_Match_Rule_v1_1"),
    "Lead": ("Email", "Standard_Lead_Duplicate_Rule", "Standard_Lead_Match_Rule_v1_0"),
    "Account": ("Name", "Standard_Account_Duplicate_Rule", "Standard_Account_Match_Rule_v1_0"),
}
DUPLICATE_ALERT = "You're creating a duplicate record. We recommend you use an existing record instead."
VALIDATED = ("Contact", "Account", "Lead", "Opportunity")
VALIDATION_MESSAGE = "Region is required since the 2024 territory clean-up: choose one before saving."
CHUNK = 200  # records of a Bulk job Salesforce processes together (chunks run in parallel)
CONTENDED = 10  # how much more often a record meets a locked row when its parent is in another chunk


class _Draws(Protocol):
    def hit(self, kind: str, rate: float) -> bool: ...


def duplicate_rule_header(value: str | None) -> bool:
    """Whether a ``Sforce-Duplicate-Rule-Header`` value asks to save despite alerts."""
    parts = {
        p.split("=", 1)[0].strip().lower(): p.partition("=")[2].strip().lower()
        for p in (value or "").split(",")
    }
    return parts.get("allowsave") == "true"


@dataclass(frozen=True)
class SaveContext:
    """What the request carried that a save rule looks at."""

    allow_duplicates: bool = False  # Sforce-Duplicate-Rule-Header: allowSave=true (REST and composite)
    contended: bool = False  # a Bulk record whose parent another chunk of the job writes too
    api_version: str = "59.0"


class SaveRules:
    """The save guard of the Salesforce emulator (see the module)."""

    def __init__(
        self, store: Store, faults: FaultProfile, draws: _Draws, seed: int, *, duplicates: bool, now: Any
    ) -> None:
        self.store = store
        self.faults = faults
        self.draws = draws
        self.seed = seed
        self.duplicates = duplicates
        self.now = now

    def check(
        self, obj: SfObject, current: Mapping[str, Any], changes: Mapping[str, Any], context: SaveContext
    ) -> SaveError | None:
        """The refusal of this update, or None to save it."""
        record_id = str(current.get("Id") or "")
        f = self.faults
        if f.rate_lock_row > 0:
            rate = min(1.0, f.rate_lock_row * (CONTENDED if context.contended else 1))
            if self.draws.hit("lock_row", rate):
                return SaveError(
                    "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record or 1 records: {record_id}",
                )
        old = obj.name in VALIDATED and f.rate_validation > 0 and self._old(current)
        if old and self._sticky(record_id) < f.rate_validation:
            self.draws.hit("validation", 1.0)  # counted
            return SaveError("FIELD_CUSTOM_VALIDATION_EXCEPTION", VALIDATION_MESSAGE)
        if self.duplicates and obj.name in DUPLICATE_RULES and not context.allow_duplicates:
            field, rule, match_rule = DUPLICATE_RULES[obj.name]
            value = changes.get(field)
            if value:
                matched = self._matches(obj.name, field, str(value), record_id)
                if matched:
                    self.draws.hit("duplicates", 1.0)  # counted
                    return _duplicates(obj.name, rule, match_rule, matched, context.api_version)
        return None

    def _old(self, current: Mapping[str, Any]) -> bool:
        created = current.get("CreatedDate")
        return isinstance(created, datetime) and created < self.now() - timedelta(days=365)

    def _sticky(self, record_id: str) -> float:
        """A draw in [0, 1) that is always the same for a record (and seed)."""
        return zlib.crc32(f"{self.seed}:{record_id}".encode()) / 2**32

    def _matches(self, name: str, field: str, value: str, record_id: str) -> list[str]:
        frame = self.store[name].frame()
        hits = frame.filter(
            (pl.col(field).str.to_lowercase() == value.strip().lower())
            & ~pl.col("IsDeleted")
            & (pl.col("Id") != record_id)
        )
        return [str(i) for i in hits["Id"].head(5).to_list()]


def _duplicates(name: str, rule: str, match_rule: str, matched: list[str], version: str) -> SaveError:
    """DUPLICATES_DETECTED with the ``duplicateResult`` Salesforce sends (an alerting rule)."""
    records = [
        {
            "additionalInformation": [],
            "fieldDiffs": [],
            "matchConfidence": 100.0,
            "record": {
                "attributes": {"type": name, "url": f"/services/data/v{version}/sobjects/{name}/{rid}"},
                "Id": rid,
            },
        }
        for rid in matched
    ]
    extra = {
        "duplicateResult": {
            "allowSave": True,
            "duplicateRule": rule,
            "duplicateRuleEntityType": name,
            "errorMessage": DUPLICATE_ALERT,
            "matchResults": [
                {
                    "entityType": name,
                    "errors": [],
                    "matchEngine": "ExactMatchEngine",
                    "matchRecords": records,
                    "rule": match_rule,
                    "size": len(records),
                    "success": True,
                }
            ],
        }
    }
    return SaveError("DUPLICATES_DETECTED", "Use one of these records?", (), extra)


# ---------------------------------------------------------------------------------------------- seeding


def seed_salesforce(
    objects: dict[str, SfObject],
    tables: dict[str, pl.DataFrame],
    *,
    converted_leads: float,
    person_accounts: float,
    seed: int,
) -> None:
    """Converted leads and person accounts, in ``objects`` and ``tables`` (in place)."""
    rng = np.random.default_rng(seed + 2)
    if converted_leads > 0 and "Lead" in tables and "Contact" in tables:
        leads, contacts = tables["Lead"], tables["Contact"]
        live = contacts.filter(~pl.col("IsDeleted") & pl.col("AccountId").is_not_null())
        chosen = (rng.random(leads.height) < converted_leads) & ~leads["IsDeleted"].to_numpy()
        if live.height and chosen.any():
            picks = rng.integers(0, live.height, leads.height)
            contact_ids = live["Id"].gather(picks)
            account_ids = live["AccountId"].gather(picks)
            mask = pl.Series(chosen)
            tables["Lead"] = leads.with_columns(
                pl.when(mask).then(True).otherwise(pl.col("IsConverted")).alias("IsConverted"),
                pl.when(mask).then(pl.lit("Closed - Converted")).otherwise(pl.col("Status")).alias("Status"),
                pl.when(mask)
                .then(pl.col("LastModifiedDate").dt.date())
                .otherwise(pl.col("ConvertedDate"))
                .alias("ConvertedDate"),
                pl.when(mask)
                .then(contact_ids)
                .otherwise(pl.col("ConvertedContactId"))
                .alias("ConvertedContactId"),
                pl.when(mask)
                .then(account_ids)
                .otherwise(pl.col("ConvertedAccountId"))
                .alias("ConvertedAccountId"),
            )
    if person_accounts > 0 and "Account" in tables:
        field = SfField(
            "IsPersonAccount",
            "boolean",
            nillable=False,
            updateable=False,
            createable=False,
            defaulted_on_create=True,
            label="Is Person Account",
        )
        objects["Account"] = replace(objects["Account"], fields=(*objects["Account"].fields, field))
        accounts = tables["Account"]
        tables["Account"] = accounts.with_columns(
            pl.Series("IsPersonAccount", rng.random(accounts.height) < person_accounts, dtype=pl.Boolean)
        )
