"""The real, unmodified CRM clients pointed at a running sandbox (for the demo, tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Mapping

import requests
from hubspot import HubSpot
from simple_salesforce.api import Salesforce


def salesforce_client(env: Mapping[str, str], *, version: str = "59.0") -> Salesforce:
    """simple-salesforce on the sandbox's session, verifying TLS against the sandbox's own CA."""
    session = requests.Session()
    session.verify = env["CRM_OPS_SF_CA_BUNDLE"]
    session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment overrides verify
    return Salesforce(
        instance_url=env["CRM_OPS_SF_INSTANCE_URL"],
        session_id=env["CRM_OPS_SF_ACCESS_TOKEN"],
        session=session,
        version=version,
    )


def hubspot_client(env: Mapping[str, str]) -> HubSpot:
    """hubspot-api-client with the sandbox's private-app token and base URL."""
    return HubSpot(access_token=env["CRM_OPS_HUBSPOT_TOKEN"], host=env["CRM_OPS_HUBSPOT_BASE_URL"])
