"""The runner's WSGI app: /metrics, /healthz, the status page, /api/results and /artifacts/ (GET only), and
/api/maintenance (``runner.web.maintenance_api``), which answers its own methods.

Served by ``runner.web.server``; basic auth is a WSGI layer in front of it (``runner.web.access``).

Usage::

    status = StatusDocuments(monitor.results, interval_seconds=30)      # monitor.publishers.append(status.invalidate)
    app = make_app(monitor.exposition.wsgi, monitor.health, status.routes())
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from runner.record.document import Document
from runner.web import page
from runner.web.exposition import CachedBody

PAGE_MAX_AGE_SECONDS = 1.0
Health = Callable[[], tuple[bool, dict[str, Any]]]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Results = Callable[[], Document]
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
]
PAGE_HEADERS = [
    ("Content-Security-Policy", page.CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
]


def make_app(
    metrics: WSGIApp,
    health: Health,
    routes: dict[str, WSGIApp] | None = None,
    writers: dict[str, WSGIApp] | None = None,
) -> WSGIApp:
    """A WSGI app serving /metrics, /healthz and any extra ``routes`` (one ending in "/" serves the paths under
    it) to GET and HEAD, other methods getting 405; ``writers`` are routes that answer every method themselves
    (/api/maintenance)."""
    table: dict[str, WSGIApp] = {"/metrics": metrics, "/healthz": _health_app(health)}
    table.update(routes or {})
    table.update(writers or {})
    own_methods = set(map(id, (writers or {}).values()))
    prefixes = [(path, route) for path, route in table.items() if len(path) > 1 and path.endswith("/")]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        route = table.get(path) or next((r for prefix, r in prefixes if path.startswith(prefix)), None)
        if route is None:
            return _text(start_response, "404 Not Found", f"no such path {path}; try / or /metrics\n")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") and id(route) not in own_methods:
            return _text(start_response, "405 Method Not Allowed", "only GET\n", [("Allow", "GET, HEAD")])
        return route(environ, start_response)

    return app


class StatusDocuments:
    """``/`` (the HTML status page) and ``/api/results`` (the same document as JSON), both rendered from one
    results document: taken at most once per PAGE_MAX_AGE_SECONDS however many people (or load tests) look,
    served cached as /metrics is, and rendered afresh on the first request after a cycle (``invalidate``)."""

    def __init__(self, results: Results, interval_seconds: float) -> None:
        self._results = results
        self._lock = threading.Lock()
        self._document: Document | None = None
        self._taken = float("-inf")
        self.page = CachedBody(
            lambda: page.render(self.document(), interval_seconds).encode(),
            "text/html; charset=utf-8",
            max_age_seconds=PAGE_MAX_AGE_SECONDS,
            headers=[*SECURITY_HEADERS, *PAGE_HEADERS],
        )
        self.api = CachedBody(
            lambda: json.dumps(self.document()).encode(),
            "application/json",
            max_age_seconds=PAGE_MAX_AGE_SECONDS,
            headers=SECURITY_HEADERS,
        )

    def routes(self) -> dict[str, WSGIApp]:
        """The two paths and their apps."""
        return {"/": self.page.wsgi, "/api/results": self.api.wsgi}

    def document(self) -> Document:
        """The results document both render, taken anew once it is older than PAGE_MAX_AGE_SECONDS."""
        with self._lock:
            now = time.monotonic()
            if self._document is None or now - self._taken > PAGE_MAX_AGE_SECONDS:
                self._document, self._taken = self._results(), now
            return self._document

    def invalidate(self) -> None:
        """A cycle has ended: the next request renders both from a new document."""
        with self._lock:
            self._document = None
        self.page.invalidate()
        self.api.invalidate()


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
