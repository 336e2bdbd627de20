"""The runner's HTTP server over cheroot, GET only: /metrics, /healthz, the status page and /api/results.

Plain HTTP, or TLS when the web configuration asks for it (runner/web_config.py); basic auth is a WSGI layer
in front of the app (runner/access.py).

Usage::

    server = bind(make_app(registry, monitor.health), "127.0.0.1", 8000)   # ConfigError if the port is taken
    server.run()                                                            # until a KeyboardInterrupt
    server.close()
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi
from cheroot.makefile import StreamReader, StreamWriter

from runner import page
from runner.errors import ConfigError
from runner.exposition import CachedBody

DEFAULT_THREADS = 8
# Idle keep-alive connections wait in cheroot's selector, not in a thread, but cheroot keeps only 10 of them by
# default and closes the 11th client's after each answer: dashboards and load balancers hold many more.
CONNECTION_LIMIT = 1000
LISTEN_BACKLOG = 1024  # cheroot's default of 5 drops the SYNs of 50 scrapers connecting at once
TIMEOUT_SECONDS = 10  # to read a request or finish a TLS handshake; also how long an idle connection stays open
SHUTDOWN_SECONDS = 3
TLS_HANDSHAKE_RECORD = b"\x16"  # the first byte a TLS client sends
PLAIN_REQUEST_BYTES = 65536
PLAIN_HTTP_ANSWER = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
PAGE_MAX_AGE_SECONDS = 1.0
Health = Callable[[], tuple[bool, dict[str, Any]]]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Results = Callable[[], dict[str, Any]]
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
]
PAGE_HEADERS = [
    ("Content-Security-Policy", page.CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]


def make_app(metrics: WSGIApp, health: Health, routes: dict[str, WSGIApp] | None = None) -> WSGIApp:
    """A WSGI app serving /metrics, /healthz and any extra ``routes`` (one ending in "/" serves the paths under
    it); other methods get 405."""
    table: dict[str, WSGIApp] = {"/metrics": metrics, "/healthz": _health_app(health)}
    table.update(routes or {})
    prefixes = [(path, route) for path, route in table.items() if len(path) > 1 and path.endswith("/")]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        route = table.get(path) or next((r for prefix, r in prefixes if path.startswith(prefix)), None)
        if route is None:
            return _text(start_response, "404 Not Found", f"no such path {path}; try / or /metrics\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
            return _text(start_response, "405 Method Not Allowed", "only GET\n", [("Allow", "GET, HEAD")])
        return route(environ, start_response)

    return app


def status_routes(results: Results, interval_seconds: float) -> dict[str, WSGIApp]:
    """``/``: the HTML status page; ``/api/results``: the same data as JSON."""

    # Rendered at most once a second however many people (or load tests) look at it.
    page_body = CachedBody(
        lambda: page.render(results(), interval_seconds).encode(),
        "text/html; charset=utf-8",
        max_age_seconds=PAGE_MAX_AGE_SECONDS,
        headers=[*SECURITY_HEADERS, *PAGE_HEADERS],
    )

    def api_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        return respond(start_response, "200 OK", "application/json", json.dumps(results()).encode())

    return {"/": page_body.wsgi, "/api/results": api_app}


def _health_app(health: Health) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        healthy, details = health()
        status = "200 OK" if healthy else "503 Service Unavailable"
        return respond(start_response, status, "application/json", json.dumps(details).encode())

    return app


def _text(
    start_response: StartResponse, status: str, text: str, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    return respond(start_response, status, "text/plain; charset=utf-8", text.encode(), extra)


def respond(
    start_response: StartResponse,
    status: str,
    content_type: str,
    body: bytes,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    """Start a response with the security headers and a Content-Length (else cheroot sends it chunked)."""
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *SECURITY_HEADERS]
    start_response(status, [*headers, *(extra or [])])
    return [body]


class Server:
    """A bound server: ``run()`` serves until a KeyboardInterrupt (the runner's stop signal), ``close()`` ends it."""

    def __init__(self, server: _CherootServer) -> None:
        self._server = server

    @property
    def port(self) -> int:
        """The port it listens on (the one the OS picked when asked for 0)."""
        return int(self._server.bind_addr[1])

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "http" if self._server.tls_context is None else "https"

    def run(self) -> None:
        """Serve until a KeyboardInterrupt is raised in this thread."""
        self._server.serve()

    def close(self) -> None:
        """Stop accepting, close every connection and end the threads (waiting up to SHUTDOWN_SECONDS)."""
        self._server.stop()


def bind(app: WSGIApp, host: str, port: int, tls: ssl.SSLContext | None = None) -> Server:
    """Bind the server (TLS with ``tls``); a taken port or bad address is a ConfigError."""
    server = _CherootServer((host, port), _without_body_on_head(app), tls)
    try:
        server.prepare()
    except OSError as exc:
        reason = server.bind_error or exc
        raise ConfigError(f"--port: cannot listen on {host}:{port}: {reason.strerror or reason}") from None
    return Server(server)


def _without_body_on_head(app: WSGIApp) -> WSGIApp:
    """cheroot sends whatever body the app returns, even to HEAD, where the client reads it as the next answer."""

    def head_aware(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "HEAD":
            return body
        close = getattr(body, "close", None)
        if close is not None:
            close()
        return []

    return head_aware


class _Connection(cheroot_server.HTTPConnection):
    """A connection whose TLS handshake, on a TLS server, advances in the selector's thread without blocking.

    cheroot's own TLS adapter shakes hands in its accept loop, so one client that connects and says nothing
    would stall every other for the whole timeout (cheroot issue 748); done in a worker thread instead, eight
    such clients would take every thread. Here a handshake only ever takes the bytes the client has sent.
    """

    server: _CherootServer
    waited = False  # has been readable once: a new connection first waits in the selector, not in a thread
    tls_done = False

    def advance_tls(self, context: ssl.SSLContext) -> bool:
        """Take the handshake as far as the client's bytes allow; True once done. Else the connection is back in
        the selector waiting for more, or closed if the handshake failed."""
        try:
            if not isinstance(self.socket, ssl.SSLSocket):
                first = self.socket.recv(1, socket.MSG_PEEK)  # readable, so this does not wait
                if first != TLS_HANDSHAKE_RECORD:
                    if first:  # answered as Go's servers do; the request read first, or closing would reset
                        self.socket.recv(PLAIN_REQUEST_BYTES)
                        self.socket.sendall(PLAIN_HTTP_ANSWER)
                    raise ConnectionError("not a TLS client")
                self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
                self.rfile = _TLSReader(self.socket, self.rbufsize)
                self.wfile = StreamWriter(self.socket, "wb", self.wbufsize)
            self.socket.settimeout(0)
            try:
                self.socket.do_handshake()
            finally:
                self.socket.settimeout(self.server.timeout)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            self.server.put_conn(self)
            return False
        except (OSError, ValueError):  # a probe, a scanner, a client that does not trust our certificate
            self.close()
            return False
        self.tls_done = True
        self.ssl_env = {"wsgi.url_scheme": "https", "HTTPS": "on"}
        return True


class _TLSReader(StreamReader):
    """Also counts bytes OpenSSL has decrypted but not handed over: the socket is not readable for those."""

    def __init__(self, sock: ssl.SSLSocket, bufsize: int) -> None:
        super().__init__(sock, "rb", bufsize)
        self._tls = sock

    def has_data(self) -> bool:
        return bool(super().has_data()) or self._tls.pending() > 0  # type: ignore[no-untyped-call]


class _CherootServer(wsgi.Server):
    ConnectionClass = _Connection

    def __init__(self, bind_addr: tuple[str, int], app: WSGIApp, tls: ssl.SSLContext | None) -> None:
        super().__init__(
            bind_addr,
            app,
            numthreads=DEFAULT_THREADS,
            server_name="synthetic-monitor",
            request_queue_size=LISTEN_BACKLOG,
            timeout=TIMEOUT_SECONDS,
            shutdown_timeout=SHUTDOWN_SECONDS,
        )
        self.keep_alive_conn_limit = CONNECTION_LIMIT
        self.tls_context = tls
        self.bind_error: OSError | None = None

    def bind(self, family: int, socktype: int, proto: int = 0) -> Any:
        try:
            return super().bind(family, socktype, proto)
        except OSError as exc:  # cheroot folds it into a message of its own; keep it for ours
            self.bind_error = exc
            raise

    def process_conn(self, conn: _Connection) -> None:
        if not conn.waited:  # a new connection holds no thread until it has something to read
            conn.waited = True
            self.put_conn(conn)
        elif self.tls_context is None or conn.tls_done:
            super().process_conn(conn)
        elif conn.advance_tls(self.tls_context):
            self.put_conn(conn)  # straight to a thread if the request came with the handshake, else once it does

    def error_log(self, msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        if level >= logging.WARNING:  # below are dropped connections and shutdown chatter
            logging.getLogger("cheroot").log(level, "%s", msg, exc_info=traceback)
