"""``/api/maintenance``: ad-hoc maintenance windows over HTTP.

``GET /api/maintenance`` lists every window; ``POST /api/maintenance`` with a JSON body makes one (201, the
window with its ``id``); ``DELETE /api/maintenance/<id>`` ends one. Making or ending a window silences alerts,
so it needs a person who signed in: with ``--web-config`` basic-auth users (``runner.web.access`` answers 401
without credentials before this app runs); without users configured, 403 and why.

Usage::

    api = MaintenanceApi(book, writable=web_config_has_users, changed=monitor.maintenance_changed)
    routes["/api/maintenance"] = routes["/api/maintenance/"] = api.wsgi
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from runner.record.maintenance import MaintenanceBook
from runner.settings.maintenance import MaintenanceError
from runner.web.http import StartResponse, respond

PATH = "/api/maintenance"
MAX_BODY_BYTES = 64 * 1024
NO_USERS = (
    "ad-hoc maintenance windows silence alerts, so they need a person who signs in: start the runner with "
    "--web-config naming basic_auth_users (windows can also be planned in the --maintenance file)"
)


class MaintenanceApi:
    """The WSGI app of /api/maintenance and /api/maintenance/<id>."""

    def __init__(self, book: MaintenanceBook, writable: bool, changed: Callable[[], None]) -> None:
        self.book = book
        self.writable = writable
        self.changed = changed  # told after a window is made or ended

    def wsgi(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = (environ.get("PATH_INFO", "") or "").rstrip("/")
        window_id = path[len(PATH) + 1 :] if path.startswith(PATH + "/") else None
        if method in ("GET", "HEAD") and window_id is None:
            return _json(start_response, "200 OK", {"windows": [window.to_json() for window in self.book.windows()]})
        allowed = "DELETE" if window_id is not None else "GET, HEAD, POST"
        if (window_id is None and method != "POST") or (window_id is not None and method != "DELETE"):
            return _error(start_response, "405 Method Not Allowed", f"{path or PATH} allows {allowed}", allowed)
        if not self.writable:
            return _error(start_response, "403 Forbidden", NO_USERS)
        return self._end(start_response, window_id) if window_id is not None else self._make(environ, start_response)

    def _make(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body, problem = _read_json(environ)
        if problem:
            status = "413 Content Too Large" if problem.startswith("the body is larger") else "400 Bad Request"
            return _error(start_response, status, problem)
        try:
            window = self.book.add(body)
        except MaintenanceError as exc:
            return _error(start_response, "400 Bad Request", str(exc))
        self.changed()
        return _json(start_response, "201 Created", window.to_json(), [("Location", f"{PATH}/{window.id}")])

    def _end(self, start_response: StartResponse, window_id: str) -> Iterable[bytes]:
        window = self.book.end(window_id)
        if window is None:
            known = {w.name for w in self.book.windows() if not w.id}
            why = f"no ad-hoc window with id {window_id!r}" + (
                "; windows of the --maintenance file end by editing it" if known else ""
            )
            return _error(start_response, "404 Not Found", why)
        self.changed()
        return _json(start_response, "200 OK", {"ended": window.to_json()})


def _read_json(environ: dict[str, Any]) -> tuple[object, str]:
    """The request's JSON body, or a problem saying what is wrong with it."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None, "Content-Length must be a number"
    if length > MAX_BODY_BYTES:
        return None, f"the body is larger than {MAX_BODY_BYTES} bytes"
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    if not raw.strip():
        return None, 'the body must be a JSON object, e.g. {"name": "deploy", "duration": "30m", "mode": "mute"}'
    try:
        return json.loads(raw), ""
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"the body is not JSON: {exc}"
    except RecursionError:  # json's decoder recurses once per [ or {: a body of 64 KiB of "[" is a 400, not a 500
        return None, "the body is nested too deeply to be a window; send a flat JSON object"


def _json(
    start_response: StartResponse, status: str, document: object, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    return respond(start_response, status, "application/json", json.dumps(document).encode(), extra)


def _error(start_response: StartResponse, status: str, message: str, allow: str = "") -> list[bytes]:
    extra = [("Allow", allow)] if allow else None
    return _json(start_response, status, {"error": message}, extra)
