"""Corporate networks: both connectors go through the forward proxy the environment names (NO_PROXY
honoured), and TLS is still verified against the configured CA, whatever REQUESTS_CA_BUNDLE says."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from crm_ops.config import sandbox_profile
from crm_ops.errors import FatalApiError
from crm_ops.pull import Puller
from crm_ops.sandbox.server import Sandbox
from tests.proxy import forward_proxy
from tests.pulling import profile_for

pytestmark = pytest.mark.integration


def _other_ca(folder: Path) -> str:
    path = folder / "not-the-sandbox-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def _clear_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_pulls_go_through_the_environments_proxy_with_verification_on(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear_proxies(monkeypatch)
    # a machine-wide bundle that does not hold the sandbox's CA must not replace the configured one
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", _other_ca(tmp_path))
    profile = profile_for(sandbox, tmp_path)
    sf_port = sandbox.env["CRM_OPS_SF_INSTANCE_URL"].rsplit(":", 1)[1]
    hs_port = sandbox.env["CRM_OPS_HUBSPOT_BASE_URL"].rsplit(":", 1)[1]
    with forward_proxy() as (url, seen):
        monkeypatch.setenv("HTTPS_PROXY", url)
        monkeypatch.setenv("HTTP_PROXY", url)
        puller = Puller(profile)
        try:
            results = puller.pull_many(["salesforce", "hubspot"], ["Owner", "Account"])
        finally:
            puller.close()
    assert {(r.system, r.entity) for r in results} == {
        (s, e) for s in ("salesforce", "hubspot") for e in ("Owner", "Account")
    }
    assert all(r.total > 0 for r in results)
    assert seen[f"CONNECT 127.0.0.1:{sf_port}"] >= 1  # HTTPS tunnelled, verified inside the tunnel
    assert seen[f"GET 127.0.0.1:{hs_port}"] >= 3  # plain HTTP forwarded


def test_no_proxy_hosts_skip_the_proxy(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear_proxies(monkeypatch)
    profile = profile_for(sandbox, tmp_path)
    with forward_proxy() as (url, seen):
        monkeypatch.setenv("HTTPS_PROXY", url)
        monkeypatch.setenv("HTTP_PROXY", url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        puller = Puller(profile)
        try:
            puller.pull_many(["salesforce", "hubspot"], ["Owner"])
        finally:
            puller.close()
    assert sum(seen.values()) == 0


def test_a_certificate_that_does_not_verify_fails_at_once_saying_what_to_do(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clear_proxies(monkeypatch)
    profile = sandbox_profile({**sandbox.env, "CRM_OPS_SF_CA_BUNDLE": _other_ca(tmp_path)}, tmp_path)
    puller = Puller(profile)
    try:
        with pytest.raises(FatalApiError) as raised:
            puller.pull_many(["salesforce"], ["Owner"])
    finally:
        puller.close()
    message = str(raised.value)
    assert "does not verify against the CA bundle" in message and "not-the-sandbox-ca.pem" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message or "certificate verify failed" in message
