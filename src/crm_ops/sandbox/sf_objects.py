"""The emulated Salesforce objects: field metadata built from the tables in ``sf_fields``, per org.

Two orgs are described. ``crm_ops`` (the default) has crm_ops's own custom fields (the HubSpot ids,
Account tier, preferred language). ``plain`` is an org as crm_ops first meets it: standard fields only,
and field-level security hiding ``Contact.HasOptedOutOfEmail`` from the integration user.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

import polars as pl

from crm_ops.sandbox import sf_fields as data

ORGS = ("crm_ops", "plain")
# Fields the integration user cannot see in each org (field-level security).
HIDDEN: dict[str, dict[str, frozenset[str]]] = {
    "crm_ops": {},
    "plain": {"Contact": frozenset({"HasOptedOutOfEmail"})},
}

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "email": "xsd:string",
    "phone": "xsd:string",
    "picklist": "xsd:string",
    "textarea": "xsd:string",
    "url": "xsd:string",
    "boolean": "xsd:boolean",
    "currency": "xsd:double",
    "double": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
    "address": "urn:address",
}

_POLARS_TYPES: dict[str, pl.DataType] = {
    "boolean": pl.Boolean(),
    "currency": pl.Float64(),
    "double": pl.Float64(),
    "percent": pl.Float64(),
    "int": pl.Int64(),
    "date": pl.Date(),
    "datetime": pl.Datetime("ms", "UTC"),
}

# Fields the server maintains itself: never writable through the API.
SF_SYSTEM_FIELDS = frozenset(
    {
        "Id",
        "IsDeleted",
        "CreatedDate",
        "CreatedById",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
    }
)


@dataclass(frozen=True)
class SfField:
    """One Salesforce field as ``describe`` reports it."""

    name: str
    type: str
    length: int = 0
    nillable: bool = True
    updateable: bool = True
    calculated: bool = False
    compound: str | None = None
    reference_to: tuple[str, ...] = ()
    picklist: tuple[str, ...] = ()
    label: str = ""
    createable: bool = True
    defaulted_on_create: bool = False
    relationship: str | None = None
    polymorphic: bool = False
    restricted_picklist: bool = False
    extra_type_info: str | None = None
    formula: str | None = None

    @property
    def soap_type(self) -> str:
        """The ``soapType`` describe gives for this field's type."""
        return _SOAP_TYPES[self.type]

    @property
    def stored(self) -> bool:
        """False for address compounds, which are built from their parts on output.

        A person's calculated ``Name`` is stored: the store recomputes it whenever a part changes.
        """
        return self.type != "address"

    @property
    def dtype(self) -> pl.DataType:
        """The polars type the store keeps this field's values in."""
        return _POLARS_TYPES.get(self.type, pl.String())

    @property
    def custom(self) -> bool:
        """True for ``__c`` fields."""
        return self.name.endswith("__c")

    @property
    def relationship_name(self) -> str | None:
        """The name SOQL and REST answers use for the record this lookup points at."""
        if self.relationship is not None:
            return self.relationship
        if self.type == "reference" and self.name.endswith("Id"):
            return self.name[:-2]
        return None


@dataclass(frozen=True)
class SfObject:
    """One Salesforce sObject: its name, key prefix and fields, in describe order."""

    name: str
    key_prefix: str
    label: str
    fields: tuple[SfField, ...]
    soft_delete: bool = True
    label_plural: str = ""
    children: tuple[tuple[str, str, str | None, bool], ...] = ()
    by_name: dict[str, SfField] = field(init=False, repr=False, compare=False)
    by_relationship: dict[str, SfField] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name.lower(): f for f in self.fields})
        rels = {
            f.relationship_name.lower(): f
            for f in self.fields
            if f.type == "reference" and f.relationship_name
        }
        object.__setattr__(self, "by_relationship", rels)

    def field(self, name: str) -> SfField | None:
        """The field called ``name`` (case-insensitive, as SOQL is), or None."""
        return self.by_name.get(name.lower())

    def lookup(self, relationship: str) -> SfField | None:
        """The lookup field whose relationship is called ``relationship`` (``Owner``: ``OwnerId``)."""
        return self.by_relationship.get(relationship.lower())

    @property
    def stored_fields(self) -> list[SfField]:
        """Fields that are columns in the store."""
        return [f for f in self.fields if f.stored]

    def schema(self) -> dict[str, pl.DataType]:
        """The polars schema of this object's table in the store."""
        return {f.name: f.dtype for f in self.stored_fields}


def label_of(name: str) -> str:
    """A label from an API name: ``MailingPostalCode`` -> ``Mailing Postal Code``."""
    name = name.removesuffix("__c").replace("_", " ")
    out = name[0] if name else ""
    for prev, ch in itertools.pairwise(name):
        out += (" " + ch) if ch.isupper() and prev.islower() else ch
    return out


def _parse_line(obj: str, line: str, compound: str | None = None) -> SfField:
    name, kind, *flags = line.split()
    type_, _, length = kind.partition(":")
    kw: dict[str, object] = {}
    for flag in flags:
        key, _, value = flag.partition("=")
        if key == "req":
            kw["nillable"] = False
        elif key in ("ro", "calc"):
            kw["createable"] = kw["updateable"] = False
            kw["calculated"] = key == "calc"
            if key == "calc":
                kw["formula"] = data.FORMULAS.get((obj, name))
        elif key == "co":
            kw["updateable"] = False
        elif key == "doc":
            kw["defaulted_on_create"] = True
        elif key == "ref":
            kw["reference_to"] = tuple(value.split("|"))
        elif key == "rel":
            kw["relationship"] = value
        elif key == "poly":
            kw["polymorphic"] = True
        elif key == "cmp":
            kw["compound"] = value
        elif key == "pl":
            kw["picklist"] = data.PICKLISTS[value]
        elif key == "label":
            kw["label"] = value.replace("_", " ")
        elif key == "restricted":
            kw["restricted_picklist"] = True
        elif key == "xt":
            kw["extra_type_info"] = value
        else:
            raise ValueError(f"{obj}.{name}: unknown flag {flag}")
    if type_ in ("id", "reference"):
        length = "18"
    if compound is not None:
        kw.setdefault("compound", compound)
    return SfField(name, type_, length=int(length or 0), **kw)  # type: ignore[arg-type]


def _expand(obj: str, table: str) -> list[SfField]:
    out: list[SfField] = []
    for raw in table.strip().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line == "@system":
            out += [
                _parse_line(obj, "Id id req ro doc"),
                _parse_line(obj, "IsDeleted boolean req ro doc label=Deleted"),
            ]
        elif line == "@name":
            out += [
                _parse_line(obj, "LastName string:80 req cmp=Name"),
                _parse_line(obj, "FirstName string:40 cmp=Name"),
                _parse_line(obj, "Salutation picklist:40 cmp=Name pl=salutation"),
                _parse_line(obj, "Name string:121 req ro label=Full_Name xt=personname"),
            ]
        elif line.startswith("@address"):
            _, prefix, compound = line.split()
            p = prefix.strip('"')
            parts = [
                f"{p}Street textarea:255",
                f"{p}City string:40",
                f"{p}State string:80",
                f"{p}PostalCode string:20",
                f"{p}Country string:80",
                f"{p}Latitude double",
                f"{p}Longitude double",
                f"{p}GeocodeAccuracy picklist:40 pl=geocode restricted",
            ]
            out += [_parse_line(obj, part, compound) for part in parts]
            out.append(SfField(compound, "address", createable=False, updateable=False))
        elif line == "@audit":
            out += [
                _parse_line(obj, "CreatedDate datetime req ro doc"),
                _parse_line(obj, "CreatedById reference req ro doc ref=User"),
                _parse_line(obj, "LastModifiedDate datetime req ro doc"),
                _parse_line(obj, "LastModifiedById reference req ro doc ref=User"),
                _parse_line(obj, "SystemModstamp datetime req ro doc"),
            ]
        elif line == "@preferences":
            out += [
                _parse_line(obj, f"UserPreferences{n} boolean req") for n in data.USER_PREFERENCES.split()
            ]
        else:
            out.append(_parse_line(obj, line))
    return out


def _children(text: str) -> tuple[tuple[str, str, str | None, bool], ...]:
    out = []
    for item in " ".join(text.split()).split(";"):
        if item.strip():
            child, fld, rel, cascade = item.split()
            out.append((child, fld, None if rel == "-" else rel, cascade == "1"))
    return tuple(out)


@functools.cache
def salesforce_objects(org: str = "crm_ops") -> dict[str, SfObject]:
    """Every emulated object of ``org`` as its describe shows it to the integration user."""
    if org not in ORGS:
        raise ValueError(f"unknown org {org!r}; expected one of {', '.join(ORGS)}")
    hidden = HIDDEN[org]
    objects = {}
    for name, (prefix, label, plural, soft_delete, table) in data.OBJECTS.items():
        fields = _expand(name, table)
        if org == "crm_ops":
            fields += _expand(name, data.CUSTOM.get(name, ""))
        fields = [f for f in fields if f.name not in hidden.get(name, ())]
        objects[name] = SfObject(
            name,
            prefix,
            label,
            tuple(fields),
            soft_delete=soft_delete,
            label_plural=plural,
            children=_children(data.CHILDREN.get(name, "")),
        )
    return objects


SALESFORCE_OBJECTS: dict[str, SfObject] = salesforce_objects("crm_ops")

ACCOUNT_TYPES = data.PICKLISTS["account_type"]
INDUSTRIES = (
    "Technology",
    "Manufacturing",
    "Finance",
    "Healthcare",
    "Retail",
    "Education",
    "Energy",
    "Media",
    "Consulting",
    "Transportation",
    "Hospitality",
    "Telecommunications",
)
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Trade Show", "Word of mouth", "Other")
LEAD_STATUSES = data.PICKLISTS["lead_status"]
OPPORTUNITY_STAGES: dict[str, tuple[int, bool, bool]] = {
    # stage: (default probability, is closed, is won)
    "Prospecting": (10, False, False),
    "Qualification": (10, False, False),
    "Needs Analysis": (20, False, False),
    "Value Proposition": (50, False, False),
    "Id. Decision Makers": (60, False, False),
    "Perception Analysis": (70, False, False),
    "Proposal/Price Quote": (75, False, False),
    "Negotiation/Review": (90, False, False),
    "Closed Won": (100, True, True),
    "Closed Lost": (0, True, False),
}
CONTACT_ROLES = ("Decision Maker", "Economic Buyer", "Technical Buyer", "Influencer", "Evaluator", "Other")
