"""Who may read the monitor: basic auth on every path but /healthz, and the web configuration's extra headers.

A password guesser can neither slow the server down nor fill the log: credentials verified once are answered from
a cache, ahead of everything else; one bcrypt runs at a time and a request that would wait for it is answered 503
at once; an address that sends ``DEFAULT_FAILED_LOGINS`` wrong credentials within a window is answered 429 until
the window ends; and each address's refusals are logged once per burst, then summed up.

Usage::

    app = guard(make_app(...), settings.web_config)   # unchanged without a file, or one with no users or headers
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import bcrypt

from runner import logs
from runner.settings.web_config import BCRYPT_HASH, WebConfig
from runner.web.http import StartResponse, WSGIApp, respond

OPEN_PATHS = frozenset({"/healthz"})  # probes and load balancers carry no credentials
REALM = "synthetic-monitor"
CACHE_SIZE = 256
UNKNOWN_USER_PASSWORD = b"no such user"
LOGGED_NAME_CHARS = 64
LOGGED_USERS = 5  # user names a burst's summary lists; the rest are counted
DEFAULT_FAILED_LOGINS = 10  # wrong credentials per address and window: typos pass, a guessing run does not
DEFAULT_FAILED_LOGIN_WINDOW_SECONDS = 60.0
TRACKED_ADDRESSES = 10_000  # bursts followed at once; beyond, the oldest ends early
BUSY_RETRY_AFTER_SECONDS = 1
NO_CREDENTIALS = "no credentials"
WRONG_CREDENTIALS = "wrong user name or password"
Headers = list[tuple[str, str]]


class Users:
    """Checks basic-auth credentials against bcrypt hashes, caching each outcome.

    bcrypt costs tens of milliseconds by design and a scraper sends the same credentials every few seconds, so
    the outcome for each (user, hash, password) is kept, as the exporter-toolkit does, under a keyed digest rather
    than the password itself; good outcomes apart from bad ones, so wrong guesses never push a scraper's out. One
    bcrypt runs at a time, so a flood of wrong passwords costs one core at most, and no request waits for it. An
    unknown user is checked against a dummy hash of the same cost, so timing does not tell which users exist.
    """

    def __init__(self, users: Iterable[tuple[str, bytes]]) -> None:
        self._hashes = {name.encode(): hashed for name, hashed in users}
        costs = [
            int(match.group(1)) for hashed in self._hashes.values() if (match := BCRYPT_HASH.match(hashed.decode()))
        ]
        self._dummy = bcrypt.hashpw(UNKNOWN_USER_PASSWORD, bcrypt.gensalt(max(costs, default=4)))
        self._key = os.urandom(32)
        self._good: dict[bytes, None] = {}  # digests of checked credentials, oldest first
        self._bad: dict[bytes, None] = {}
        self._lock = threading.Lock()

    def cached(self, user: bytes, password: bytes) -> bool | None:
        """The outcome of an earlier check of these credentials, or None if there was none."""
        digest = self._digest(user, password)
        if digest in self._good:
            return True
        return False if digest in self._bad else None

    def check(self, user: bytes, password: bytes) -> bool | None:
        """Whether ``password`` is the user's (False for an unknown user); None, at once, while another check runs.

        None rather than a wait: eight request threads queued here would leave none for /healthz.
        """
        known = self.cached(user, password)
        if known is not None:
            return known
        if not self._lock.acquire(blocking=False):
            return None
        try:
            hashed = self._hashes.get(user)
            try:
                matched = bcrypt.checkpw(password, hashed or self._dummy)
            except ValueError:  # longer than bcrypt's 72 bytes: it cannot be the password
                matched = False
            ok = matched and hashed is not None
            outcomes = self._good if ok else self._bad
            if len(outcomes) >= CACHE_SIZE:
                del outcomes[next(iter(outcomes))]  # the oldest
            outcomes[self._digest(user, password)] = None
        finally:
            self._lock.release()
        return ok

    def _digest(self, user: bytes, password: bytes) -> bytes:
        hashed = self._hashes.get(user, b"")
        return hmac.new(self._key, b"\0".join((user, hashed, password)), hashlib.sha256).digest()


@dataclass(slots=True)
class _Burst:
    """One address's refusals within a window: what its summary says, and what the limit counts."""

    started: float
    refused: int = 0
    wrong: int = 0  # wrong credentials: what the limit counts
    limited: int = 0  # answered 429
    users: set[str] = field(default_factory=set)
    reasons: set[str] = field(default_factory=set)


class FailedLogins:
    """Refused requests per client address, in windows of ``window_seconds`` from each address's first refusal.

    After ``limit`` wrong credentials within its window an address is refused with 429 and no bcrypt until the
    window ends. The first refusal of each kind in a window (no credentials, wrong ones) is logged; once the window
    has ended (noticed at a later request) one summary says how many more there were. Never the password.
    """

    def __init__(
        self,
        limit: int = DEFAULT_FAILED_LOGINS,
        window_seconds: float = DEFAULT_FAILED_LOGIN_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._bursts: dict[str, _Burst] = {}  # by address, oldest first
        self._lock = threading.Lock()  # held for dictionary work only, never for I/O
        self._log = logs.get_logger("runner.web.access")

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try credentials again (counted as refused), or None if it may now."""
        now = self._clock()
        with self._lock:
            ended = self._end_bursts(now)
            burst = self._bursts.get(address)
            if burst is not None and burst.wrong >= self.limit:
                burst.limited += 1
                burst.refused += 1
                wait: int | None = max(1, math.ceil(burst.started + self.window_seconds - now))
            else:
                wait = None
        self._summarize(ended)
        return wait

    def refused(self, address: str, user: str | None, reason: str, path: str) -> None:
        """Count a 401 for ``address``; a wrong password (``reason`` WRONG_CREDENTIALS) counts towards the limit."""
        now = self._clock()
        with self._lock:
            ended = self._end_bursts(now)
            burst = self._bursts.setdefault(address, _Burst(now))
            first = reason not in burst.reasons
            burst.reasons.add(reason)
            burst.refused += 1
            burst.wrong += reason == WRONG_CREDENTIALS
            if user is not None and len(burst.users) < LOGGED_USERS:
                burst.users.add(user)
        self._summarize(ended)
        if first:
            self._log.warning("unauthorized request", user=user, reason=reason, remote_addr=address, path=path)

    def sweep(self) -> None:
        """Sum up the bursts whose window has ended; skipped, rather than waited for, while another call works."""
        if not self._bursts or not self._lock.acquire(blocking=False):
            return
        try:
            ended = self._end_bursts(self._clock())
        finally:
            self._lock.release()
        self._summarize(ended)

    def _end_bursts(self, now: float) -> list[tuple[str, _Burst]]:
        ended = []
        while self._bursts:  # oldest first: done at the first still running
            address, burst = next(iter(self._bursts.items()))
            if burst.started + self.window_seconds > now and len(self._bursts) <= TRACKED_ADDRESSES:
                break
            ended.append((address, self._bursts.pop(address)))
        return ended

    def _summarize(self, ended: list[tuple[str, _Burst]]) -> None:
        for address, burst in ended:
            if burst.refused > len(burst.reasons):  # more than the lines already logged
                self._log.warning(
                    "unauthorized requests",
                    remote_addr=address,
                    refused=burst.refused,
                    wrong_credentials=burst.wrong,
                    too_many_requests=burst.limited,
                    users=sorted(burst.users),
                    window_seconds=self.window_seconds,
                )


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


def guard(app: WSGIApp, web: WebConfig | None, failed_logins: FailedLogins | None = None) -> WSGIApp:
    """``app`` behind the file's basic auth (all paths but /healthz) and with its headers on every response."""
    if web is None:
        return app
    if web.users:
        app = _basic_auth(app, Users(web.users), failed_logins or FailedLogins())
    if web.headers:
        app = _with_headers(app, list(web.headers))
    return app


def _basic_auth(app: WSGIApp, users: Users, failed_logins: FailedLogins) -> WSGIApp:
    def protected(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in OPEN_PATHS:
            return app(environ, start_response)
        given = credentials(environ.get("HTTP_AUTHORIZATION", ""))
        if given is not None and users.cached(*given):  # verified before: no limit, no wait
            failed_logins.sweep()
            return app(environ, start_response)
        address = environ.get("REMOTE_ADDR", "")
        wait = failed_logins.retry_after(address)
        if wait is not None:
            return _refuse(start_response, "429 Too Many Requests", wait, "too many failed logins from your address")
        ok = False if given is None else users.check(*given)
        if ok is None:
            # 503, not 429: this client sent nothing wrong; the server is busy checking another password.
            return _refuse(start_response, "503 Service Unavailable", BUSY_RETRY_AFTER_SECONDS, "checking a password")
        if ok:
            return app(environ, start_response)
        # Who and from where, never the password; a name is cut short, it is whatever the client sent.
        user = None if given is None else given[0].decode("utf-8", "replace")[:LOGGED_NAME_CHARS]
        reason = NO_CREDENTIALS if given is None else WRONG_CREDENTIALS
        failed_logins.refused(address, user, reason, path[:LOGGED_NAME_CHARS])
        return respond(
            start_response,
            "401 Unauthorized",
            "text/plain; charset=utf-8",
            b"401 Unauthorized: this monitor asks for a user name and password\n",
            [("WWW-Authenticate", f'Basic realm="{REALM}", charset="UTF-8"')],
        )

    return protected


def _refuse(start_response: StartResponse, status: str, retry_after: int, why: str) -> list[bytes]:
    body = f"{status}: {why}; try again in {retry_after} s\n".encode()
    return respond(start_response, status, "text/plain; charset=utf-8", body, [("Retry-After", str(retry_after))])


def _with_headers(app: WSGIApp, extra: Headers) -> WSGIApp:
    def with_headers(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def start(status: str, headers: Headers, exc_info: Any = None) -> Any:
            # The page's own (stricter) headers win, as an exporter's handler overrides the toolkit's.
            present = {name.lower() for name, _ in headers}
            return start_response(status, [*headers, *(h for h in extra if h[0].lower() not in present)], exc_info)

        return app(environ, start)

    return with_headers
