"""The certificates of the HTTPS hosts the journeys reach: kept per host, bounded, forgotten when no longer met."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from runner.handoff.observations import Certificate, Observations
from runner.handoff.results import JourneyResult
from runner.record.certificates import FORGET_AFTER_CYCLES, CertificateBook


def reaching(journey: str, *hosts: str, not_after: float = 1.8e9) -> JourneyResult:
    found = tuple(Certificate(host, not_after, "TLSv1.3", "Test CA") for host in hosts)
    return JourneyResult(journey, True, 0.1, observed=Observations(certificates=found))


def hosts(book: CertificateBook) -> list[str]:
    return [certificate.host for certificate in book.certificates()]


def test_each_host_is_kept_once_with_its_latest_certificate_soonest_expiry_first() -> None:
    book = CertificateBook()
    book.record([reaching("a.py::test_a", "a.example:443", not_after=2e9), reaching("b.py::test_b", "b.example:443")])
    book.record([reaching("a.py::test_a", "a.example:443", not_after=1.5e9)])
    assert hosts(book) == ["a.example:443", "b.example:443"]
    assert book.certificates()[0].not_after == 1.5e9


def test_backends_that_differ_in_one_cycle_give_the_earliest_expiry_and_a_renewal_later_shows() -> None:
    book = CertificateBook()
    book.record([reaching("a.py::test_a", "lb.example:443", not_after=2e9), reaching("b.py::test_b", "lb.example:443")])
    assert book.certificates()[0].not_after == 1.8e9  # the old certificate one backend still serves
    book.record([reaching("a.py::test_a", "lb.example:443", not_after=2e9)])
    assert book.certificates()[0].not_after == 2e9


def test_the_chains_kept_are_handed_to_the_next_cycle_as_decoded() -> None:
    book = CertificateBook()
    learned = JourneyResult(
        "a.py::test_a",
        True,
        0.1,
        observed=Observations(certificates=(Certificate("a:443", 2e9, "TLSv1.3", "R11", b"d" * 20),)),
    )
    odd = Certificate("c:443", 2e9, "TLSv1.3", "R11", b"x" * 10_000)  # not a digest: a journey's own doing
    stray = JourneyResult("c.py::test_c", True, 0.1, observed=Observations(certificates=(odd,)))
    book.record([learned, reaching("b.py::test_b", "b.example:443"), stray])  # b's came without a digest
    assert book.known_chains() == ((b"d" * 20, 2e9, "R11"),)


def test_the_series_name_the_host_version_and_issuer() -> None:
    book = CertificateBook()
    book.record([reaching("a.py::test_a", "shop.example:8443")])
    registry = CollectorRegistry()
    registry.register(book)
    text = generate_latest(registry).decode()
    assert 'synthetic_tls_cert_expiry_timestamp_seconds{host="shop.example:8443"} 1.8e+09' in text
    assert 'synthetic_tls_info{host="shop.example:8443",issuer="Test CA",version="TLSv1.3"} 1.0' in text
    assert "synthetic_tls_hosts_over_limit_total 0.0" in text


def test_hosts_beyond_the_limit_are_counted_and_said_once() -> None:
    book = CertificateBook(max_hosts=2)
    for _ in range(3):
        book.record([reaching("a.py::test_a", "a:443", "b:443", "c:443", "d:443")])
    assert hosts(book) == ["a:443", "b:443"]
    assert book.over_limit == 6
    assert book.take_turned_away() == ["c:443", "d:443"]
    assert book.take_turned_away() == []


def test_a_host_no_journey_reached_for_ten_cycles_drops_out() -> None:
    book = CertificateBook()
    book.record([reaching("a.py::test_a", "old.example:443")])
    for _ in range(FORGET_AFTER_CYCLES - 1):
        book.record([reaching("a.py::test_a")])  # it went elsewhere, or was paused, or is gone
    assert hosts(book) == ["old.example:443"]
    book.record([])
    assert hosts(book) == []


def test_a_journey_with_an_interval_of_its_own_keeps_its_host_for_ten_of_its_periods() -> None:
    book = CertificateBook()
    book.record([reaching("slow.py::test_hourly", "api.example:443")], periods={"slow.py::test_hourly": 4})
    for _ in range(4 * FORGET_AFTER_CYCLES - 1):
        book.record([reaching("b.py::test_b")], periods={"slow.py::test_hourly": 4})
    assert hosts(book) == ["api.example:443"]
    book.record([])
    assert hosts(book) == []
