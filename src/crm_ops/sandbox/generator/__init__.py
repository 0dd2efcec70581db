"""A deterministic, vectorised generator of overlapping Salesforce and HubSpot data, with known defects.

``generate(SeedConfig)`` builds every table of both emulated CRMs from one seed: clean, realistic
records first (numpy + polars, no per-row Python over the whole data), then defects injected into a
chosen share of records (per-row Python only there), each recorded in a ground-truth ``Manifest``:
which record carries which defect with its bad and correct value, which records form a duplicate
cluster, which Salesforce record is which HubSpot record, and which matched fields drift apart.

Clean means clean: every value not listed in the manifest passes strict checks (lowercase valid
emails, E.164 phones valid for the record's country, ISO country and subdivision codes, proper-case
names, bare domains, consistent stages), so rule tests can hold precision to 0.99 against it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import polars as pl

from crm_ops.sandbox.generator.activities import Activities
from crm_ops.sandbox.generator.campaigns import Campaigns
from crm_ops.sandbox.generator.cases import Cases
from crm_ops.sandbox.generator.config import SeedConfig
from crm_ops.sandbox.generator.deal_copies import DealCopies
from crm_ops.sandbox.generator.defects import DEFECT_KINDS, Defects
from crm_ops.sandbox.generator.duplicates import Duplicates
from crm_ops.sandbox.generator.hard_copies import HardCopies
from crm_ops.sandbox.generator.manifest import (
    _DEFECTS_SCHEMA,
    _DRIFT_SCHEMA,
    _DUPLICATES_SCHEMA,
    _MATCHES_SCHEMA,
    DELETED_SCHEMA,
    LOOKALIKES_SCHEMA,
    Manifest,
    SeededData,
)
from crm_ops.sandbox.generator.mirror import HubSpotMirror
from crm_ops.sandbox.generator.people import People
from crm_ops.sandbox.generator.products import Products
from crm_ops.sandbox.generator.quotes import Quotes
from crm_ops.sandbox.generator.subscriptions import Subscriptions
from crm_ops.sandbox.generator.tombstones import Tombstones
from crm_ops.sandbox.objects import HUBSPOT_OBJECTS, SALESFORCE_OBJECTS, hubspot_objects, salesforce_objects

__all__ = ["DEFECT_KINDS", "Manifest", "SeedConfig", "SeededData", "generate"]


def generate(config: SeedConfig) -> SeededData:
    """Build both CRMs' tables and the manifest from ``config``: same config, same output."""
    return _Generator(config).run()


class _Generator(
    People,
    HubSpotMirror,
    Defects,
    Duplicates,
    Tombstones,
    Subscriptions,
    Cases,
    Activities,
    Campaigns,
    Products,
    Quotes,
    DealCopies,
    HardCopies,
):
    def __init__(self, config: SeedConfig) -> None:
        self.cfg = config
        self.rng = np.random.default_rng(config.seed)
        self.today = config.today
        self.sizes = config.sizes()
        self.defects: list[dict[str, Any]] = []
        self.duplicates: list[dict[str, Any]] = []
        self.drift: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- all together

    def run(self) -> SeededData:
        users, hs_owners = self.owners()
        accounts = self.accounts()
        # Reserve a few accounts, with no contacts or opportunities, to be deleted for orphan defects.
        sizes = self.sizes
        reserve = max(1, sizes["accounts"] // 50)
        self.acc["n"] = sizes["accounts"] - reserve
        self.reserved_accounts = np.arange(self.acc["n"], sizes["accounts"])
        contacts = self.contacts()
        leads = self.leads()
        opps, ocr = self.opportunities()
        sf = {
            "User": users,
            "Account": accounts,
            "Contact": contacts,
            "Lead": leads,
            "Opportunity": opps,
            "OpportunityContactRole": ocr,
        }
        hs, associations = self.hubspot(sf)
        self.acc["n"] = sizes["accounts"]
        self.inject(sf, hs)
        self.duplicate(sf)
        self.copies(sf, hs, associations)
        self.drift_pairs(sf, hs)
        self._forget_clean_records()  # the tables hold them now; later stages read the tables
        self.subscriptions(sf, hs)  # the custom objects (issue 26), on a random stream of their own
        self.cases(sf, hs)  # Salesforce cases and HubSpot tickets, on random streams of their own too
        for name, obj in SALESFORCE_OBJECTS.items():
            if name not in sf:  # the activities and campaigns come after the tombstones
                continue
            schema = obj.schema()
            sf[name] = sf[name].select(list(schema)).cast(schema)  # type: ignore[arg-type]
            # a checkbox is never null in Salesforce: unset ones are false
            sf[name] = sf[name].with_columns(pl.col(pl.Boolean).fill_null(False))
        for name, hobj in HUBSPOT_OBJECTS.items():
            if name not in hs:
                continue
            hs[name] = hs[name].select(list(hobj.schema())).cast(hobj.schema())  # type: ignore[arg-type]
        deleted = self.tombstones(sf, hs, associations)
        deleted += self.subscription_links(sf, hs, associations)
        deleted += self.case_links(sf, hs, associations)
        deleted += self.activities(sf, hs, associations)  # issue 26, on a random stream of their own
        deleted += self.campaigns(sf)  # Salesforce campaigns and members, on a random stream of their own
        deleted += self.products(sf, hs, associations)  # products and line items, a stream of their own
        deleted += self.quotes(sf, hs, associations)  # quotes, on a stream of their own too
        self.deal_copies(hs, associations)  # deals entered twice, on a random stream of their own
        # harder copies and look-alikes in every mergeable object (issue 28), last, a stream of their own
        lookalikes = self.hard_copies(sf, hs, associations)
        # What the org serves: fields and properties it does not have are simply not there.
        for name, obj in salesforce_objects(self.cfg.org).items():
            sf[name] = sf[name].select(list(obj.schema()))
        for name, hobj in hubspot_objects(self.cfg.org).items():
            hs[name] = hs[name].select(list(hobj.schema()))
        manifest = Manifest(
            defects=pl.DataFrame(self.defects, schema=_DEFECTS_SCHEMA, orient="row"),
            duplicates=pl.DataFrame(self.duplicates, schema=_DUPLICATES_SCHEMA, orient="row"),
            matches=pl.DataFrame(self.matches, schema=_MATCHES_SCHEMA, orient="row"),
            drift=pl.DataFrame(self.drift, schema=_DRIFT_SCHEMA, orient="row"),
            config={**asdict(self.cfg), "as_of": self.today.isoformat()},
            deleted=pl.DataFrame(deleted, schema=DELETED_SCHEMA, orient="row"),
            lookalikes=pl.DataFrame(lookalikes, schema=LOOKALIKES_SCHEMA, orient="row"),
        )
        return SeededData(self.cfg, sf, hs, hs_owners, associations, manifest)

    def _forget_clean_records(self) -> None:
        """Drop the clean records' value arrays (a Python string a value, more memory than the tables
        made of them) and the record-to-record maps, once the stages that read them are done."""
        for keys in (self.acc, self.con, self.lead, self.opp):
            for name in [k for k in keys if k != "n"]:
                del keys[name]
        self.company_of_account, self.hs_contact_of, self.hs_contacts_pos = {}, {}, {}
