"""Certificates the tests make with openssl, and loopback HTTP(S) servers whose routes time their answers.

``make_ca`` makes a CA, ``issue`` a server certificate it signs for localhost and 127.0.0.1 with a known
notAfter; ``LoopbackServer`` serves ``/`` (quick), ``/slow-first-byte``, ``/slow-body``, ``/redirect`` and an
HTML ``/page`` (any other path: 404) over HTTP/1.1 keep-alive, over TLS with a chain when given one.
"""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.processes import require_binary

FIRST_BYTE_DELAY_SECONDS = 0.3
BODY_DELAY_SECONDS = 0.2


@dataclass(frozen=True)
class Issued:
    """A certificate and its key; ``not_after`` as Unix time."""

    cert: Path
    key: Path
    not_after: float


def _openssl(*args: str) -> str:
    openssl = require_binary("openssl", "openssl")
    return subprocess.run([openssl, *args], check=True, capture_output=True, text=True).stdout


def _not_after(cert: Path) -> float:
    line = _openssl("x509", "-in", str(cert), "-noout", "-enddate").strip()  # notAfter=Jan  1 00:00:00 2027 GMT
    return float(ssl.cert_time_to_seconds(line.partition("=")[2]))


def make_ca(folder: Path, name: str, days: int) -> Issued:
    """A self-signed CA named ``name`` valid for ``days``."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl(
        *("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", str(days)),
        *("-subj", f"/O=Test/CN={name}", "-keyout", str(key), "-out", str(cert)),
        *("-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    return Issued(cert, key, _not_after(cert))


def issue(folder: Path, ca: Issued, days: int, name: str = "server") -> Issued:
    """A certificate for localhost and 127.0.0.1 that ``ca`` signs, valid for ``days``; its file holds the chain
    (the server's certificate, then the CA's), as a server presents it."""
    key, request, own = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}-own.pem"
    extensions = folder / f"{name}.ext"
    extensions.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        *("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}"),
        *("-keyout", str(key), "-out", str(request)),
    )
    _openssl(
        *("x509", "-req", "-in", str(request), "-CA", str(ca.cert), "-CAkey", str(ca.key), "-CAcreateserial"),
        *("-days", str(days), "-extfile", str(extensions), "-out", str(own)),
    )
    chain = folder / f"{name}-chain.pem"
    chain.write_text(own.read_text() + ca.cert.read_text())
    return Issued(chain, key, _not_after(own))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: two requests can share a connection
    disable_nagle_algorithm = True  # headers and body in two writes: else the client waits 40 ms (delayed ACK)

    def do_GET(self) -> None:
        path = self.path.partition("?")[0]
        if path == "/redirect":
            self._answer(302, b"", [("Location", "/")])
            return
        if path == "/page":
            page = b"<!doctype html><title>Shop</title><h1>Tea, green</h1><p>In stock.</p><button>Buy</button>"
            self._answer(200, page, [("Content-Type", "text/html; charset=utf-8")])
            return
        if path not in ("/", "/slow-first-byte", "/slow-body"):
            self._answer(404, b"not found\n", [])
            return
        if path == "/slow-first-byte":
            time.sleep(FIRST_BYTE_DELAY_SECONDS)
        body = b"booked\n" * 2000
        if path == "/slow-body":
            self._answer(200, body[:100], [("Content-Length", str(len(body)))], rest=body[100:])
            return
        self._answer(200, body, [])

    def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]], rest: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name == "Content-Length" for name, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if rest:
            self.wfile.flush()
            time.sleep(BODY_DELAY_SECONDS)
            self.wfile.write(rest)

    def log_message(self, format: str, *args: object) -> None:
        pass


class LoopbackServer(http.server.ThreadingHTTPServer):
    """An HTTP server on 127.0.0.1 (HTTPS with ``issued``): ``/``, ``/slow-first-byte``, ``/slow-body``,
    ``/redirect``; ``connections`` counts the connections it accepted."""

    daemon_threads = True

    def __init__(self, issued: Issued | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        if issued is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(issued.cert, issued.key)
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def get_request(self) -> tuple[object, object]:  # type: ignore[override]
        self.connections += 1
        return super().get_request()

    def finish_request(self, request: object, client_address: object) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.do_handshake()  # in the request's thread: a client that fails verification blocks no one
            except (ssl.SSLError, OSError):
                return
        super().finish_request(request, client_address)  # type: ignore[arg-type]

    @property
    def port(self) -> int:
        return int(self.server_address[1])


@contextmanager
def serving(issued: Issued | None = None) -> Iterator[LoopbackServer]:
    """A ``LoopbackServer`` running in a thread until the block ends."""
    server = LoopbackServer(issued)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
