"""The runner's HTTP server over waitress, GET only: /metrics, /healthz, the status page and /api/results.

Usage::

    server = bind(make_app(registry, monitor.health), "127.0.0.1", 8000)   # ConfigError if the port is taken
    server.run()
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from waitress.server import create_server

from runner import page
from runner.errors import ConfigError
from runner.exposition import CachedBody

DEFAULT_THREADS = 8
# waitress stops accepting at 100 open sockets (its own listener included): a few dashboards and load
# balancers' keep-alive connections would reach that, and the 99th client would hang in the backlog.
CONNECTION_LIMIT = 1000
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
    """A WSGI app serving /metrics, /healthz and any extra ``routes``; other methods get 405."""
    table: dict[str, WSGIApp] = {"/metrics": metrics, "/healthz": _health_app(health)}
    table.update(routes or {})

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        route = table.get(path)
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
        body = json.dumps(results()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), *SECURITY_HEADERS])
        return [body]

    return {"/": page_body.wsgi, "/api/results": api_app}


def _health_app(health: Health) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        healthy, details = health()
        body = json.dumps(details).encode()
        status = "200 OK" if healthy else "503 Service Unavailable"
        start_response(status, [("Content-Type", "application/json"), *SECURITY_HEADERS])
        return [body]

    return app


def _text(
    start_response: StartResponse, status: str, text: str, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), *SECURITY_HEADERS, *(extra or [])])
    return [text.encode()]


def bind(app: WSGIApp, host: str, port: int) -> Any:
    """Create (and bind) the waitress server; a taken port or bad address is a ConfigError."""
    try:
        return create_server(
            app,
            host=host,
            port=port,
            threads=DEFAULT_THREADS,
            connection_limit=CONNECTION_LIMIT,
            ident="synthetic-monitor",
        )
    except OSError as exc:
        raise ConfigError(f"--port: cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def bound_port(server: Any, requested: int) -> int:
    """The port the server listens on (the one picked by the OS when ``requested`` is 0)."""
    port = getattr(server, "effective_port", None)
    return int(port) if port is not None else requested
