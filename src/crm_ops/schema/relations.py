"""Which objects a CRM can merge, and which records point at a record: what a merge needs to know.

``MERGE_APIS`` is the one list of the objects crm_ops merges: those whose CRM has a merge API *and*
whose merge the connectors carry out and undo (Salesforce's ``merge()`` for Account, Contact and Lead;
HubSpot's ``/crm/v3/objects/<type>/merge`` for contacts, companies, deals and tickets). Salesforce merges
cases too, but only on its Merge Cases page and in Apex: its API's ``merge()`` takes accounts, contacts
and leads (and person accounts, individuals), so a duplicate case is flagged for a person
(``NO_API_MERGE``).
``CRM_MERGE_APIS`` is what the CRMs' merge APIs take; today the two are the same, and an object a CRM
merges that the connectors did not (yet) would be named as such in a flag's reason. A duplicate of an
object with no merge at all (a custom object, an opportunity in Salesforce, a campaign) is for a person
to merge by hand or to delete one of: ``crm_ops.plan.build`` makes it a ``flag`` action, never a merge
that apply could not carry out.

A merge moves the merged-away record's children to the survivor: the records whose parent column holds
its id. The core entities' parent columns are ``CORE_PARENTS``; a map's own (``parent:`` in a declared
object's map: a subscription's account) come from the maps (``crm_ops.schema.fieldmap.EntityMap.parents``).
``Relations`` holds both for the maps a profile pulls with, and the CRM object each entity reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

from crm_ops.schema.fieldmap import SYSTEMS, FieldMap
from crm_ops.schema.maploading import load_map

# what each CRM's merge API takes
CRM_MERGE_APIS: Mapping[str, frozenset[str]] = {
    "salesforce": frozenset({"Account", "Contact", "Lead"}),
    "hubspot": frozenset({"contacts", "companies", "deals", "tickets"}),
}
# of those, what apply merges and undo unmerges (connectors/sfwrite.py, connectors/hswrite.py)
MERGE_APIS: Mapping[str, frozenset[str]] = {
    "salesforce": frozenset({"Account", "Contact", "Lead"}),
    "hubspot": frozenset({"contacts", "companies", "deals", "tickets"}),
}
# objects a CRM merges only in its own pages, not through its API: how a person merges them
NO_API_MERGE: Mapping[tuple[str, str], str] = {
    ("salesforce", "Case"): "Salesforce merges cases on the case's Merge Cases page (or in Apex), not "
    "through its API",
}
CRM_NAMES = {"salesforce": "Salesforce", "hubspot": "HubSpot"}
# child entity -> {its column holding a parent's id: the parent entity}, for the core entities
CORE_PARENTS: Mapping[str, Mapping[str, str]] = {
    "Account": {"parent_id": "Account"},
    "Contact": {"account_id": "Account"},
    "Opportunity": {"account_id": "Account"},
    "ContactRole": {"contact_id": "Contact", "opportunity_id": "Opportunity"},
}


def has_merge_api(system: str, obj: str) -> bool:
    """Whether crm_ops merges ``system``'s records of object ``obj`` (``MERGE_APIS``)."""
    return obj in MERGE_APIS.get(system, frozenset())


@dataclass(frozen=True)
class Relations:
    """The CRM object of each (system, entity) and each system's parent references: (child entity,
    column, parent entity)."""

    objects: Mapping[tuple[str, str], str] = field(default_factory=dict)
    parents: Mapping[str, tuple[tuple[str, str, str], ...]] = field(default_factory=dict)

    def object_of(self, system: str, entity: str) -> str | None:
        """The CRM object ``entity`` reads in ``system`` (None: no map of this CRM has it)."""
        return self.objects.get((system, entity))

    def mergeable(self, system: str, entity: str) -> bool:
        """Whether ``system`` has a merge API for the object ``entity`` reads."""
        obj = self.object_of(system, entity)
        return obj is not None and has_merge_api(system, obj)

    def no_merge(self, system: str, entity: str) -> str:
        """Why a duplicate of ``entity`` is not merged by crm_ops, for the person who will."""
        obj = self.object_of(system, entity) or entity
        crm = CRM_NAMES.get(system, system)
        if (system, obj) in NO_API_MERGE:
            return f"duplicates; {NO_API_MERGE[system, obj]}: merge by hand or close one"
        if obj in CRM_MERGE_APIS.get(system, frozenset()):
            return f"duplicates; crm_ops does not merge {crm} {obj} yet: merge by hand or delete one"
        return f"duplicates; {crm} has no merge for {obj}: merge by hand or delete one"

    def children(self, system: str, entity: str) -> list[tuple[str, str]]:
        """(child entity, column) of every parent reference to ``entity`` in ``system``."""
        return [(child, column) for child, column, parent in self.parents.get(system, ()) if parent == entity]


def relations(maps: Iterable[FieldMap]) -> Relations:
    """The relations of ``maps`` (each CRM's, as a pull loads them: shipped plus declared), with the
    core entities' parent references."""
    objects: dict[tuple[str, str], str] = {}
    parents: dict[str, dict[tuple[str, str, str], None]] = {}
    for fmap in maps:
        mine = parents.setdefault(fmap.system, {})
        for child, columns in CORE_PARENTS.items():
            if child in fmap.entities:
                mine.update({(child, column, parent): None for column, parent in columns.items()})
        for entity, emap in fmap.entities.items():
            objects[(fmap.system, entity)] = emap.object
            mine.update({(entity, column, parent): None for column, parent in emap.parents().items()})
    return Relations(objects, {system: tuple(refs) for system, refs in parents.items()})


@cache
def shipped_relations() -> Relations:
    """The relations of the shipped maps of both CRMs (no declared objects)."""
    return relations(load_map(system) for system in SYSTEMS)
