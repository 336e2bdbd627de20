"""The Reservations Service: the system the demo monitor watches.

Usage::

    app = create_app(ServiceConfig(faults=NO_FAULTS))
    app.test_client().post("/reservations", json={"username": "synthetic"})
"""

from __future__ import annotations

import functools
import hmac
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from prometheus_client import CollectorRegistry
from werkzeug.exceptions import HTTPException

from target_service.faults import SEED_FAULTS, FaultError, FaultInjector, FaultSettings
from target_service.metrics import exposition, instrument
from target_service.store import DEFAULT_MAX_RESERVATIONS, ReservationStore

MAX_BODY_BYTES = 64 * 1024
OPENAPI_PATH = Path(__file__).with_name("openapi.json")
BOOK_PAGE = Path(__file__).with_name("book.html")
BOOK_SCRIPT = Path(__file__).with_name("book.js")
# The booking page uses nothing but its own files.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'", "X-Frame-Options": "DENY"}
View = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Everything the service needs, read once at start-up."""

    api_token: str | None = None
    admin_token: str | None = None
    faults: FaultSettings = field(default=SEED_FAULTS)
    seed: int | None = None
    max_reservations: int = DEFAULT_MAX_RESERVATIONS

    @classmethod
    def from_env(cls, faults: FaultSettings, env: Mapping[str, str] = os.environ) -> ServiceConfig:
        """Read the tokens from ``TARGET_API_TOKEN`` and ``TARGET_ADMIN_TOKEN`` (empty means unset)."""
        return cls(
            api_token=env.get("TARGET_API_TOKEN") or None,
            admin_token=env.get("TARGET_ADMIN_TOKEN") or None,
            faults=faults,
        )


def create_app(config: ServiceConfig | None = None) -> Flask:
    """Build the service; each app has its own store, fault settings and metrics registry."""
    config = config or ServiceConfig()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    store = ReservationStore(config.max_reservations)
    injector = FaultInjector(config.faults, seed=config.seed)
    registry = CollectorRegistry()
    instrument(app, registry)
    app.extensions["faults"] = injector
    app.extensions["store"] = store

    reservations_guard = _guard(config.api_token, injector)
    admin_guard = _guard(config.admin_token, None)

    @app.post("/reservations")
    @reservations_guard
    def create_reservation() -> tuple[Response, int]:
        body = request.get_json(silent=True)
        if body is None:
            return _error('body must be JSON, e.g. {"username": "alice"}', 400)
        if not isinstance(body, dict):
            return _error("body must be a JSON object", 400)
        username = body.get("username")
        if not isinstance(username, str) or not username.strip():
            return _error("username must be a non-empty string", 400)
        return jsonify(store.create(body)), 200

    @app.get("/reservations/<id>")
    @reservations_guard
    def get_reservation(id: str) -> tuple[Response, int]:
        found = store.get(id)
        if found is None:
            return _error(f"no reservation with id {id!r}", 404)
        return jsonify(found), 200

    @app.delete("/reservations/<id>")
    @reservations_guard
    def delete_reservation(id: str) -> Response | tuple[Response, int]:
        if not store.delete(id):
            return _error(f"no reservation with id {id!r}", 404)
        return Response(status=204)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", reservations=len(store))

    @app.get("/book")
    def book_page() -> Response:
        return Response(BOOK_PAGE.read_bytes(), mimetype="text/html", headers=PAGE_HEADERS)

    @app.get("/book.js")
    def book_script() -> Response:
        return Response(BOOK_SCRIPT.read_bytes(), mimetype="text/javascript", headers=PAGE_HEADERS)

    @app.get("/openapi.json")
    def openapi() -> Response:
        return Response(OPENAPI_PATH.read_bytes(), mimetype="application/json")

    @app.get("/metrics")
    def metrics() -> Response:
        encoder, content_type = exposition(request.headers.get("Accept", ""))
        return Response(encoder(registry), content_type=content_type, headers={"Vary": "Accept"})

    @app.get("/admin/faults")
    @admin_guard
    def get_faults() -> Response:
        return jsonify(injector.settings.as_json())

    @app.put("/admin/faults")
    @admin_guard
    def put_faults() -> tuple[Response, int]:
        body = request.get_json(silent=True)
        if body is None:
            return _error('body must be JSON, e.g. {"error_rate": 1, "status_codes": [500]}', 400)
        try:
            settings = injector.update(body)
        except FaultError as exc:
            return _error(str(exc), 400)
        return jsonify(settings.as_json()), 200

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        return _error(exc.description or exc.name, exc.code or 500)

    return app


def _error(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=message), status


def _guard(token: str | None, injector: FaultInjector | None) -> Callable[[View], View]:
    """Wrap a view with the injected faults (when given) and the bearer-token check (when set)."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def guarded(**kwargs: Any) -> Any:
            if injector is not None:
                delay_seconds, status = injector.draw()
                if delay_seconds:
                    time.sleep(delay_seconds)
                if status is not None:
                    return _error(f"injected fault: {status}", status)
            if token is not None and not _bearer_matches(token):
                return _error("missing or wrong bearer token in the Authorization header", 401)
            return view(**kwargs)

        return guarded

    return decorate


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
