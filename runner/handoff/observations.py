"""What a journey run saw of the wire and of the page: its requests' phases, TLS certificates, Web Vitals.

Made in the journey's process (``runner.journey.phases``, ``certificates``, ``vitals``), carried in its
``JourneyResult`` and turned into series, the page and /api/results by the runner. The names are fixed, so that
dashboards and alerts can rely on them: the phases are blackbox_exporter's, the vitals web.dev's.

Usage::

    timing = RequestTiming("GET", "https://shop.example/cart", 200, (0.001, 0.002, 0.01, 0.2, 0.003))
    timing.seconds                                   # 0.216: the phases add up to the request
    rating("lcp", 3.1)                               # "needs improvement"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# blackbox_exporter's names: DNS, TCP, TLS handshake, request sent until the answer's first byte, the rest.
PHASES = ("resolve", "connect", "tls", "processing", "transfer")
NO_PHASES = (0.0, 0.0, 0.0, 0.0, 0.0)
MAX_REQUESTS = 20  # per run, the first ones are listed (all are counted); the slowest is kept apart
MAX_URL_CHARS = 300
# The Core Web Vitals a browser measures, in seconds (CLS has no unit), and web.dev's thresholds: good up to
# the first, poor above the second, needs improvement between.
VITALS = ("lcp", "fcp", "cls", "ttfb", "inp")
VITAL_THRESHOLDS = {
    "lcp": (2.5, 4.0),
    "fcp": (1.8, 3.0),
    "cls": (0.1, 0.25),
    "ttfb": (0.8, 1.8),
    "inp": (0.2, 0.5),
}
RATINGS = ("good", "needs improvement", "poor")


def rating(vital: str, value: float) -> str:
    """good, needs improvement or poor, by web.dev's thresholds for ``vital``."""
    good, poor = VITAL_THRESHOLDS[vital]
    if value <= good:
        return RATINGS[0]
    return RATINGS[1] if value <= poor else RATINGS[2]


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """One HTTP request (one hop of a redirect) of a journey run, phase by phase."""

    method: str
    url: str  # scheme, host, port and path: no user, password, query string or fragment
    status: int  # 0: no answer (refused, timed out, broken)
    phases: tuple[float, ...] = NO_PHASES  # seconds, in the order of PHASES

    @property
    def seconds(self) -> float:
        """The request's duration: its phases add up to it."""
        return sum(self.phases)

    def to_wire(self) -> tuple[str, str, int, tuple[float, ...]]:
        """As a worker sends it; ``RequestTiming(*wire)`` is the other end."""
        return (self.method, self.url, self.status, self.phases)


@dataclass(frozen=True, slots=True)
class Certificate:
    """The certificate chain an HTTPS server presented to a journey, as blackbox_exporter reports it."""

    host: str  # host:port as the journey asked for it
    not_after: float  # Unix time of the earliest notAfter in the chain
    version: str  # the TLS version spoken: TLSv1.3
    issuer: str  # who issued the server's own certificate: its issuer's common name (else organization)
    chain: bytes = b""  # a digest of the chain as presented: the next cycle knows it decoded (KnownChain)

    def to_wire(self) -> tuple[str, float, str, str, bytes]:
        """As a worker sends it; ``Certificate(*wire)`` is the other end."""
        return (self.host, self.not_after, self.version, self.issuer, self.chain)

    @property
    def known(self) -> KnownChain:
        """What the chain decodes to, by its digest: handed to the next cycle's journeys."""
        return (self.chain, self.not_after, self.issuer)


# A chain's digest, its earliest notAfter and its server certificate's issuer.
KnownChain = tuple[bytes, float, str]


@dataclass(frozen=True, slots=True)
class Observations:
    """A journey run's requests (phases summed, the first few and the slowest kept), certificates and vitals."""

    request_count: int = 0
    phase_seconds: tuple[float, ...] = NO_PHASES  # summed over every request of the run
    requests: tuple[RequestTiming, ...] = ()  # the first MAX_REQUESTS, in order
    slowest: RequestTiming | None = None
    certificates: tuple[Certificate, ...] = ()  # one per host
    vitals: tuple[tuple[str, float], ...] = ()  # (vital, value) of those the pages reported

    def __bool__(self) -> bool:
        return bool(self.request_count or self.certificates or self.vitals)

    def to_wire(self) -> tuple[Any, ...] | None:
        """As a worker sends it (None when there is nothing); ``from_wire`` is the other end."""
        if not self:
            return None
        return (
            self.request_count,
            self.phase_seconds,
            tuple(timing.to_wire() for timing in self.requests),
            self.slowest.to_wire() if self.slowest else None,
            tuple(certificate.to_wire() for certificate in self.certificates),
            self.vitals,
        )

    @classmethod
    def from_wire(cls, fields: Sequence[Any] | None) -> Observations:
        """What ``to_wire`` sent."""
        if fields is None:
            return NOTHING_OBSERVED
        count, phases, requests, slowest, certificates, vitals = fields
        return cls(
            count,
            tuple(phases),
            tuple(RequestTiming(*timing) for timing in requests),
            RequestTiming(*slowest) if slowest else None,
            tuple(Certificate(*certificate) for certificate in certificates),
            tuple((vital, value) for vital, value in vitals),
        )


NOTHING_OBSERVED = Observations()
