"""TLS certificates: the chain an HTTPS server on loopback presents, read with verification on, off and failing."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import requests

from runner.handoff.observations import Certificate
from runner.journey import certificates
from runner.journey.certificates import certificate, issuer_name, not_after_seconds
from runner.journey.phases import RequestLog
from runner.journey.session import TracedSession
from tests.certificates import Issued, issue, make_ca, serving

CA_NAME = "Certificates Test CA"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issued, Issued]:
    """A CA that expires in 5 days signing a server certificate that expires in 20: the CA is the earliest."""
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder, CA_NAME, days=5)
    return ca, issue(folder, ca, days=20)


def only_certificate(session: TracedSession) -> Certificate:
    (found,) = session.log.observations().certificates
    return found


def test_the_earliest_expiry_of_the_presented_chain_is_reported_with_version_and_issuer(
    chain: tuple[Issued, Issued],
) -> None:
    ca, server_cert = chain
    assert ca.not_after < server_cert.not_after
    with serving(server_cert) as server, TracedSession(5.0) as session:
        assert session.get(f"https://localhost:{server.port}/", verify=str(ca.cert)).ok
    found = only_certificate(session)
    assert found.host == f"localhost:{server.port}"
    assert found.not_after == ca.not_after
    assert found.version in ("TLSv1.2", "TLSv1.3")
    assert found.issuer == CA_NAME


def test_a_ca_bundle_from_requests_ca_bundle_is_trusted(
    chain: tuple[Issued, Issued], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, server_cert = chain
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca.cert))
    with serving(server_cert) as server, TracedSession(5.0) as session:
        assert session.get(f"https://127.0.0.1:{server.port}/").ok
    assert only_certificate(session).host == f"127.0.0.1:{server.port}"


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_without_verification_the_chain_is_still_read(chain: tuple[Issued, Issued]) -> None:
    ca, server_cert = chain
    with serving(server_cert) as server, TracedSession(5.0) as session:
        assert session.get(f"https://localhost:{server.port}/", verify=False).ok
    assert only_certificate(session).not_after == ca.not_after


def test_a_certificate_that_fails_verification_fails_the_request_and_its_expiry_is_still_reported(
    chain: tuple[Issued, Issued],
) -> None:
    ca, server_cert = chain
    with (
        serving(server_cert) as server,
        TracedSession(5.0) as session,
        pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        session.get(f"https://localhost:{server.port}/")  # the system's trust store knows no test CA
    found = only_certificate(session)
    assert found.not_after == ca.not_after and found.issuer == CA_NAME
    (timing,) = session.log.observations().requests
    assert timing.status == 0 and timing.phases[2] > 0  # the handshake it tried is timed


def test_a_chain_learned_from_earlier_cycles_is_not_decoded_again_and_a_different_chain_is(
    chain: tuple[Issued, Issued], tmp_path: Path
) -> None:
    ca, server_cert = chain
    other = issue(tmp_path, ca, days=9)  # the same CA, another server certificate: another chain
    with serving(server_cert) as server, serving(other) as renewed, TracedSession(5.0) as session:
        assert session.get(f"https://localhost:{server.port}/", verify=str(ca.cert)).ok
        first = only_certificate(session)
        assert len(first.chain) == 20  # a digest of the chain as presented
        certificates._CHAINS.clear()  # a new cycle's process: it knows only what the runner hands it
        certificates.learn([(first.chain, 1_234.0, "As decoded last cycle")])
        session.log = RequestLog()
        for adapter in session.adapters.values():
            adapter.close()  # a new connection, a new handshake
            adapter.log = session.log  # type: ignore[attr-defined]
        assert session.get(f"https://localhost:{server.port}/", verify=str(ca.cert)).ok
        assert session.get(f"https://localhost:{renewed.port}/", verify=str(ca.cert)).ok
    known, fresh = sorted(session.log.observations().certificates, key=lambda found: found.not_after)
    assert (known.not_after, known.issuer, known.chain) == (1_234.0, "As decoded last cycle", first.chain)
    assert (fresh.not_after, fresh.issuer) == (ca.not_after, CA_NAME)  # decoded: the CA still expires first
    assert fresh.chain != first.chain


def test_a_plain_http_request_reports_no_certificate() -> None:
    with serving() as server, TracedSession(5.0) as session:
        assert session.get(f"http://localhost:{server.port}/").ok
    assert session.log.observations().certificates == ()


def test_the_earliest_not_after_wins_and_the_issuer_is_the_servers() -> None:
    chain = [(2e9, "Intermediate Org"), (1.9e9, "Root"), (None, "")]
    assert certificate("shop.example:443", chain, "TLSv1.3") == Certificate(
        "shop.example:443", 1.9e9, "TLSv1.3", "Intermediate Org"
    )
    assert certificate("shop.example:443", [(None, "x")], "TLSv1.3") is None


@pytest.mark.parametrize(
    "text",
    ["Jan  5 12:00:00 2027 GMT", "Dec 31 23:59:59 2049 GMT", "Feb 29 00:00:00 2028 GMT", "Mar 14 1:02:03 2030 GMT"],
)
def test_a_not_after_is_read_as_the_standard_library_reads_it(text: str) -> None:
    assert not_after_seconds(text) == ssl.cert_time_to_seconds(text)


def test_of_a_host_met_twice_in_a_run_the_earliest_expiry_is_kept() -> None:
    log = RequestLog()
    for not_after in (2e9, 1.7e9, 1.9e9):
        log.add_certificate(Certificate("lb.example:443", not_after, "TLSv1.3", "R11"))
    assert [found.not_after for found in log.observations().certificates] == [1.7e9]


def test_the_issuer_is_its_common_name_else_its_organization() -> None:
    assert (
        issuer_name(((("countryName", "US"),), (("organizationName", "Let's Encrypt"),), (("commonName", "R11"),)))
        == "R11"
    )
    assert issuer_name(((("organizationName", "Corp"),),)) == "Corp"
    assert issuer_name(()) == ""
