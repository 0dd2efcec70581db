"""What the read and the write side of the HubSpot connector share: batch sizes, timestamps, the API
objects of hubspot-api-client."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hubspot import HubSpot

ASSOC_BATCH = 1_000  # ids a v4 association batch call takes
UPDATE_BATCH = 100  # records a batch read or update takes


def epoch_ms(value: datetime) -> str:
    """A datetime as HubSpot's search filters take it: epoch milliseconds, as a string."""
    return str(int(value.astimezone(UTC).timestamp() * 1000))


def parse_stamp(text: str) -> datetime:
    """A HubSpot timestamp (ISO 8601 or epoch milliseconds) as an aware datetime."""
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class HubSpotApis:
    """The hubspot-api-client API objects the connector calls, each built once."""

    def __init__(self, client: HubSpot) -> None:
        crm = client.crm
        self.objects = crm.objects.basic_api
        self.batch = crm.objects.batch_api
        self.search = crm.objects.search_api
        self.properties = crm.properties.core_api
        self.associations = crm.associations.v4.batch_api
        self.owners = crm.owners.owners_api
        # the GDPR delete (``purge``) is the contacts API's: HubSpot has none for other object types
        self.gdpr = crm.contacts.basic_api
        # the merge endpoint is per object type (contacts, companies, deals, tickets)
        self.merge: dict[str, Any] = {
            "contacts": crm.contacts.basic_api,
            "companies": crm.companies.basic_api,
            "deals": crm.deals.basic_api,
            "tickets": crm.tickets.basic_api,
        }
