"""Request phases: every request of the ``http`` session timed as blackbox_exporter times a probe.

A requests adapter whose urllib3 connections time their own making: ``resolve`` (the name's lookup),
``connect`` (TCP) and ``tls`` (the handshake; with a proxy, the tunnel too). ``processing`` runs from the start
of the request until the answer's headers are in, less those three (so it holds the sending of the request and
the server's time to its first byte); ``transfer`` from there until the body is read. The phases add up to the
request's duration by construction. A request on a kept-alive connection has no resolve, connect or tls time;
a streamed answer (``stream=True``) has no transfer: the journey reads its body when it likes.

Each hop of a redirect is a request of its own. The HTTPS connections also record the certificate chain the
server presented (``runner.journey.certificates``).

Usage::

    log = RequestLog()
    session.mount("http://", TimedAdapter(log))
    session.mount("https://", TimedAdapter(log))
    session.get(url)
    log.observations().phase_seconds                 # (resolve, connect, tls, processing, transfer)
"""

from __future__ import annotations

import functools
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager, connection, connectionpool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from runner.handoff.observations import (
    MAX_REQUESTS,
    MAX_URL_CHARS,
    NO_PHASES,
    Certificate,
    Observations,
    RequestTiming,
)
from runner.handoff.results import safe_text
from runner.journey import certificates

MAX_HOPS = 64  # of one call followed for its span (requests follows at most 30 redirects)


@functools.lru_cache(maxsize=1024)  # a journey asks for the same few URLs run after run
def public_url(url: str | bytes) -> str:
    """``url`` without user, password, query string or fragment: they can hold secrets, and this leaves the
    journey's process (spans, the page, /api/results)."""
    # A bytes URL that is not UTF-8 is requests' to refuse, with its own error: here it only has to be shown.
    where = urlsplit(url.decode(errors="replace") if isinstance(url, bytes) else str(url))
    address = f"{where.scheme}://{where.netloc.rpartition('@')[2]}{where.path}"
    return safe_text(address)[:MAX_URL_CHARS]


@dataclass(slots=True)
class _Hop:
    """One request on its way: when it started, what making its connection took, when its answer came."""

    log: RequestLog
    method: str
    url: str
    started: float
    resolve: float = 0.0
    connect: float = 0.0
    tls: float = 0.0
    answered: float = 0.0
    status: int = 0
    timing: RequestTiming | None = None  # once it is over

    def end(self, ended: float) -> None:
        """The request is over (its body read, or it broke): its timing goes into the log, once."""
        if self.timing is not None:
            return
        answered = self.answered or ended
        opening = self.resolve + self.connect + self.tls
        processing = max(0.0, answered - self.started - opening)
        phases = (self.resolve, self.connect, self.tls, processing, max(0.0, ended - answered))
        self.timing = RequestTiming(self.method, self.url, self.status, phases)
        self.log.add(self.timing)


@dataclass(slots=True)
class Call:
    """A journey's call (``session.get(...)``): when it began, and the requests it made (a redirect's hops)."""

    started: float
    hops: list[_Hop] = field(default_factory=list)

    def end(self) -> None:
        """The call is over: a request still open (its body never read, as when a response hook raised) ends now."""
        now = perf_counter()
        for hop in self.hops:
            hop.end(now)

    def phases(self) -> tuple[float, ...]:
        """The phases of the call's requests, summed (for its span)."""
        timings = [hop.timing.phases for hop in self.hops if hop.timing is not None]
        return tuple(sum(phase) for phase in zip(*timings, strict=True)) if timings else NO_PHASES


# The request being made in this thread (a journey may make requests from threads of its own).
_HOP: ContextVar[_Hop | None] = ContextVar("synthetic_monitor_request", default=None)
# The journey's call under way in this thread (``Session.request``): its first hop starts when the call
# began, so that the phases add up to the time the journey saw (requests' preparation in processing).
_CALL: ContextVar[Call | None] = ContextVar("synthetic_monitor_call", default=None)


def call_starts() -> tuple[Call, Token[Call | None]]:
    """A journey's call (``session.get(...)``) starts; ``call_ends(call, token)`` when it is over."""
    call = Call(perf_counter())
    return call, _CALL.set(call)


def call_ends(call: Call, token: Token[Call | None]) -> None:
    """The call that ``call_starts`` began is over."""
    _CALL.reset(token)
    call.end()


@dataclass
class RequestLog:
    """A journey run's requests: counted and summed by phase, the first few and the slowest kept."""

    count: int = 0
    phase_seconds: list[float] = field(default_factory=lambda: list(NO_PHASES))
    requests: list[RequestTiming] = field(default_factory=list)
    slowest: RequestTiming | None = None
    certificates: dict[str, Certificate] = field(default_factory=dict)
    _slowest_seconds: float = -1.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, timing: RequestTiming) -> None:
        """One finished request."""
        with self._lock:
            self.count += 1
            self.phase_seconds = [total + part for total, part in zip(self.phase_seconds, timing.phases, strict=True)]
            if len(self.requests) < MAX_REQUESTS:
                self.requests.append(timing)
            seconds = sum(timing.phases)
            if seconds > self._slowest_seconds:
                self.slowest, self._slowest_seconds = timing, seconds

    def add_certificate(self, certificate: Certificate) -> None:
        """The chain a server presented; of a host's (backends that differ), the earliest to expire is kept."""
        with self._lock:
            kept = self.certificates.get(certificate.host)
            if kept is None or certificate.not_after < kept.not_after:
                self.certificates[certificate.host] = certificate

    def observations(self, vitals: tuple[tuple[str, float], ...] = ()) -> Observations:
        """What the run's requests showed, with the ``vitals`` its pages reported."""
        with self._lock:
            return Observations(
                self.count,
                tuple(self.phase_seconds),
                tuple(self.requests),
                self.slowest,
                tuple(self.certificates.values()),
                vitals,
            )


def _open(conn: connection.HTTPConnection, untimed: Callable[[], socket.socket]) -> socket.socket:
    """urllib3's ``_new_conn`` (``create_connection``'s loop) with the name's lookup timed apart from the TCP
    connect: each address the name resolves to is tried in turn, and a failure is urllib3's error."""
    hop = _HOP.get()
    if hop is None:
        return untimed()
    started = perf_counter()
    try:
        found = socket.getaddrinfo(conn._dns_host.strip("[]"), conn.port, allowed_gai_family(), socket.SOCK_STREAM)
    except UnicodeError:
        return untimed()  # a name that cannot be one: urllib3's own error for it
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    finally:
        hop.resolve += perf_counter() - started
    resolved = perf_counter()
    try:
        sock = _connect_any(conn, found)
    except TimeoutError as exc:
        timeout = f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})"
        raise ConnectTimeoutError(conn, timeout) from exc
    except OSError as exc:
        raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc
    finally:
        hop.connect += perf_counter() - resolved
    sys.audit("http.client.connect", conn, conn.host, conn.port)
    return sock


def _connect_any(conn: connection.HTTPConnection, found: list[Any]) -> socket.socket:
    """A socket connected to the first address that answers, set up as urllib3 sets one up; else the last error."""
    error: OSError = OSError("getaddrinfo returns an empty list")
    for family, kind, protocol, _, address in found:
        sock = None
        try:
            sock = socket.socket(family, kind, protocol)
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            timeout: object = conn.timeout  # urllib3's sentinel, when the request gave none
            if timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(conn.timeout)
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            if sock is not None:
                sock.close()
    raise error


# Named as urllib3's, whose names a failure's message shows ("HTTPConnectionPool(host=...): ...").
class HTTPConnection(connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _open(self, super()._new_conn)


class HTTPSConnection(connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _open(self, super()._new_conn)

    def connect(self) -> None:
        """The TLS handshake timed, and the chain the server presented recorded (also when it fails to verify)."""
        hop = _HOP.get()
        if hop is None:
            super().connect()
            return
        started, opened = perf_counter(), hop.resolve + hop.connect
        try:
            super().connect()
        except Exception as exc:
            if certificates.failed_verification(exc):  # fetched again, unverified: its time counts in tls
                found = certificates.probe(self)
                if found is not None:
                    hop.log.add_certificate(found)
            hop.tls += max(0.0, perf_counter() - started - (hop.resolve + hop.connect - opened))
            raise
        hop.tls += max(0.0, perf_counter() - started - (hop.resolve + hop.connect - opened))
        found = certificates.presented(self)
        if found is not None:
            hop.log.add_certificate(found)


class HTTPConnectionPool(connectionpool.HTTPConnectionPool):
    ConnectionCls = HTTPConnection


class HTTPSConnectionPool(connectionpool.HTTPSConnectionPool):
    ConnectionCls = HTTPSConnection


def _timed(manager: PoolManager) -> PoolManager:
    """``manager`` making timed connections; a SOCKS proxy's, whose pools are its own, is left as it is."""
    classes: Mapping[str, type[connectionpool.HTTPConnectionPool]] = manager.pool_classes_by_scheme
    plain = classes.get("http") is connectionpool.HTTPConnectionPool
    if plain and classes.get("https") is connectionpool.HTTPSConnectionPool:
        manager.pool_classes_by_scheme = {"http": HTTPConnectionPool, "https": HTTPSConnectionPool}
    return manager


class TimedResponse(requests.Response):
    """An answer whose request ends when its body has been read."""

    _synthetic_hop: _Hop | None = None

    @property
    def content(self) -> bytes:
        hop, self._synthetic_hop = self._synthetic_hop, None
        try:
            return super().content
        finally:
            if hop is not None:
                hop.end(perf_counter())


class TimedAdapter(HTTPAdapter):
    """A requests adapter that times each request it sends by phase, into ``log``."""

    def __init__(self, log: RequestLog, **kwargs: Any) -> None:
        self.log = log
        super().__init__(**kwargs)

    @classmethod
    def adopt(cls, adapter: HTTPAdapter, log: RequestLog) -> TimedAdapter:
        """requests' own ``adapter`` (a journey's ``HTTPAdapter(max_retries=3)``, or a session's default), timed
        in place: its retries, pool sizes and pool kept, nothing made twice."""
        adapter.__class__ = cls
        timed = cast(TimedAdapter, adapter)
        timed.log = log
        _timed(timed.poolmanager)
        return timed

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _timed(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _timed(super().proxy_manager_for(proxy, **proxy_kwargs))

    def send(self, request: requests.PreparedRequest, stream: bool = False, *args: Any, **kwargs: Any) -> Any:
        call = _CALL.get()
        # A redirect's next hop starts when it is sent; a call's first when the call began.
        started = perf_counter() if call is None or call.hops else call.started
        hop = _Hop(self.log, str(request.method or "GET").upper(), public_url(request.url or ""), started)
        if call is not None and len(call.hops) < MAX_HOPS:
            call.hops.append(hop)
        token = _HOP.set(hop)
        try:
            response = super().send(request, stream, *args, **kwargs)
        except BaseException:
            hop.end(perf_counter())
            raise
        finally:
            _HOP.reset(token)
        hop.answered, hop.status = perf_counter(), response.status_code
        if stream or not isinstance(response, TimedResponse):
            hop.end(hop.answered)
        else:
            response._synthetic_hop = hop
        return response

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = super().build_response(req, resp)
        response.__class__ = TimedResponse  # the same object, whose content property ends the request
        return response
