"""The objects both emulated CRMs hold: field metadata, storage types and id formats.

This module is the single description of what the sandbox serves. The Salesforce emulator builds its
``describe`` answers from it, the SOQL compiler checks field names against it, the generator fills its
columns, and the HubSpot emulator builds its properties API from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

# --------------------------------------------------------------------------------------------------
# Salesforce
# --------------------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class SfObject:
    """One Salesforce sObject: its name, key prefix and fields, in describe order."""

    name: str
    key_prefix: str
    label: str
    fields: tuple[SfField, ...]
    soft_delete: bool = True
    by_name: dict[str, SfField] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> SfField | None:
        """The field called ``name`` (case-insensitive, as SOQL is), or None."""
        return self.by_name.get(name.lower())

    @property
    def stored_fields(self) -> list[SfField]:
        """Fields that are columns in the store."""
        return [f for f in self.fields if f.stored]

    def schema(self) -> dict[str, pl.DataType]:
        """The polars schema of this object's table in the store."""
        return {f.name: f.dtype for f in self.stored_fields}


def _s(name: str, length: int = 255, **kw: object) -> SfField:
    return SfField(name, "string", length=length, **kw)  # type: ignore[arg-type]


def _ref(name: str, *to: str, **kw: object) -> SfField:
    return SfField(name, "reference", length=18, reference_to=to, **kw)  # type: ignore[arg-type]


def _system(*, soft_delete: bool = True) -> tuple[SfField, ...]:
    head = (SfField("Id", "id", length=18, nillable=False, updateable=False),)
    deleted = (SfField("IsDeleted", "boolean", nillable=False, updateable=False),) if soft_delete else ()
    return head + deleted


_AUDIT = (
    SfField("CreatedDate", "datetime", nillable=False, updateable=False),
    _ref("CreatedById", "User", nillable=False, updateable=False),
    SfField("LastModifiedDate", "datetime", nillable=False, updateable=False),
    _ref("LastModifiedById", "User", nillable=False, updateable=False),
    SfField("SystemModstamp", "datetime", nillable=False, updateable=False),
)


def _address(prefix: str, compound: str) -> tuple[SfField, ...]:
    return (
        SfField(f"{prefix}Street", "textarea", length=255, compound=compound),
        _s(f"{prefix}City", 40, compound=compound),
        _s(f"{prefix}State", 80, compound=compound),
        _s(f"{prefix}PostalCode", 20, compound=compound),
        _s(f"{prefix}Country", 80, compound=compound),
        SfField(compound, "address", updateable=False),
    )


def _person_name(*, last_required: bool = True) -> tuple[SfField, ...]:
    return (
        SfField(
            "Salutation",
            "picklist",
            length=40,
            compound="Name",
            picklist=("Mr.", "Ms.", "Mrs.", "Dr.", "Prof."),
        ),
        _s("FirstName", 40, compound="Name"),
        _s("LastName", 80, compound="Name", nillable=not last_required),
        SfField("Name", "string", length=121, nillable=False, updateable=False, label="Full Name"),
    )


ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")
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
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)
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

SALESFORCE_OBJECTS: dict[str, SfObject] = {
    o.name: o
    for o in (
        SfObject(
            "Account",
            "001",
            "Account",
            (
                *_system(),
                _ref("MasterRecordId", "Account", updateable=False),
                _s("Name", 255, nillable=False),
                SfField("Type", "picklist", length=255, picklist=ACCOUNT_TYPES),
                _ref("ParentId", "Account"),
                *_address("Billing", "BillingAddress"),
                SfField("Phone", "phone", length=40),
                SfField("Website", "url", length=255),
                SfField("Industry", "picklist", length=255, picklist=INDUSTRIES),
                SfField("AnnualRevenue", "currency"),
                SfField("NumberOfEmployees", "int"),
                _ref("OwnerId", "User", nillable=False),
                *_AUDIT,
                SfField("LastActivityDate", "date", updateable=False),
                _s("HubSpot_Company_Id__c", 40, label="HubSpot Company Id"),
                SfField("Account_Tier__c", "picklist", length=255, picklist=("Tier 1", "Tier 2", "Tier 3")),
            ),
        ),
        SfObject(
            "Contact",
            "003",
            "Contact",
            (
                *_system(),
                _ref("MasterRecordId", "Contact", updateable=False),
                _ref("AccountId", "Account"),
                *_person_name(),
                *_address("Mailing", "MailingAddress"),
                SfField("Phone", "phone", length=40),
                SfField("MobilePhone", "phone", length=40),
                SfField("Email", "email", length=80),
                _s("Title", 128),
                _s("Department", 80),
                SfField("LeadSource", "picklist", length=255, picklist=LEAD_SOURCES),
                SfField("HasOptedOutOfEmail", "boolean", nillable=False),
                _ref("OwnerId", "User", nillable=False),
                *_AUDIT,
                SfField("LastActivityDate", "date", updateable=False),
                _s("HubSpot_Contact_Id__c", 40, label="HubSpot Contact Id"),
                SfField(
                    "Preferred_Language__c",
                    "picklist",
                    length=255,
                    picklist=("English", "German", "French", "Spanish"),
                ),
            ),
        ),
        SfObject(
            "Lead",
            "00Q",
            "Lead",
            (
                *_system(),
                _ref("MasterRecordId", "Lead", updateable=False),
                *_person_name(),
                _s("Company", 255, nillable=False),
                _s("Title", 128),
                *_address("", "Address"),
                SfField("Phone", "phone", length=40),
                SfField("MobilePhone", "phone", length=40),
                SfField("Email", "email", length=80),
                SfField("Website", "url", length=255),
                SfField("LeadSource", "picklist", length=255, picklist=LEAD_SOURCES),
                SfField("Status", "picklist", length=255, nillable=False, picklist=LEAD_STATUSES),
                SfField("Industry", "picklist", length=255, picklist=INDUSTRIES),
                _ref("OwnerId", "User", nillable=False),
                SfField("IsConverted", "boolean", nillable=False, updateable=False),
                SfField("ConvertedDate", "date", updateable=False),
                _ref("ConvertedAccountId", "Account", updateable=False),
                _ref("ConvertedContactId", "Contact", updateable=False),
                _ref("ConvertedOpportunityId", "Opportunity", updateable=False),
                *_AUDIT,
                _s("HubSpot_Contact_Id__c", 40, label="HubSpot Contact Id"),
            ),
        ),
        SfObject(
            "Opportunity",
            "006",
            "Opportunity",
            (
                *_system(),
                _ref("AccountId", "Account"),
                _s("Name", 120, nillable=False),
                SfField("Amount", "currency"),
                SfField("CloseDate", "date", nillable=False),
                SfField(
                    "StageName", "picklist", length=255, nillable=False, picklist=tuple(OPPORTUNITY_STAGES)
                ),
                SfField("Probability", "percent"),
                SfField("Type", "picklist", length=255, picklist=("New Business", "Existing Business")),
                SfField("LeadSource", "picklist", length=255, picklist=LEAD_SOURCES),
                SfField("IsClosed", "boolean", nillable=False, updateable=False),
                SfField("IsWon", "boolean", nillable=False, updateable=False),
                _ref("OwnerId", "User", nillable=False),
                *_AUDIT,
                _s("HubSpot_Deal_Id__c", 40, label="HubSpot Deal Id"),
            ),
        ),
        SfObject(
            "OpportunityContactRole",
            "00K",
            "Opportunity Contact Role",
            (
                *_system(),
                _ref("OpportunityId", "Opportunity", nillable=False, updateable=False),
                _ref("ContactId", "Contact", nillable=False),
                SfField("Role", "picklist", length=40, picklist=CONTACT_ROLES),
                SfField("IsPrimary", "boolean", nillable=False),
                *_AUDIT,
            ),
        ),
        SfObject(
            "User",
            "005",
            "User",
            (
                *_system(soft_delete=False),
                _s("Username", 80, nillable=False),
                *_person_name()[1:],
                SfField("Email", "email", length=128, nillable=False),
                _s("Alias", 8, nillable=False),
                SfField("IsActive", "boolean", nillable=False),
                _s("Title", 80),
                _s("Department", 80),
                *_AUDIT,
            ),
            soft_delete=False,
        ),
    )
}


# --------------------------------------------------------------------------------------------------
# HubSpot
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HsProperty:
    """One HubSpot property as the properties API reports it."""

    name: str
    type: str  # string | number | datetime | date | enumeration | bool
    field_type: str  # text | number | date | select | booleancheckbox | phonenumber | textarea
    label: str
    group: str = "contactinformation"
    options: tuple[str, ...] = ()
    read_only: bool = False
    calculated: bool = False

    @property
    def dtype(self) -> pl.DataType:
        """The polars type the store keeps this property's values in."""
        return {
            "number": pl.Float64(),
            "datetime": pl.Datetime("ms", "UTC"),
            "date": pl.Date(),
            "bool": pl.Boolean(),
        }.get(self.type, pl.String())


@dataclass(frozen=True)
class HsObject:
    """One HubSpot CRM object type: its name, id range and properties."""

    name: str
    object_type_id: str
    id_base: int
    properties: tuple[HsProperty, ...]
    modified_property: str = "hs_lastmodifieddate"
    by_name: dict[str, HsProperty] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {p.name: p for p in self.properties})

    def schema(self) -> dict[str, pl.DataType]:
        """The polars schema of this object's table: ``id``, the properties, and archive state."""
        cols: dict[str, pl.DataType] = {"id": pl.Int64()}
        cols.update({p.name: p.dtype for p in self.properties if p.name != "hs_object_id"})
        cols["archived"] = pl.Boolean()
        cols["archivedAt"] = pl.Datetime("ms", "UTC")
        return cols

    @property
    def default_properties(self) -> tuple[str, ...]:
        """What a list or read returns when no ``properties`` are asked for (as HubSpot does)."""
        return _DEFAULT_PROPERTIES[self.name]


def _p(name: str, label: str, type_: str = "string", field_type: str = "text", **kw: object) -> HsProperty:
    return HsProperty(name, type_, field_type, label, **kw)  # type: ignore[arg-type]


def _hs_system() -> tuple[HsProperty, ...]:
    return (
        _p("hs_object_id", "Record ID", "number", "number", read_only=True),
        _p("createdate", "Create Date", "datetime", "date", read_only=True),
        _p("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
        _p("hubspot_owner_id", "Owner", "enumeration", "select"),
    )


LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
HS_LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
)
DEAL_STAGES: dict[str, tuple[float, bool, bool]] = {
    # stage id: (probability, is closed, is won), the default sales pipeline
    "appointmentscheduled": (0.2, False, False),
    "qualifiedtobuy": (0.4, False, False),
    "presentationscheduled": (0.6, False, False),
    "decisionmakerboughtin": (0.8, False, False),
    "contractsent": (0.9, False, False),
    "closedwon": (1.0, True, True),
    "closedlost": (0.0, True, False),
}

HUBSPOT_OBJECTS: dict[str, HsObject] = {
    o.name: o
    for o in (
        HsObject(
            "contacts",
            "0-1",
            100_000_000,
            (
                *_hs_system(),
                _p("lastmodifieddate", "Last Modified Date (legacy)", "datetime", "date", read_only=True),
                _p("email", "Email"),
                _p("firstname", "First Name"),
                _p("lastname", "Last Name"),
                _p("phone", "Phone Number", field_type="phonenumber"),
                _p("mobilephone", "Mobile Phone Number", field_type="phonenumber"),
                _p("company", "Company Name"),
                _p("jobtitle", "Job Title"),
                _p("address", "Street Address"),
                _p("city", "City"),
                _p("state", "State/Region"),
                _p("zip", "Postal Code"),
                _p("country", "Country/Region"),
                _p("website", "Website URL"),
                _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=LIFECYCLE_STAGES),
                _p("hs_lead_status", "Lead Status", "enumeration", "radio", options=HS_LEAD_STATUSES),
                _p("associatedcompanyid", "Primary Associated Company ID", "number", "number"),
                _p("salesforcecontactid", "Salesforce Contact ID", group="salesforceinformation"),
                _p("salesforceleadid", "Salesforce Lead ID", group="salesforceinformation"),
                _p("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", read_only=True),
            ),
            modified_property="lastmodifieddate",
        ),
        HsObject(
            "companies",
            "0-2",
            200_000_000,
            (
                *_hs_system(),
                _p("name", "Name", group="companyinformation"),
                _p("domain", "Company Domain Name", group="companyinformation"),
                _p("website", "Website URL", group="companyinformation"),
                _p("phone", "Phone Number", field_type="phonenumber", group="companyinformation"),
                _p("address", "Street Address", group="companyinformation"),
                _p("city", "City", group="companyinformation"),
                _p("state", "State/Region", group="companyinformation"),
                _p("zip", "Postal Code", group="companyinformation"),
                _p("country", "Country/Region", group="companyinformation"),
                _p("industry", "Industry", group="companyinformation"),
                _p(
                    "numberofemployees", "Number of Employees", "number", "number", group="companyinformation"
                ),
                _p("annualrevenue", "Annual Revenue", "number", "number", group="companyinformation"),
                _p("lifecyclestage", "Lifecycle Stage", "enumeration", "radio", options=LIFECYCLE_STAGES),
                _p("salesforceaccountid", "Salesforce Account ID", group="salesforceinformation"),
                _p("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", read_only=True),
            ),
        ),
        HsObject(
            "deals",
            "0-3",
            300_000_000,
            (
                *_hs_system(),
                _p("dealname", "Deal Name", group="dealinformation"),
                _p("amount", "Amount", "number", "number", group="dealinformation"),
                _p("closedate", "Close Date", "datetime", "date", group="dealinformation"),
                _p(
                    "dealstage",
                    "Deal Stage",
                    "enumeration",
                    "radio",
                    group="dealinformation",
                    options=tuple(DEAL_STAGES),
                ),
                _p(
                    "pipeline",
                    "Pipeline",
                    "enumeration",
                    "select",
                    group="dealinformation",
                    options=("default",),
                ),
                _p(
                    "dealtype",
                    "Deal Type",
                    "enumeration",
                    "radio",
                    group="dealinformation",
                    options=("newbusiness", "existingbusiness"),
                ),
                _p(
                    "hs_deal_stage_probability",
                    "Deal probability",
                    "number",
                    "number",
                    group="dealinformation",
                ),
                _p("salesforceopportunityid", "Salesforce Opportunity ID", group="salesforceinformation"),
                _p("hs_merged_object_ids", "Merged Record IDs", "enumeration", "checkbox", read_only=True),
            ),
        ),
    )
}

_DEFAULT_PROPERTIES = {
    "contacts": ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
}

# Association type ids of the v4 API (HUBSPOT_DEFINED category), by (from, to).
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
}
PRIMARY_ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
}
OWNERS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "email": pl.String(),
    "firstName": pl.String(),
    "lastName": pl.String(),
    "userId": pl.Int64(),
    "createdAt": pl.Datetime("ms", "UTC"),
    "updatedAt": pl.Datetime("ms", "UTC"),
    "archived": pl.Boolean(),
}


# --------------------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------------------

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def sf_id_suffix(id15: str) -> str:
    """The 3-character case-safety suffix Salesforce appends to a 15-character id."""
    out = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def sf_id(prefix: str, row: int) -> str:
    """The 18-character id of the ``row``-th record of the object with this key prefix."""
    id15 = f"{prefix}8d0{row:09d}"
    return id15 + sf_id_suffix(id15)


def sf_ids(prefix: str, start: int, count: int) -> pl.Series:
    """``sf_id`` for ``count`` consecutive rows, vectorised."""
    suffix = sf_id_suffix(f"{prefix}8d0000000000")  # digits never change the suffix
    nums = pl.int_range(start, start + count, eager=True).cast(pl.String).str.zfill(9)
    return (prefix + "8d0" + nums + suffix).alias("Id")


def sf_row(record_id: str, prefix: str) -> int | None:
    """The row an id points at, or None when it is not one of this object's ids (15 or 18 chars)."""
    if len(record_id) not in (15, 18) or not record_id.startswith(prefix) or record_id[3:6] != "8d0":
        return None
    digits = record_id[6:15]
    if not digits.isdigit():
        return None
    if len(record_id) == 18 and record_id[15:] != sf_id_suffix(record_id[:15]):
        return None
    return int(digits)
