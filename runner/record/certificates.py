"""The TLS certificates of the HTTPS hosts the journeys reach, kept per host and exported as series.

``synthetic_tls_cert_expiry_timestamp_seconds{host}`` (blackbox_exporter's ``probe_ssl_earliest_cert_expiry``)
and ``synthetic_tls_info{host, version, issuer}``. At most ``MAX_HOSTS`` hosts: a host beyond them is logged
once and counted in ``synthetic_tls_hosts_over_limit_total`` each cycle it is reached. A host that no journey
reached for ``FORGET_AFTER_CYCLES`` cycles drops out; for a host reached by journeys with an interval of their
own, that many of their periods (a journey run every 10 cycles keeps its host for 100). Backends of one host
that present different chains: the earliest expiry of the cycle counts (an old certificate still served keeps
the alert); a later cycle's replaces it, so a renewal shows.

Usage::

    book = CertificateBook()
    book.record(cycle.results, periods={"test_a.py::test_hourly": 120})     # in cycles
    registry.register(book)
    for host in book.take_turned_away(): ...          # hosts beyond the limit, each once: log them
    book.known_chains()                               # for the next cycle (runner.journey.certificates.learn)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from runner.handoff.observations import Certificate, KnownChain
from runner.handoff.results import JourneyResult

MAX_HOSTS = 100
DIGEST_BYTES = 20  # a chain's SHA-1 (runner.journey.certificates); anything else a journey sent is not handed on
FORGET_AFTER_CYCLES = 10
EXPIRY_HELP = "Unix time of the earliest notAfter in the certificate chain the HTTPS host presented to a journey."
INFO_HELP = "1 for each HTTPS host a journey reached, with the TLS version spoken and the issuer of its certificate."
OVER_LIMIT_HELP = f"HTTPS hosts reached beyond the {MAX_HOSTS} whose certificates are kept, counted each cycle."


@dataclass(slots=True)
class _Host:
    certificate: Certificate
    misses: int = 0  # cycles since a journey last reached it
    patience: int = FORGET_AFTER_CYCLES  # cycles it is kept without being reached


class CertificateBook:
    """The latest certificate of each HTTPS host the journeys reach."""

    def __init__(self, max_hosts: int = MAX_HOSTS) -> None:
        self.max_hosts = max_hosts
        self._new_turned_away: list[str] = []
        self._hosts: dict[str, _Host] = {}
        self._turned_away: set[str] = set()  # said once each (bounded like the hosts kept)
        self.over_limit = 0
        self._lock = threading.Lock()

    def record(self, results: Iterable[JourneyResult], periods: Mapping[str, int] | None = None) -> None:
        """One cycle's results; ``periods``: the journeys that run every so many cycles, with that number."""
        periods = periods or {}
        reached: dict[str, _Host] = {}
        for result in results:
            for certificate in result.observed.certificates:
                host = reached.setdefault(certificate.host, _Host(certificate))
                if certificate.not_after < host.certificate.not_after:
                    host.certificate = certificate
                host.patience = max(host.patience, FORGET_AFTER_CYCLES * periods.get(result.journey, 1))
        with self._lock:
            for name, seen in reached.items():
                self._reach(name, seen)
            for name, host in list(self._hosts.items()):
                if name not in reached:
                    host.misses += 1
                    if host.misses >= host.patience:
                        del self._hosts[name]

    def _reach(self, name: str, seen: _Host) -> None:
        kept = self._hosts.get(name)
        if kept is not None:
            kept.certificate, kept.misses, kept.patience = seen.certificate, 0, seen.patience
        elif len(self._hosts) < self.max_hosts:
            self._hosts[name] = seen
        else:
            self.over_limit += 1
            if name not in self._turned_away and len(self._turned_away) < self.max_hosts:
                self._turned_away.add(name)
                self._new_turned_away.append(name)

    def take_turned_away(self) -> list[str]:
        """The hosts turned away for the first time since the last call."""
        with self._lock:
            taken, self._new_turned_away = self._new_turned_away, []
            return taken

    def certificates(self) -> list[Certificate]:
        """The certificates kept, soonest expiry first."""
        with self._lock:
            return sorted((host.certificate for host in self._hosts.values()), key=lambda c: (c.not_after, c.host))

    def known_chains(self) -> tuple[KnownChain, ...]:
        """The chains kept, by digest, as decoded: the next cycle's journeys need not decode them again."""
        with self._lock:
            kept = (host.certificate for host in self._hosts.values())
            return tuple(found.known for found in kept if len(found.chain) == DIGEST_BYTES)

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("synthetic_tls_cert_expiry_timestamp_seconds", EXPIRY_HELP, labels=["host"])
        yield GaugeMetricFamily("synthetic_tls_info", INFO_HELP, labels=["host", "version", "issuer"])
        yield CounterMetricFamily("synthetic_tls_hosts_over_limit", OVER_LIMIT_HELP)

    def collect(self) -> Iterator[Metric]:
        expiry, info, over = self.describe()
        for certificate in self.certificates():
            expiry.add_metric([certificate.host], certificate.not_after)  # type: ignore[attr-defined]
            info.add_metric([certificate.host, certificate.version, certificate.issuer], 1.0)  # type: ignore[attr-defined]
        over.add_metric([], self.over_limit)  # type: ignore[attr-defined]
        yield from (expiry, info, over)
