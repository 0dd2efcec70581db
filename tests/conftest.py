"""Shared fixtures: a seeded sandbox served once per session, and the real clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot import HubSpot
from simple_salesforce.api import Salesforce

from crm_ops.sandbox.clients import hubspot_client, salesforce_client
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.hubspot import HubSpotLimits
from crm_ops.sandbox.server import Sandbox, SandboxConfig

# Generous limits: rate limiting has tests of its own, with their own sandbox.
FAST_LIMITS = HubSpotLimits(per_ten_seconds=1_000_000, search_per_second=100_000)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """One read-mostly sandbox of 3,000 contacts per CRM; tests that write touch only their own records."""
    with Sandbox(SandboxConfig(seed=SeedConfig(records=3000, seed=11), hubspot_limits=FAST_LIMITS)) as sb:
        yield sb


@pytest.fixture
def sf(sandbox: Sandbox) -> Salesforce:
    """simple-salesforce, unmodified, verifying TLS against the sandbox CA."""
    return salesforce_client(sandbox.env)


@pytest.fixture
def hs(sandbox: Sandbox) -> HubSpot:
    """hubspot-api-client, unmodified."""
    return hubspot_client(sandbox.env)
