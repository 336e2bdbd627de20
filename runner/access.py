"""Who may read the monitor: basic auth on every path but /healthz, and the web configuration's extra headers.

Usage::

    app = guard(make_app(...), settings.web_config)   # unchanged without a file, or one with no users or headers
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from collections.abc import Iterable
from typing import Any

import bcrypt

from runner import logs
from runner.http import StartResponse, WSGIApp, respond
from runner.web_config import BCRYPT_HASH, WebConfig

OPEN_PATHS = frozenset({"/healthz"})  # probes and load balancers carry no credentials
REALM = "synthetic-monitor"
CACHE_SIZE = 256
UNKNOWN_USER_PASSWORD = b"no such user"
LOGGED_NAME_CHARS = 64
Headers = list[tuple[str, str]]


class Users:
    """Checks basic-auth credentials against bcrypt hashes, caching each outcome.

    bcrypt costs tens of milliseconds by design and a scraper sends the same credentials every few seconds, so
    the outcome for each (user, hash, password) is kept, as the exporter-toolkit does, under a keyed digest rather
    than the password itself. One bcrypt runs at a time, so a flood of wrong passwords costs one core at most. An
    unknown user is checked against a dummy hash of the same cost, so timing does not tell which users exist.
    """

    def __init__(self, users: Iterable[tuple[str, bytes]]) -> None:
        self._hashes = {name.encode(): hashed for name, hashed in users}
        costs = [
            int(match.group(1)) for hashed in self._hashes.values() if (match := BCRYPT_HASH.match(hashed.decode()))
        ]
        self._dummy = bcrypt.hashpw(UNKNOWN_USER_PASSWORD, bcrypt.gensalt(max(costs, default=4)))
        self._key = os.urandom(32)
        self._cache: dict[bytes, bool] = {}
        self._lock = threading.Lock()

    def check(self, user: bytes, password: bytes) -> bool:
        """Whether ``password`` is the user's; False for an unknown user."""
        hashed = self._hashes.get(user)
        digest = hmac.new(self._key, b"\0".join((user, hashed or b"", password)), hashlib.sha256).digest()
        known = self._cache.get(digest)
        if known is not None:
            return known
        with self._lock:  # one bcrypt at a time; the cache hits above never wait for it
            try:
                matched = bcrypt.checkpw(password, hashed or self._dummy)
            except ValueError:  # longer than bcrypt's 72 bytes: it cannot be the password
                matched = False
            ok = matched and hashed is not None
            if len(self._cache) >= CACHE_SIZE:
                del self._cache[next(iter(self._cache))]  # the oldest
            self._cache[digest] = ok
        return ok


def credentials(header: str) -> tuple[bytes, bytes] | None:
    """(user, password) from an ``Authorization: Basic ...`` header, or None if there are none."""
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None


def guard(app: WSGIApp, web: WebConfig | None) -> WSGIApp:
    """``app`` behind the file's basic auth (all paths but /healthz) and with its headers on every response."""
    if web is None:
        return app
    if web.users:
        app = _basic_auth(app, Users(web.users))
    if web.headers:
        app = _with_headers(app, list(web.headers))
    return app


def _basic_auth(app: WSGIApp, users: Users) -> WSGIApp:
    log = logs.get_logger("runner.access")

    def protected(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in OPEN_PATHS:
            return app(environ, start_response)
        given = credentials(environ.get("HTTP_AUTHORIZATION", ""))
        if given is not None and users.check(*given):
            return app(environ, start_response)
        # Who and from where, never the password; a name is cut short, it is whatever the client sent.
        log.warning(
            "unauthorized request",
            user=None if given is None else given[0].decode("utf-8", "replace")[:LOGGED_NAME_CHARS],
            reason="no credentials" if given is None else "wrong user name or password",
            remote_addr=environ.get("REMOTE_ADDR", ""),
            path=environ.get("PATH_INFO", "")[:LOGGED_NAME_CHARS],
        )
        return respond(
            start_response,
            "401 Unauthorized",
            "text/plain; charset=utf-8",
            b"401 Unauthorized: this monitor asks for a user name and password\n",
            [("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')],
        )

    return protected


def _with_headers(app: WSGIApp, extra: Headers) -> WSGIApp:
    def with_headers(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: Headers, exc_info: Any = None) -> Any:
            # The page's own (stricter) headers win, as an exporter's handler overrides the toolkit's.
            present = {name.lower() for name, _ in headers}
            return start_response(status, [*headers, *(h for h in extra if h[0].lower() not in present)], exc_info)

        return app(environ, start)

    return with_headers
