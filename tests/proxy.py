"""A small forward proxy on 127.0.0.1 for tests: CONNECT tunnels (HTTPS) and absolute-form HTTP requests.

It forwards only to loopback addresses and counts what went through it, so a test can show that a
connector used the proxy from the environment while TLS was verified end to end through the tunnel.
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost")


class _Handler(socketserver.StreamRequestHandler):
    server: _ProxyServer
    # unbuffered: a buffered reader would keep the bytes after the headers (a POST's body) to itself, and
    # the relay would wait its 30 s for a body the upstream never gets
    rbufsize = 0

    def handle(self) -> None:
        line = self.rfile.readline(65537).decode("latin-1")
        parts = line.split()
        if len(parts) != 3:
            return
        method, target, version = parts
        headers = []
        while True:
            header = self.rfile.readline(65537)
            if header in (b"\r\n", b"\n", b""):
                break
            headers.append(header)
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            self._tunnel(host, int(port), version)
        else:
            self._forward(method, target, version, headers)

    def _open(self, host: str, port: int) -> socket.socket | None:
        if host not in LOOPBACK:  # this proxy reaches nothing but this machine
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return None
        return socket.create_connection((host, port), timeout=30)

    def _tunnel(self, host: str, port: int, version: str) -> None:
        upstream = self._open(host, port)
        if upstream is None:
            return
        self.server.seen["CONNECT " + f"{host}:{port}"] += 1
        self.wfile.write(f"{version} 200 Connection established\r\n\r\n".encode())
        self.wfile.flush()
        self._relay(self.connection, upstream)

    def _forward(self, method: str, target: str, version: str, headers: list[bytes]) -> None:
        url = urlsplit(target)
        if not url.hostname:
            return
        upstream = self._open(url.hostname, url.port or 80)
        if upstream is None:
            return
        self.server.seen[f"{method} {url.hostname}:{url.port}"] += 1
        path = url.path + (f"?{url.query}" if url.query else "")
        kept = [h for h in headers if not h.lower().startswith((b"proxy-", b"connection:"))]
        upstream.sendall(
            f"{method} {path} {version}\r\n".encode() + b"".join(kept) + b"Connection: close\r\n\r\n"
        )
        # the body (if any) and the answer flow through as they come
        self._relay(self.connection, upstream)

    @staticmethod
    def _relay(client: socket.socket, upstream: socket.socket) -> None:
        with contextlib.closing(upstream):
            sockets = [client, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 30)
                if not readable:
                    return
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (upstream if s is client else client).sendall(data)


class _ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: Counter[str] = Counter()


@contextmanager
def forward_proxy() -> Iterator[tuple[str, Counter[str]]]:
    """Serve a proxy; yields its URL (``http://127.0.0.1:PORT``) and the counter of what went through."""
    server = _ProxyServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
