"""The Salesforce REST and Bulk API 2.0 emulator.

It answers in the wire shapes of the real service (see shared/fixtures/recorded/salesforce): records
with ``attributes`` first and explicit nulls, ``+0000`` datetimes, host-relative ``nextRecordsUrl``,
error arrays of ``{message, errorCode}``, SaveResults with ``statusCode``, Bulk 2.0 CSV with
``Sforce-Locator``. Only what crm_ops and its users' scripts need is served; the rest answers
NOT_FOUND as the real service does for an unknown resource.

One module a concern: ``auth`` (OAuth token endpoint, sessions, the daily allowance, ``/limits``),
``identity`` (the OpenID UserInfo endpoint), ``describe``, ``records`` (sObject CRUD and the REST
record shape), ``query`` (SOQL over REST), ``composite`` (``/composite/sobjects``), ``bulk`` (Bulk API
2.0); ``common`` holds what they share and ``app`` composes them into ``SalesforceApp``.
"""

from crm_ops.sandbox.salesforce.app import SalesforceApp
from crm_ops.sandbox.salesforce.auth import JWT_GRANT, SalesforceCredentials
from crm_ops.sandbox.salesforce.common import (
    BULK_DATETIME,
    CSV,
    JSON,
    MAX_COMPOSITE,
    MAX_CURSORS,
    MAX_JOBS,
    ORG_ID,
    SF_DATETIME,
    SalesforceLimits,
    error,
)

__all__ = [
    "BULK_DATETIME",
    "CSV",
    "JSON",
    "JWT_GRANT",
    "MAX_COMPOSITE",
    "MAX_CURSORS",
    "MAX_JOBS",
    "ORG_ID",
    "SF_DATETIME",
    "SalesforceApp",
    "SalesforceCredentials",
    "SalesforceLimits",
    "error",
]
