"""Replies lost after the CRM committed a write: the fault a real network deals a client most cruelly.

A load balancer that times the connection out, a proxy that resets it, a laptop that sleeps: the
request reached the CRM, the CRM did the work (a merge, a create, an undelete), and the answer never
came back. The client sees a dropped connection and cannot tell it from one dropped before the CRM
saw the request. Retrying blindly then merges twice (Salesforce answers ENTITY_IS_DELETED), creates
twice (HubSpot makes a second record), or undeletes twice (UNDELETE_FAILED).

``LostReplies`` serves that fault over either emulator (``App.lost_replies``): the emulator serves the
request in full (its store is changed), then the connection is closed without a byte of answer. Which
writes lose their reply: the operations named (``lost_reply_ops``, all writes when none: see
``OPERATIONS``), at a seeded rate (``rate_lost_reply``) and/or every n-th one of each operation from
its first on (``lost_reply_every``: 3 loses the 1st, 4th, 7th... merge, and so of creates).
Only answers that say the write happened (2xx) are lost; reads never are. ``lost`` lists what was lost,
for tests to hold the fault to account.

From the command line: ``crm-ops sandbox serve --faults lost_reply=0.2,lost_reply_ops=merge+create``.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

from crm_ops.sandbox.http import LOST_REPLY_OPS, FaultProfile, Request, Response

OPERATIONS = LOST_REPLY_OPS
_SF_DATA = re.compile(r"^/services/data/v[\d.]+/(?P<rest>.*?)/?$")
_SOAP_CALL = re.compile(rb"<(?:\w+:)?(merge|undelete|convertLead|emptyRecycleBin)[\s>]")
_HS_OBJECTS = re.compile(r"^/crm/v3/objects/[^/]+(?P<rest>/.*)?$")


def family(operation: str) -> str:
    """The name in ``OPERATIONS`` of an operation (``bulk`` for each step of a Bulk job: ``bulk_open``,
    ``bulk_upload``, ``bulk_close``, ``bulk_abort``)."""
    return operation.split("_", 1)[0]


def salesforce_operation(request: Request) -> str | None:
    """The write a Salesforce request makes (of ``OPERATIONS``; a Bulk job's steps each their own, see
    ``family``), or None for a read or sign-in."""
    method = request.method
    if request.path.startswith("/services/Soap/"):
        found = _SOAP_CALL.search(request.body)
        if found is None:
            return None
        call = found.group(1).decode()
        return {"convertLead": "convert", "emptyRecycleBin": "delete"}.get(call, call)
    data = _SF_DATA.match(request.path)
    if data is None or method in ("GET", "HEAD"):
        return None
    rest = data["rest"]
    if rest.startswith("jobs/ingest"):  # a Bulk ingest job: opened, its data uploaded, closed (it runs)
        if method == "POST":
            return "bulk_open"
        if method == "PUT":
            return "bulk_upload"
        state = request.body.decode(errors="replace")
        return "bulk_close" if "UploadComplete" in state else "bulk_abort" if "Aborted" in state else None
    if rest.startswith("composite/sobjects") or rest.startswith("sobjects/"):
        return {"POST": "create", "PATCH": "update", "DELETE": "delete"}.get(method)
    return None


def hubspot_operation(request: Request) -> str | None:
    """The write a HubSpot request makes (one of ``OPERATIONS``), or None for a read."""
    method, path = request.method, request.path.rstrip("/")
    if method in ("GET", "HEAD"):
        return None
    if path.startswith("/contacts/v1/secondary-email") or path.startswith("/communication-preferences/"):
        return "update"  # a contact's secondary addresses and opt-out, read-only as properties
    if path.startswith("/crm/v4/") or "/associations/" in path:
        return "associate" if "/batch/read" not in path else None
    found = _HS_OBJECTS.match(path)
    if found is None:
        return None
    rest = found["rest"] or ""
    if rest in ("/search", "/batch/read"):
        return None
    if rest == "/merge":
        return "merge"
    if rest == "/gdpr-delete":
        return "delete"
    if rest in ("", "/batch/create"):
        return "create" if method == "POST" else None
    if rest in ("/batch/update", "/batch/upsert") or method == "PATCH":
        return "update"
    if rest == "/batch/archive" or method == "DELETE":
        return "delete"
    return None


@dataclass(frozen=True)
class Lost:
    """One reply lost: the operation, and the request's method and path."""

    operation: str
    method: str
    path: str


class LostReplies:
    """Loses the replies of committed writes, deterministically for a seed (see the module)."""

    def __init__(
        self,
        profile: FaultProfile,
        seed: int,
        classify: Callable[[Request], str | None],
    ) -> None:
        self.rate = profile.rate_lost_reply
        self.every = profile.lost_reply_every
        self.operations = frozenset(profile.lost_reply_ops or OPERATIONS)
        self.classify = classify
        self._rng = random.Random(seed * 7_919 + 17)
        self._lock = threading.Lock()
        self.writes = 0  # writes of the chosen operations served
        self._seen: dict[str, int] = {}  # of each operation
        self.lost: list[Lost] = []

    @classmethod
    def of(
        cls,
        classify: Callable[[Request], str | None],
        *operations: str,
        rate: float = 0.0,
        every: int = 0,
        seed: int = 0,
    ) -> LostReplies:
        """Losing the replies of ``operations`` (all writes when none) at ``rate`` and/or every n-th."""
        unknown = sorted(set(operations) - set(OPERATIONS))
        if unknown:
            raise ValueError(f"not operations the emulators tell apart: {', '.join(unknown)}")
        profile = FaultProfile(
            "lost replies", rate_lost_reply=rate, lost_reply_every=every, lost_reply_ops=operations
        )
        return cls(profile, seed, classify)

    def counts(self) -> dict[str, int]:
        """Replies lost, by operation (of ``OPERATIONS``)."""
        with self._lock:
            out: dict[str, int] = {}
            for lost in self.lost:
                out[family(lost.operation)] = out.get(family(lost.operation), 0) + 1
            return out

    def lose(self, request: Request, response: Response) -> bool:
        """Whether to drop the connection rather than send ``response`` (a committed write's)."""
        if not 200 <= response.status < 300:
            return False
        operation = self.classify(request)
        if operation is None or family(operation) not in self.operations:
            return False
        with self._lock:
            self.writes += 1
            seen = self._seen[operation] = self._seen.get(operation, 0) + 1
            hit = bool(self.every) and (seen - 1) % self.every == 0
            if self.rate > 0 and self._rng.random() < self.rate:
                hit = True
            if hit:
                self.lost.append(Lost(operation, request.method, request.path))
            return hit
