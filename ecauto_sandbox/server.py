"""The HTTP transport: a threading HTTP/1.1 server on loopback with keep-alive.

Each connection gets a daemon thread; ``Content-Length`` on every answer lets ``requests.Session``
reuse connections. The answer's ``Date`` header is the virtual clock's. Open connections are
closed when the server stops, so a client's pooled connection cannot outlive the sandbox.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ecauto_sandbox.protocol import Reply, Request

log = logging.getLogger("ecauto_sandbox")

Dispatcher = Callable[[Request], Reply]
Recorder = Callable[[Request, Reply, float], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ecauto-sandbox/0.1"
    sys_version = ""
    disable_nagle_algorithm = True  # one answer = headers + body; no 40 ms Nagle/delayed-ACK stalls
    timeout = 300  # an idle keep-alive connection is dropped after this many seconds
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
        """Silent: the sandbox keeps its own request log (without secrets)."""

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(self.server.virtual_now().replace(microsecond=0), usegmt=True)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        arrived = self.server.monotonic()
        body = self._read_body()
        parts = urlsplit(self.path)
        request = Request(
            method=method,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=self.headers,
            body=body,
            arrived=arrived,
        )
        try:
            reply = self.server.dispatch(request)
        except Exception:  # a simulator bug must not kill the connection thread silently
            log.exception("sandbox handler failed for %s %s", method, parts.path)
            reply = Reply(500, {"errors": [{"code": "InternalFailure", "message": "sandbox handler error"}]})
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.body_bytes()
        # Logged before the answer leaves, so a client that got its answer finds the call in the log.
        self.server.record(request, reply, self.server.monotonic() - arrived)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)


class SandboxHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` bound to 127.0.0.1 that hands every request to ``dispatch``."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        port: int,
        dispatch: Dispatcher,
        record: Recorder,
        virtual_now: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dispatch = dispatch
        self.record = record
        self.virtual_now = virtual_now
        self.monotonic = monotonic
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open client connection (their threads then end)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
