"""``crm-ops discover``: object map files for the objects an org holds that no map reads (issue 26).

Doctor lists the org's objects with their record counts and the entity that reads each
(``connectors.inventory``). ``discover_maps`` writes, for the custom objects no map reads (or the objects
named), a YAML object map per CRM that a profile enables with ``object_maps = ["<file>"]``:

- the entity's name from the object's API name (``Project_Task__c`` -> ``ProjectTask``, ``p_projects``
  -> ``Projects``), made unique against the entities already known;
- Salesforce: ``Name`` required, every other field optional under a snake_case column (``Start_Date__c``
  -> ``start_date``; a lookup's ends in ``_id``: ``Account__c`` -> ``account_id``), but the system
  fields the pull maps by itself (Id, SystemModstamp, IsDeleted, CreatedDate, OwnerId), the audit ones
  (CreatedById, LastModified*, LastViewed*, LastReferenced*) and compound fields (an address, a
  location: their parts are fields of their own); a lookup to an object the profile maps becomes a
  parent reference (``{field: Account__c, parent: Account}``);
- HubSpot: the type's own properties (those HubSpot did not define) and its primary display property
  (required, as ``name``); an association the schema declares to contacts, companies or deals becomes a
  parent reference (``{association: companies, parent: Account}``).

Columns are typed from the CRM's metadata at pull time, so the file names fields only. Each file says
where it came from and is checked by loading it before it is written; an existing file is never
replaced without ``force``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crm_ops import durable
from crm_ops.config import Profile
from crm_ops.connectors.inventory import OrgObject, hubspot_inventory, salesforce_inventory
from crm_ops.errors import ConfigError
from crm_ops.pull import connect
from crm_ops.rules.names import nearest
from crm_ops.schema.entities import entity_names
from crm_ops.schema.maploading import load_map

SF_SKIP = {
    "Id", "SystemModstamp", "IsDeleted", "CreatedDate", "OwnerId", "CreatedById", "LastModifiedById",
    "LastModifiedDate", "LastViewedDate", "LastReferencedDate", "LastActivityDate",
}  # fmt: skip
SF_COMPOUND = {"address", "location", "base64", "anyType"}
# HubSpot object types a custom object's association maps to a core entity
HS_PARENTS = {
    "0-1": ("contacts", "Contact", "contact_id"),
    "0-2": ("companies", "Account", "account_id"),
    "0-3": ("deals", "Opportunity", "opportunity_id"),
}
SYSTEM_COLUMNS = ("id", "updated_at", "is_deleted", "created_at", "owner_id")


@dataclass
class Discovered:
    """One CRM's discovered object map: the file, the entities it declares (object -> entity)."""

    system: str
    path: Path
    entities: dict[str, str] = field(default_factory=dict)
    text: str = ""


def snake(name: str) -> str:
    """A field's column name: ``Start_Date__c`` -> ``start_date``, ``MRRAmount__c`` -> ``mrr_amount``."""
    base = re.sub(r"__c$", "", name)
    base = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", base)
    base = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", base)
    return re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_") or "field"


def entity_name(obj: str, taken: set[str], system: str = "salesforce") -> str:
    """An entity name for object ``obj`` (``Project_Task__c`` -> ``ProjectTask``), unique among ``taken``
    (a name already used gets the CRM's prefix: ``SfProjectTask``, ``HsProjects``)."""
    base = re.sub(r"__c$", "", obj)
    base = re.sub(r"^p\d*_", "", base)
    name = "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", base) if part)
    name = name if name[:1].isalpha() else f"Object{name}"
    if name in taken:
        name = ("Sf" if system == "salesforce" else "Hs") + name
    while name in taken:
        name += "Object"
    return name


def _salesforce_entity(conn: Any, obj: OrgObject, parents: dict[str, str]) -> dict[str, Any]:
    fields = conn.object_describe(obj.name).get("fields", [])
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    used: set[str] = set()
    for f in fields:
        name, kind = str(f["name"]), str(f.get("type", ""))
        if name in SF_SKIP or kind in SF_COMPOUND or f.get("compoundFieldName") in SF_SKIP:
            continue
        column = "name" if name == "Name" else snake(name)
        if kind == "reference" and not column.endswith("_id"):
            column += "_id"  # a lookup holds a record's id: Account__c -> account_id
        while column in used or column in SYSTEM_COLUMNS:
            column += "_field"
        used.add(column)
        targets = [parents[t] for t in f.get("referenceTo") or [] if t in parents]
        source: Any = (
            {"field": name, "parent": targets[0]} if kind == "reference" and len(targets) == 1 else name
        )
        (required if name == "Name" else optional)[column] = source
    out: dict[str, Any] = {"object": obj.name}
    if required:
        out["required"] = required
    out["optional"] = optional
    return out


def _hubspot_entity(conn: Any, obj: OrgObject, schema: dict[str, Any]) -> dict[str, Any]:
    primary = str(schema.get("primaryDisplayProperty") or "")
    required: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    for p in conn.object_properties(obj.type_id or obj.name):
        name = str(p["name"])
        if name == primary:
            required["name"] = name
        elif not p.get("hubspotDefined") and not p.get("archived"):
            column = snake(name)
            while column in optional or column in (*SYSTEM_COLUMNS, "name"):
                column += "_property"  # two properties one snake_case name apart, or a system column's
            optional[column] = name
    for assoc in schema.get("associations") or []:
        other = str(assoc.get("toObjectTypeId") or "")
        if other in HS_PARENTS:
            to, parent, column = HS_PARENTS[other]
            optional.setdefault(column, {"association": to, "parent": parent})
    out: dict[str, Any] = {"object": obj.name}
    if required:
        out["required"] = required
    out["optional"] = optional
    return out


def discover_maps(
    profile: Profile,
    folder: Path,
    *,
    objects: Sequence[str] = (),
    systems: Sequence[str] | None = None,
    force: bool = False,
) -> list[Discovered]:
    """Write ``folder/discovered-<system>.yaml`` for each CRM of ``profile`` (or ``systems``): the
    custom objects no map reads, or the objects named in ``objects`` (API names). Returns what each file
    declares; a CRM with nothing to declare writes no file. Raises ``ConfigError`` for an object named
    that the org does not have (with the nearest names), or a file that exists without ``force``."""
    wanted = set(objects)
    out: list[Discovered] = []
    taken = set(entity_names())
    seen: set[str] = set()
    for system in systems or profile.systems():
        conn: Any = connect(profile, system)
        try:
            inventory = salesforce_inventory(conn) if system == "salesforce" else hubspot_inventory(conn)
            seen |= {o.name for o in inventory} | {o.type_id for o in inventory if o.type_id}
            named = [o for o in inventory if o.name in wanted or (o.type_id or "") in wanted]
            mapped = [f"{o.name} (mapped to {o.entity})" for o in named if o.entity]
            if mapped:
                raise ConfigError(f"discover: {', '.join(mapped)} already mapped; its map is the one to edit")
            # a Salesforce org's custom objects end in __c (its __Share, __History, __Feed, __mdt and __x
            # objects are the platform's, not records a team keeps)
            unmapped = [
                o
                for o in inventory
                if o.custom and not o.entity and (system != "salesforce" or o.name.endswith("__c"))
            ]
            chosen = named if wanted else unmapped
            parents = {o.name: o.entity for o in inventory if o.entity}
            schemas = {
                str(s.get("objectTypeId")): s
                for s in (conn.custom_object_types() if system == "hubspot" else [])
            }
            entities: dict[str, Any] = {}
            found = Discovered(system, folder / f"discovered-{system}.yaml")
            for o in chosen:
                name = entity_name(o.name, taken, system)
                taken.add(name)
                if system == "salesforce":
                    entities[name] = _salesforce_entity(conn, o, parents)
                else:
                    entities[name] = _hubspot_entity(conn, o, schemas.get(o.type_id or "", {}))
                found.entities[o.name] = name
        finally:
            conn.close()
        if entities:
            found.text = _file_text(system, entities)
            out.append(found)
    missing = sorted(wanted - seen)
    if missing:
        problems = []
        for m in missing:
            near = nearest(m, seen)
            problems.append(
                f"discover: the org has no object {m!r} the integration user can read"
                + (f"; did you mean {near!r}?" if near else "")
            )
        raise ConfigError(problems)
    for found in out:
        if found.path.exists() and not force:
            raise ConfigError(f"{found.path} exists; add --force to replace it (or choose another folder)")
    for found in out:
        # written beside its place and loaded first: a map that would not load never replaces a file
        checking = found.path.with_name(f".{found.path.stem}.checking.yaml")
        durable.write_text(checking, found.text)
        try:
            load_map(found.system, declared=[checking])
        except ConfigError as exc:  # a bug of ours: say so rather than leave a map that will not load
            checking.unlink()
            raise ConfigError(f"discover made a map that does not load ({exc}); please report it") from exc
        checking.replace(found.path)
    return out


def _file_text(system: str, entities: dict[str, Any]) -> str:
    head = (
        f"# Object map discovered by `crm-ops discover` from the {system} org's metadata: review it, rename\n"
        "# the entities and columns as your team says them, drop the fields you do not need, then enable it\n"
        '# in a profile with  object_maps = ["<this file>"]. Columns are typed from the org\'s metadata at\n'
        "# pull time; `parent:` columns hold the id of a record of that entity.\n"
    )
    return head + yaml.safe_dump(
        {"system": system, "entities": entities}, sort_keys=False, width=110, default_flow_style=None
    )
