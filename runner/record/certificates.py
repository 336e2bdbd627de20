"""The TLS certificates of the HTTPS hosts the journeys reach, kept per host and exported as series.

``synthetic_tls_cert_expiry_timestamp_seconds{host}`` (blackbox_exporter's ``probe_ssl_earliest_cert_expiry``)
and ``synthetic_tls_info{host, version, issuer}``. At most ``MAX_HOSTS`` hosts: a host beyond them is logged
once and counted in ``synthetic_tls_hosts_over_limit_total`` each cycle it is reached. A host drops out after
``FORGET_AFTER_CYCLES`` cycles in which the journeys that reached it ran (or were gone) without reaching it:
a journey with an interval of its own keeps its host between its runs.

Usage::

    book = CertificateBook()
    book.record(cycle.results, cycle.collected)
    registry.register(book)
    for host in book.take_turned_away(): ...          # hosts beyond the limit, each once: log them
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from runner.handoff.observations import Certificate
from runner.handoff.results import JourneyResult

MAX_HOSTS = 100
FORGET_AFTER_CYCLES = 10
MAX_JOURNEYS_PER_HOST = 50  # remembered to tell a cycle that missed the host from one that did not try
EXPIRY_HELP = "Unix time of the earliest notAfter in the certificate chain the HTTPS host presented to a journey."
INFO_HELP = "1 for each HTTPS host a journey reached, with the TLS version spoken and the issuer of its certificate."
OVER_LIMIT_HELP = f"HTTPS hosts reached beyond the {MAX_HOSTS} whose certificates are kept, counted each cycle."


@dataclass(slots=True)
class _Host:
    certificate: Certificate
    journeys: set[str] = field(default_factory=set)
    misses: int = 0  # cycles since a journey last reached it, counting only those in which its journeys ran


class CertificateBook:
    """The latest certificate of each HTTPS host the journeys reach."""

    def __init__(self, max_hosts: int = MAX_HOSTS) -> None:
        self.max_hosts = max_hosts
        self._new_turned_away: list[str] = []
        self._hosts: dict[str, _Host] = {}
        self._turned_away: set[str] = set()  # said once each (bounded like the hosts kept)
        self.over_limit = 0
        self._lock = threading.Lock()

    def record(self, results: Iterable[JourneyResult], collected: Iterable[str]) -> None:
        """One cycle's results; ``collected``: the journeys that still exist."""
        reached: dict[str, _Host] = {}
        ran: set[str] = set()
        for result in results:
            ran.add(result.journey)
            for certificate in result.observed.certificates:
                host = reached.setdefault(certificate.host, _Host(certificate))
                host.certificate = certificate
                if len(host.journeys) < MAX_JOURNEYS_PER_HOST:
                    host.journeys.add(result.journey)
        existing = set(collected) | ran
        with self._lock:
            for name, seen in reached.items():
                self._reach(name, seen)
            for name, host in list(self._hosts.items()):
                if name in reached:
                    continue
                if host.journeys & ran or not host.journeys & existing:
                    host.misses += 1
                if host.misses >= FORGET_AFTER_CYCLES:
                    del self._hosts[name]

    def _reach(self, name: str, seen: _Host) -> None:
        kept = self._hosts.get(name)
        if kept is not None:
            kept.certificate, kept.misses = seen.certificate, 0
            if len(kept.journeys) < MAX_JOURNEYS_PER_HOST:
                kept.journeys |= seen.journeys
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
