"""The canonical entities every connector pulls into: one polars schema per entity, the same for both CRMs.

Ids are strings whatever the CRM (HubSpot's numeric ids included), times are UTC milliseconds, money and
percentages are floats (a probability is 0-100 in both CRMs once mapped). A column a CRM has no source
for is present and null, so frames from both CRMs stack. Custom fields ride along as extra ``custom_*``
string columns after these.

Beyond these, a profile may declare entities of its own (issue 26): a Salesforce custom object
(``Subscription__c``), a standard object not yet mapped, a HubSpot custom object type. Their maps
(``crm_ops.schema.fieldmap``, from the YAML files a profile names in ``object_maps``) declare their
columns; ``declare`` records each one's schema here, so that ``columns``, ``empty`` and ``is_entity``
answer for them as for the core ones. A declared entity starts with ``COMMON`` like every other.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

STR = pl.String()
BOOL = pl.Boolean()
FLOAT = pl.Float64()
INT = pl.Int64()
DATE = pl.Date()
TIME = pl.Datetime("ms", "UTC")

# Every entity starts with these; the map of each CRM must give the first three.
COMMON: dict[str, pl.DataType] = {
    "id": STR,
    "updated_at": TIME,
    "is_deleted": BOOL,
    "source_system": STR,
    "created_at": TIME,
    "owner_id": STR,
    # the id this record carries of its twin in the other CRM (HubSpot_Contact_Id__c, salesforcecontactid)
    "linked_id": STR,
}
REQUIRED = ("id", "updated_at", "is_deleted")
CUSTOM_PREFIX = "custom_"

_ADDRESS: dict[str, pl.DataType] = {
    "street": STR,
    "city": STR,
    "state": STR,
    "postal_code": STR,
    "country": STR,
}

ENTITIES: dict[str, dict[str, pl.DataType]] = {
    "Account": {
        **COMMON,
        "name": STR,
        "website": STR,
        "domain": STR,
        "phone": STR,
        **_ADDRESS,
        "industry": STR,
        "type": STR,
        "employees": INT,
        "annual_revenue": FLOAT,
        "parent_id": STR,
        # other domains of the company, ;-separated (HubSpot's hs_additional_domains)
        "additional_domains": STR,
        "lifecycle_stage": STR,
        "tier": STR,
        "last_activity_date": DATE,
        "currency": STR,  # ISO 4217 code of the record's amounts (multi-currency orgs)
    },
    "Contact": {
        **COMMON,
        "first_name": STR,
        "last_name": STR,
        "email": STR,
        "phone": STR,
        "mobile_phone": STR,
        "title": STR,
        "department": STR,
        **_ADDRESS,
        "account_id": STR,
        "company": STR,
        "website": STR,
        "lead_source": STR,
        "lifecycle_stage": STR,
        "lead_status": STR,
        "email_opt_out": BOOL,
        "do_not_call": BOOL,
        # the person's other e-mail addresses, ;-separated (HubSpot's hs_additional_emails)
        "additional_emails": STR,
        "linked_lead_id": STR,
        "language": STR,
        "last_activity_date": DATE,
    },
    "Lead": {
        **COMMON,
        "first_name": STR,
        "last_name": STR,
        "email": STR,
        "phone": STR,
        "mobile_phone": STR,
        "title": STR,
        "company": STR,
        "website": STR,
        **_ADDRESS,
        "lead_source": STR,
        "status": STR,
        "industry": STR,
        "email_opt_out": BOOL,
        "do_not_call": BOOL,
        "is_converted": BOOL,
        "converted_date": DATE,
        "converted_account_id": STR,
        "converted_contact_id": STR,
        "converted_opportunity_id": STR,
    },
    "Opportunity": {
        **COMMON,
        "name": STR,
        "account_id": STR,
        "amount": FLOAT,
        "close_date": DATE,
        "stage": STR,
        "probability": FLOAT,
        "type": STR,
        "lead_source": STR,
        "pipeline": STR,
        "is_closed": BOOL,
        "is_won": BOOL,
        "currency": STR,  # ISO 4217 code of the amount (multi-currency orgs); absent: the org's one
    },
    "Owner": {
        **COMMON,
        "email": STR,
        "first_name": STR,
        "last_name": STR,
        "username": STR,
        "title": STR,
        "is_active": BOOL,
    },
    # The people on a deal: Salesforce's OpportunityContactRole, HubSpot's deal-to-contact associations.
    "ContactRole": {
        **COMMON,
        "opportunity_id": STR,
        "contact_id": STR,
        "role": STR,
        "is_primary": BOOL,
    },
    # Beyond the two CRMs (issue 14): what a billing system, a product database or a file source gives,
    # through a source's field map (crm_ops.connectors.source). ``id`` is the source's own record id.
    # One subscription of one billing customer; ``account_external_id`` is the CRM account id billing
    # stores of the customer, when it stores one.
    "Subscription": {
        **COMMON,
        "customer_id": STR,
        "account_domain": STR,
        "account_name": STR,
        "account_external_id": STR,
        "plan": STR,
        "status": STR,  # active, trialing, past_due, cancelled... (paying: SUBSCRIPTION_ACTIVE)
        "mrr": FLOAT,
        "arr": FLOAT,
        "currency": STR,  # ISO 4217 code of mrr and arr
        "start_date": DATE,
        "end_date": DATE,
        "cancelled_at": TIME,
    },
    # One user of the product: who signed up, from which company domain, when last active.
    "ProductUser": {
        **COMMON,
        "email": STR,
        "first_name": STR,
        "last_name": STR,
        "account_domain": STR,
        "signed_up_at": TIME,
        "last_active_at": TIME,
    },
}

ENTITY_NAMES = tuple(ENTITIES)
# the entities only sources give (no CRM map has them) and the CRM entities
SOURCE_ENTITIES = ("Subscription", "ProductUser")
CRM_ENTITIES = tuple(e for e in ENTITY_NAMES if e not in SOURCE_ENTITIES)
# subscription statuses that mean the customer pays now (lower case; Stripe's and Chargebee's words); a
# trial is not paying, and cancelled, canceled, incomplete_expired, ended are over
SUBSCRIPTION_ACTIVE = ("active", "past_due", "non_renewing", "unpaid")


# The columns that hold personal data (issue 31): a person's name, e-mail, phone and address. Their values
# are never kept in a pull's statistics (``crm_ops.entitystats``), and docs/reference/entities.md marks
# them; a map marks more (a custom or declared column: ``{field: X, personal: true}``, ``mark_personal``).
_PERSON = frozenset({"first_name", "last_name", "email", "additional_emails", "phone", "mobile_phone",
                     "street", "city", "postal_code"})  # fmt: skip
PERSONAL: dict[str, frozenset[str]] = {
    "Contact": _PERSON,
    "Lead": _PERSON,
    "Owner": frozenset({"first_name", "last_name", "email", "username"}),
    "ProductUser": frozenset({"first_name", "last_name", "email"}),
}
_MARKED: dict[str, set[str]] = {}  # entity -> columns a map marked personal


def mark_personal(entity: str, columns: Iterable[str]) -> None:
    """Record columns of ``entity`` a map marks ``personal: true``."""
    _MARKED.setdefault(entity, set()).update(columns)


def personal_columns(entity: str) -> frozenset[str]:
    """The columns of ``entity`` that hold personal data: the canonical ones and those maps marked."""
    return PERSONAL.get(entity, frozenset()) | frozenset(_MARKED.get(entity, ()))


# the entities declared by maps (``declare``): name -> columns, COMMON first
_DECLARED: dict[str, dict[str, pl.DataType]] = {}


def declare(entity: str, extra: dict[str, pl.DataType]) -> None:
    """Record the schema of an entity a map declares (``COMMON`` then ``extra``); a later declaration of
    the same entity (its other CRM's map, a reloaded profile) adds the columns it lacks. A core entity
    is never redeclared."""
    if entity in ENTITIES:
        raise ValueError(f"{entity} is a core entity; its columns are fixed")
    schema = _DECLARED.setdefault(entity, dict(COMMON))
    for column, dtype in extra.items():
        schema.setdefault(column, dtype)


def declared_entities() -> tuple[str, ...]:
    """The entities declared by maps so far, in declaration order."""
    return tuple(_DECLARED)


def entity_names() -> tuple[str, ...]:
    """Every entity known: the core ones, then those declared by maps."""
    return (*ENTITY_NAMES, *_DECLARED)


def is_entity(entity: str) -> bool:
    """Whether ``entity`` is a core entity or one a map declared."""
    return entity in ENTITIES or entity in _DECLARED


def columns(entity: str) -> dict[str, pl.DataType]:
    """The canonical schema of ``entity`` (without custom columns); a declared entity's as declared."""
    found = ENTITIES.get(entity) or _DECLARED.get(entity)
    if found is None:
        raise KeyError(f"unknown entity {entity!r}; known: {', '.join(entity_names())}")
    return found


def empty(entity: str) -> pl.DataFrame:
    """A frame with ``entity``'s canonical columns and no rows."""
    return pl.DataFrame(schema=columns(entity))


def live(frame: pl.DataFrame) -> pl.DataFrame:
    """The records not deleted (a frame without ``is_deleted`` is all live)."""
    return frame.filter(~pl.col("is_deleted").fill_null(False)) if "is_deleted" in frame.columns else frame
