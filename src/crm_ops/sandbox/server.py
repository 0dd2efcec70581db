"""Seed and serve both emulators: the ``Sandbox`` context manager and the env file clients read."""

from __future__ import annotations

import os
import secrets
import shlex
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_ops.sandbox.controls import Controls
from crm_ops.sandbox.generator import SeedConfig, SeededData, generate
from crm_ops.sandbox.http import FaultInjector, FaultProfile, Server, parse_fault_profile
from crm_ops.sandbox.hubspot import HubSpotApp, HubSpotLimits
from crm_ops.sandbox.lostreply import LostReplies, hubspot_operation, salesforce_operation
from crm_ops.sandbox.objects import hubspot_objects, salesforce_objects
from crm_ops.sandbox.realsaves import SaveRules
from crm_ops.sandbox.realworld import (
    HubSpotLayer,
    RealWorld,
    SalesforceLayer,
    extend_hubspot,
    extend_salesforce,
)
from crm_ops.sandbox.salesforce import SalesforceApp, SalesforceCredentials, SalesforceLimits
from crm_ops.sandbox.salesforce.auth import login_url
from crm_ops.sandbox.store import Store, Table

log = structlog.get_logger("crm_ops.sandbox")

ENV_KEYS = (
    "CRM_OPS_SF_INSTANCE_URL",
    "CRM_OPS_SF_LOGIN_URL",
    "CRM_OPS_SF_ACCESS_TOKEN",
    "CRM_OPS_SF_CA_BUNDLE",
    "CRM_OPS_SF_CLIENT_ID",
    "CRM_OPS_SF_CLIENT_SECRET",
    "CRM_OPS_SF_USERNAME",
    "CRM_OPS_SF_PASSWORD",
    "CRM_OPS_SF_SECURITY_TOKEN",
    "CRM_OPS_SF_JWT_KEY_FILE",
    "CRM_OPS_HUBSPOT_BASE_URL",
    "CRM_OPS_HUBSPOT_TOKEN",
    "CRM_OPS_HUBSPOT_PORTAL_ID",
    "CRM_OPS_SANDBOX_MANIFEST",
)


@dataclass(frozen=True)
class SandboxConfig:
    """How to seed and serve the sandbox."""

    seed: SeedConfig = field(default_factory=SeedConfig)
    faults: FaultProfile | str = "none"
    fault_seed: int = 0
    salesforce_port: int = 0
    hubspot_port: int = 0
    salesforce_limits: SalesforceLimits = field(default_factory=SalesforceLimits)
    hubspot_limits: HubSpotLimits = field(default_factory=HubSpotLimits)
    workdir: Path | None = None
    real_world: RealWorld = field(default_factory=RealWorld)  # what real orgs and portals do (realworld)


class Sandbox:
    """Both emulators, seeded and served on 127.0.0.1 for as long as the context lasts.

    >>> with Sandbox(SandboxConfig(seed=SeedConfig(records=100))) as sandbox:  # doctest: +SKIP
    ...     sandbox.env["CRM_OPS_SF_INSTANCE_URL"]
    """

    def __init__(self, config: SandboxConfig | None = None, *, data: SeededData | None = None) -> None:
        self.config = config or SandboxConfig()
        self._data = data
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._servers: list[Server] = []
        self.env: dict[str, str] = {}

    @property
    def data(self) -> SeededData:
        """The seeded data and its ground-truth manifest."""
        if self._data is None:
            raise RuntimeError("the sandbox is not started")
        return self._data

    def start(self) -> Self:
        """Seed (unless data was given), write the manifest and CA, and start both servers."""
        cfg = self.config
        if cfg.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="crm-ops-sandbox-")
            workdir = Path(self._tmp.name)
        else:
            workdir = cfg.workdir
            workdir.mkdir(parents=True, exist_ok=True)
        if self._data is None:
            log.info(
                "sandbox.seeding",
                records=cfg.seed.records,
                seed=cfg.seed.seed,
                defect_rate=cfg.seed.defect_rate,
                org=cfg.seed.org,
            )
            self._data = generate(cfg.seed)
        data = self._data
        manifest_path = data.manifest.write(workdir / "manifest")
        profile = parse_fault_profile(cfg.faults) if isinstance(cfg.faults, str) else cfg.faults

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ca_path = workdir / "sandbox-ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(tls)

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_path = workdir / "sandbox-jwt-key.pem"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        credentials = SalesforceCredentials(
            client_id=secrets.token_hex(16),
            client_secret=secrets.token_hex(16),
            username="integration@crm-ops.sandbox",
            password=secrets.token_urlsafe(12),
            security_token=secrets.token_urlsafe(12),
            jwt_public_key_pem=key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )
        sf_token = f"00D8d0000000001!{secrets.token_urlsafe(48)}"
        rw = cfg.real_world
        sf_objects = extend_salesforce(
            salesforce_objects(data.config.org), data.salesforce, rw, cfg.seed.seed
        )
        hs_types = extend_hubspot(hubspot_objects(data.config.org), data.hubspot, rw, cfg.seed.seed)
        sf_store = Store(data.salesforce)
        self.salesforce = SalesforceApp(
            sf_store,
            access_token=sf_token,
            credentials=credentials,
            faults=FaultInjector(profile, cfg.fault_seed),
            limits=cfg.salesforce_limits,
            objects=sf_objects,
        )
        self.salesforce.layer = self.salesforce_layer = SalesforceLayer(rw, profile, cfg.fault_seed, sf_store)
        if rw.duplicate_rules or profile.rate_lock_row or profile.rate_validation:
            self.salesforce.save_rules = SaveRules(
                sf_store,
                profile,
                self.salesforce_layer.draws,
                cfg.fault_seed,
                duplicates=rw.duplicate_rules,
                now=self.salesforce.now,
            )
        hs_token = f"pat-na1-{secrets.token_hex(16)}"
        self.hubspot = HubSpotApp(
            Store(data.hubspot),
            Table("owners", data.hubspot_owners),
            {key: Table(f"{key[0]}-{key[1]}", frame) for key, frame in data.hubspot_associations.items()},
            token=hs_token,
            faults=FaultInjector(profile, cfg.fault_seed + 1),
            limits=cfg.hubspot_limits,
            types=hs_types,
        )
        self.hubspot.merge_new_id = rw.merge_new_id
        self.hubspot.layer = self.hubspot_layer = HubSpotLayer(rw, profile, cfg.fault_seed + 1)
        if profile.loses_replies:  # replies lost after the write committed (lostreply)
            self.salesforce.lost_replies = LostReplies(profile, cfg.fault_seed, salesforce_operation)
            self.hubspot.lost_replies = LostReplies(profile, cfg.fault_seed + 1, hubspot_operation)
        sf_server = Server(self.salesforce, port=cfg.salesforce_port, tls=tls)
        hs_server = Server(self.hubspot, port=cfg.hubspot_port)
        self.salesforce.instance_url = sf_server.url
        self.hubspot.base_url = hs_server.url
        for server in (sf_server, hs_server):
            server.start()
            self._servers.append(server)
        self.env = {
            "CRM_OPS_SF_INSTANCE_URL": sf_server.url,
            # the login host (login.salesforce.com in life): the same server under another name
            "CRM_OPS_SF_LOGIN_URL": login_url(sf_server.url),
            "CRM_OPS_SF_ACCESS_TOKEN": sf_token,
            "CRM_OPS_SF_CA_BUNDLE": str(ca_path),
            "CRM_OPS_SF_CLIENT_ID": credentials.client_id,
            "CRM_OPS_SF_CLIENT_SECRET": credentials.client_secret,
            "CRM_OPS_SF_USERNAME": credentials.username,
            "CRM_OPS_SF_PASSWORD": credentials.password,
            "CRM_OPS_SF_SECURITY_TOKEN": credentials.security_token,
            "CRM_OPS_SF_JWT_KEY_FILE": str(key_path),
            "CRM_OPS_HUBSPOT_BASE_URL": hs_server.url,
            "CRM_OPS_HUBSPOT_TOKEN": hs_token,
            "CRM_OPS_HUBSPOT_PORTAL_ID": str(self.hubspot.portal_id),
            "CRM_OPS_SANDBOX_MANIFEST": str(manifest_path),
        }
        # hide, stall, daily edits, the recycle bin's window and permission
        self.controls = Controls(sf_store, self.hubspot.objects, self.env, self.salesforce.recycle)
        log.info("sandbox.started", salesforce=sf_server.url, hubspot=hs_server.url, faults=profile.name)
        return self

    def write_env(self, path: Path) -> None:
        """Write the env file atomically, owner-readable only (it holds tokens): ``export KEY='value'``
        lines, so ``. path`` in a shell (or cron's /bin/sh) exports them to the commands that follow."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# crm-ops sandbox settings: `. this-file` exports them (tokens inside: keep it 0600)\n")
            fh.writelines(f"export {key}={shlex.quote(self.env[key])}\n" for key in ENV_KEYS)
        tmp.replace(path)

    def stop(self) -> None:
        """Stop both servers and remove the temporary working folder, if one was made."""
        for server in self._servers:
            server.stop()
        self._servers.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def read_env_file(path: Path) -> dict[str, str]:
    """Parse an env file written by ``Sandbox.write_env``, or by hand: ``KEY=value`` or ``export KEY=value``
    lines, values quoted as a shell quotes them, blank lines and # comments allowed."""
    env: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        stripped = stripped.removeprefix("export ").lstrip()
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{path}:{number}: expected KEY=value, got {stripped[:40]!r}")
        try:
            words = shlex.split(value, comments=True)
        except ValueError as exc:
            raise ValueError(f"{path}:{number}: {key.strip()}: {exc}") from None
        env[key.strip()] = " ".join(words)
    return env
