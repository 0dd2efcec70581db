"""The HubSpot CRM v3 API emulator (plus v4 associations).

Answers in the shapes of the recorded real responses (shared/fixtures/recorded/hubspot): string ids and
property values, ``null`` for unset, ``...123Z`` times, no ``paging`` key on a last page, search paging
``{"next":{"after":"200"}}``, 204 without a body on archive, 207 when a batch partly fails, and the
429 RATE_LIMITS body when the 10-second or per-second window is spent. Searches compile their filter
groups into one polars expression, so they stay fast on a million records.

One module a concern: ``access`` (bearer token, the scopes each route requires, rate limits and their
headers), ``account`` (private-app token info, account details), ``records`` (values in and out,
validation, rendering), ``objects`` (CRUD and batches), ``search``, ``merge``, ``gdpr`` (the GDPR
delete of contacts and its blocklist), ``properties``,
``owners``, ``associations``; ``common`` holds what they share and ``app`` composes them into
``HubSpotApp``.
"""

from crm_ops.sandbox.hubspot.access import missing_scopes
from crm_ops.sandbox.hubspot.app import HubSpotApp
from crm_ops.sandbox.hubspot.common import (
    DEFAULT_SCOPES,
    JSON,
    MAX_BATCH,
    PORTAL_ID,
    HsError,
    HubSpotLimits,
    iso,
    wire,
)
from crm_ops.sandbox.hubspot.objects import MAX_LIST
from crm_ops.sandbox.hubspot.records import parse_value
from crm_ops.sandbox.hubspot.search import MAX_SEARCH, SEARCH_CAP

__all__ = [
    "DEFAULT_SCOPES",
    "JSON",
    "MAX_BATCH",
    "MAX_LIST",
    "MAX_SEARCH",
    "PORTAL_ID",
    "SEARCH_CAP",
    "HsError",
    "HubSpotApp",
    "HubSpotLimits",
    "iso",
    "missing_scopes",
    "parse_value",
    "wire",
]
