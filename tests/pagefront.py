"""A front on 127.0.0.1 for a sandbox emulator, as a proxy that wants a sign-in stands in front of a CRM:
requests whose path matches ``page_on`` are answered 200 with an HTML sign-in page (a session token in
it, which no error may repeat); the others are passed to the emulator and its answer returned."""

from __future__ import annotations

import contextlib
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
import trustme

PAGE_SECRET = "sess-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
PAGE = (
    "<!doctype html><html><head><title>Acme Web Gateway: sign in</title></head><body>"
    f"<form action='/login'><input type=hidden name=csrf value='{PAGE_SECRET}'>Sign in</form></body></html>"
).encode()
HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}


@contextmanager
def page_front(upstream: str, ca_bundle: str, page_on: str, tls_ca: Path | None = None) -> Iterator[str]:
    """Serve the front; yields its URL. ``page_on``: a regex searched in "METHOD path". ``tls_ca``: serve
    HTTPS with a certificate of a CA written there (simple-salesforce speaks nothing else)."""
    pattern = re.compile(page_on)
    session = requests.Session()
    session.trust_env = False

    class Front(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if pattern.search(f"{self.command} {self.path}"):
                self._answer(200, {"Content-Type": "text/html; charset=utf-8"}, PAGE)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"host"}}
            got = session.request(
                self.command, upstream + self.path, data=body, headers=headers, verify=ca_bundle, timeout=60
            )
            kept = {k: v for k, v in got.headers.items() if k.lower() not in HOP}
            self._answer(got.status_code, kept, got.content)

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _any  # noqa: N815 - http.server names them

        def log_message(self, *args: object) -> None:
            pass

    with serving(Front, tls_ca) as url, contextlib.closing(session):
        yield url


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], tls_ca: Path | None = None) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1 in a thread; yields the URL. ``tls_ca``: HTTPS, with
    a certificate of a CA written there."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if tls_ca is not None:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(tls_ca))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls_ca else 'http'}://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
