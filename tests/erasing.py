"""What the erasure tests share: a sandbox of their own, quick retries, a raw HubSpot session on the
sandbox, and an erasure run while the emulators lose the replies of deletes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import requests

from crm_ops.connectors.base import Connector, PushResult
from crm_ops.sandbox.generator import SeedConfig
from crm_ops.sandbox.lostreply import LostReplies, hubspot_operation, salesforce_operation
from crm_ops.sandbox.server import Sandbox, SandboxConfig
from tests.conftest import FAST_LIMITS

QUICK = {"retry_initial_wait": 0.02, "retry_max_wait": 0.2}  # a connector's retries, for tests


def own_sandbox() -> Iterator[Sandbox]:
    """A sandbox for one erasure test module: erasures purge and archive records, which the session's
    shared sandbox's tests would see in every listing of deleted and archived records."""
    with Sandbox(SandboxConfig(seed=SeedConfig(records=300, seed=11), hubspot_limits=FAST_LIMITS)) as sb:
        yield sb


def hubspot_session(sandbox: Sandbox) -> requests.Session:
    """A plain session with the sandbox portal's token (no proxy from the environment)."""
    session = requests.Session()
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {sandbox.env['CRM_OPS_HUBSPOT_TOKEN']}"
    return session


def hubspot_url(sandbox: Sandbox, path: str) -> str:
    return sandbox.env["CRM_OPS_HUBSPOT_BASE_URL"].rstrip("/") + path


def erase_losing_replies(
    sandbox: Sandbox, conn: Connector, entity: str, ids: Sequence[str]
) -> tuple[list[PushResult], int]:
    """``conn.erase`` while the CRM loses the reply of its first delete and every second one after it
    (the CRM did them); the results, and how many replies were lost."""
    app = sandbox.salesforce if conn.system == "salesforce" else sandbox.hubspot
    classify = salesforce_operation if conn.system == "salesforce" else hubspot_operation
    lost = app.lost_replies = LostReplies.of(classify, "delete", every=2)
    try:
        return conn.erase(entity, ids), lost.counts().get("delete", 0)
    finally:
        app.lost_replies = None
