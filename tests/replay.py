"""Replay servers: real Salesforce and HubSpot answers recorded by other projects' test suites, served back.

The recordings live in the steering repo's shared/fixtures/recorded/ (see its README for each file's
source); nothing here invents a body. A request the recordings cannot answer gets the CRM's own error
shape, so a connector that asks for more than a real org showed fails the test instead of passing on
made-up data.

- Salesforce: every ``describe_<object>.json`` answers that object's describe (any API version); the
  records of every recorded record or query answer are the org's records; ``SELECT ... FROM X`` projects
  them in SELECT order, ``SELECT COUNT()`` counts them, as the recorded query answers are shaped.
- HubSpot: the recorded owners list answers the owners API (the archived pass finds none); each
  ``properties_list_<object>.json`` answers that object's property list.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from crm_ops.sandbox.http import App, FaultInjector, Request, Response, Router, Server, parse_fault_profile

RECORDED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "recorded"
SOQL = re.compile(r"^SELECT (?P<fields>.+?) FROM (?P<object>\w+)(?P<rest>.*)$", re.DOTALL)


def recording(path: Path) -> dict[str, Any]:
    """One recorded exchange: ``{source, request, response{status, headers, body}}``."""
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def recorded_describes() -> dict[str, dict[str, Any]]:
    """Salesforce object name -> its recorded describe body."""
    out = {}
    for path in sorted((RECORDED / "salesforce").glob("describe_*.json")):
        body = recording(path)["response"]["body"]
        out[body["name"]] = body
    return out


def recorded_records() -> dict[str, list[dict[str, Any]]]:
    """Salesforce object name -> the whole records the recordings hold: those with a value (or null) for
    every field of their object's recorded describe, as a record read answers."""
    describes = recorded_describes()
    records: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted((RECORDED / "salesforce").glob("*.json")):
        body = recording(path)["response"].get("body")
        found = [body] if isinstance(body, dict) and "Id" in body else []
        if isinstance(body, dict):
            found += [r for r in body.get("records") or [] if isinstance(r, dict) and "Id" in r]
        for r in found:
            obj = r["attributes"]["type"]
            if obj in describes and all(f["name"] in r for f in describes[obj]["fields"]):
                records.setdefault(obj, {})[r["Id"]] = r
    return {obj: list(by_id.values()) for obj, by_id in records.items()}


def _none() -> FaultInjector:
    return FaultInjector(parse_fault_profile("none"), 0)


class SalesforceReplay(App):
    """Answers describe and SOQL queries from the recordings."""

    def __init__(self) -> None:
        self.describes = recorded_describes()
        self.records = recorded_records()
        limit = recording(RECORDED / "salesforce" / "sobject_get_contact.json")["response"]["headers"]
        self.limit_info = limit["Sforce-Limit-Info"]
        self.faults = _none()
        self.router = Router()
        self.router.add("GET", "/services/data/{version}/sobjects/{obj}/describe", self.describe)
        self.router.add("GET", "/services/data/{version}/query", self.query)
        self.router.add("GET", "/services/data/{version}/queryAll", self.query)

    def _json(self, status: int, payload: Any) -> Response:
        response = Response.json(status, payload)
        response.headers["Sforce-Limit-Info"] = self.limit_info
        return response

    def _error(self, status: int, code: str, message: str) -> Response:
        return self._json(status, [{"message": message, "errorCode": code}])

    def describe(self, request: Request, version: str, obj: str) -> Response:
        if obj not in self.describes:
            return self._error(404, "NOT_FOUND", f"no recorded describe of {obj}")
        return self._json(200, self.describes[obj])

    def query(self, request: Request, version: str) -> Response:
        match = SOQL.match(request.arg("q") or "")
        if match is None:
            return self._error(400, "MALFORMED_QUERY", "the replay reads SELECT ... FROM ... only")
        obj, rest = match["object"], match["rest"].strip()
        if rest and not rest.startswith("ORDER BY"):
            return self._error(400, "MALFORMED_QUERY", f"the replay cannot filter: {rest[:80]}")
        records = self.records.get(obj, [])
        if match["fields"].strip() == "COUNT()":
            return self._json(200, {"totalSize": len(records), "done": True, "records": []})
        fields = [f.strip() for f in match["fields"].split(",")]
        out = []
        for r in records:
            missing = [f for f in fields if f not in r]
            if missing:
                return self._error(
                    400, "INVALID_FIELD", f"the recordings hold no value of {', '.join(missing)} on {obj}"
                )
            out.append({"attributes": r["attributes"], **{f: r[f] for f in fields}})
        return self._json(200, {"totalSize": len(out), "done": True, "records": out})

    def not_found(self, request: Request) -> Response:
        return self._error(404, "NOT_FOUND", f"the replay has no recording for {request.path}")

    def method_not_allowed(self, request: Request) -> Response:
        return self._error(405, "METHOD_NOT_ALLOWED", request.method)

    def internal_error(self, request: Request, error: BaseException) -> Response:
        return self._error(500, "UNKNOWN_EXCEPTION", str(error))


HS_JSON = "application/json;charset=utf-8"


class HubSpotReplay(App):
    """Answers the owners API and recorded property lists."""

    def __init__(self) -> None:
        folder = RECORDED / "hubspot"
        self.owners = recording(folder / "owners_list.json")["response"]["body"]
        self.properties = {
            p.stem.removeprefix("properties_list_"): recording(p)["response"]["body"]
            for p in sorted(folder.glob("properties_list_*.json"))
        }
        self.faults = _none()
        self.router = Router()
        self.router.add("GET", "/crm/v3/owners", self.list_owners)
        self.router.add("GET", "/crm/v3/properties/{object_type}", self.list_properties)

    def _error(self, status: int, message: str) -> Response:
        return Response.json(
            status, {"status": "error", "message": message, "correlationId": "replay"}, content_type=HS_JSON
        )

    def list_owners(self, request: Request) -> Response:
        archived = request.arg("archived", "false") == "true"
        return Response.json(200, {"results": []} if archived else self.owners, content_type=HS_JSON)

    def list_properties(self, request: Request, object_type: str) -> Response:
        if object_type not in self.properties:
            return self._error(404, f"no recorded property list of {object_type}")
        return Response.json(200, self.properties[object_type], content_type=HS_JSON)

    def not_found(self, request: Request) -> Response:
        return self._error(404, f"the replay has no recording for {request.path}")

    def method_not_allowed(self, request: Request) -> Response:
        return self._error(405, request.method)

    def internal_error(self, request: Request, error: BaseException) -> Response:
        return self._error(500, str(error))


@dataclass
class Replay:
    """Both replay servers, and what a profile needs to reach them."""

    salesforce_url: str
    hubspot_url: str
    ca_path: Path


@contextmanager
def replay(folder: Path) -> Iterator[Replay]:
    """Serve both replays on 127.0.0.1 (Salesforce over TLS, its CA written into ``folder``)."""
    ca = trustme.CA()
    ca_path = folder / "replay-ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
    servers = [Server(SalesforceReplay(), tls=tls), Server(HubSpotReplay())]
    for server in servers:
        server.start()
    try:
        yield Replay(servers[0].url, servers[1].url, ca_path)
    finally:
        for server in servers:
            server.stop()
