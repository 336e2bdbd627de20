"""Request phases: each request of the ``http`` session timed by phase, against real servers on loopback."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import requests

from runner.handoff.observations import MAX_REQUESTS, PHASES
from runner.journey import phases
from runner.journey.phases import TimedAdapter, public_url
from runner.journey.session import TracedSession
from tests.certificates import (
    BODY_DELAY_SECONDS,
    FIRST_BYTE_DELAY_SECONDS,
    Issued,
    issue,
    make_ca,
    serving,
)

RESOLVE, CONNECT, TLS, PROCESSING, TRANSFER = range(len(PHASES))


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> tuple[Issued, Issued]:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder, "Phases Test CA", days=30)
    return ca, issue(folder, ca, days=20)


def timed(session: TracedSession, url: str, **kwargs: object) -> tuple[requests.Response, float]:
    started = time.perf_counter()
    answer = session.get(url, **kwargs)  # type: ignore[arg-type]
    return answer, time.perf_counter() - started


def assert_adds_up(phases_seconds: float, measured: float) -> None:
    """What the issue asks of a request: its phases add up to its measured duration, within 1 ms or 5%."""
    assert abs(phases_seconds - measured) <= max(0.001, 0.05 * measured), (phases_seconds, measured)


def test_a_slow_first_byte_is_processing_and_the_phases_add_up() -> None:
    with serving() as server, TracedSession(5.0) as session:
        answer, measured = timed(session, f"http://127.0.0.1:{server.port}/slow-first-byte")
    assert answer.status_code == 200
    (timing,) = session.log.observations().requests
    assert timing.phases[PROCESSING] >= FIRST_BYTE_DELAY_SECONDS
    assert timing.phases[TRANSFER] < FIRST_BYTE_DELAY_SECONDS
    assert_adds_up(timing.seconds, measured)


def test_a_slow_body_is_transfer() -> None:
    with serving() as server, TracedSession(5.0) as session:
        answer, measured = timed(session, f"http://127.0.0.1:{server.port}/slow-body")
    assert len(answer.content) == len(b"booked\n" * 2000)
    timing = session.log.observations().requests[0]
    # The server waits after its first bytes, which may come in a little after the headers: a margin.
    assert timing.phases[TRANSFER] >= 0.9 * BODY_DELAY_SECONDS
    assert timing.phases[PROCESSING] < BODY_DELAY_SECONDS
    assert_adds_up(timing.seconds, measured)


def test_a_host_name_is_resolved_and_connected_then_the_connection_is_reused() -> None:
    with serving() as server, TracedSession(5.0) as session:
        for _ in range(2):
            answer, measured = timed(session, f"http://localhost:{server.port}/")
            assert answer.ok
            assert_adds_up(session.log.observations().requests[-1].seconds, measured)
        connections = server.connections
    first, second = session.log.observations().requests
    assert connections == 1
    assert first.phases[RESOLVE] > 0 and first.phases[CONNECT] > 0 and first.phases[TLS] == 0
    assert second.phases[:3] == (0.0, 0.0, 0.0)  # a kept-alive connection: nothing to open
    assert second.phases[PROCESSING] > 0


def test_https_times_the_handshake_once_per_connection(chain: tuple[Issued, Issued]) -> None:
    ca, server_cert = chain
    with serving(server_cert) as server, TracedSession(5.0) as session:
        for _ in range(2):
            answer, measured = timed(session, f"https://localhost:{server.port}/", verify=str(ca.cert))
            assert answer.ok
            assert_adds_up(session.log.observations().requests[-1].seconds, measured)
    first, second = session.log.observations().requests
    assert first.phases[TLS] > 0 and first.phases[RESOLVE] > 0 and first.phases[CONNECT] > 0
    assert second.phases[:3] == (0.0, 0.0, 0.0)


def test_each_hop_of_a_redirect_is_a_request_and_the_run_counts_them_all() -> None:
    with serving() as server, TracedSession(5.0) as session:
        answer = session.get(f"http://127.0.0.1:{server.port}/redirect")
        session.get(f"http://127.0.0.1:{server.port}/slow-first-byte")
    assert answer.ok and answer.history[0].status_code == 302
    observed = session.log.observations()
    assert [timing.status for timing in observed.requests] == [302, 200, 200]
    assert observed.request_count == 3
    assert observed.slowest is not None and observed.slowest.url.endswith("/slow-first-byte")
    for index in range(len(PHASES)):
        assert observed.phase_seconds[index] == pytest.approx(sum(t.phases[index] for t in observed.requests))


def test_a_refused_connection_is_a_request_without_an_answer() -> None:
    with serving() as server:
        port = server.port  # closed when the block ends: nothing listens there any more
    with TracedSession(2.0) as session, pytest.raises(requests.ConnectionError, match="HTTPConnectionPool"):
        session.get(f"http://127.0.0.1:{port}/")
    (timing,) = session.log.observations().requests
    assert timing.status == 0 and timing.phases[CONNECT] > 0 and timing.phases[TRANSFER] == 0


def test_a_name_that_does_not_resolve_fails_as_urllib3_says_with_its_lookup_timed() -> None:
    with TracedSession(2.0) as session, pytest.raises(requests.ConnectionError, match="Failed to resolve"):
        session.get("http://no-such-host.invalid/")
    (timing,) = session.log.observations().requests
    assert timing.status == 0 and timing.phases[RESOLVE] > 0 and timing.phases[CONNECT] == 0


def test_a_streamed_answer_has_no_transfer() -> None:
    with (
        serving() as server,
        TracedSession(5.0) as session,
        session.get(f"http://127.0.0.1:{server.port}/slow-body", stream=True) as answer,
    ):
        answer.raw.read()
    (timing,) = session.log.observations().requests
    assert timing.phases[TRANSFER] == 0 and timing.status == 200


def test_only_the_first_requests_are_listed_but_all_are_counted() -> None:
    with serving() as server, TracedSession(5.0) as session:
        for _ in range(MAX_REQUESTS + 5):
            session.get(f"http://127.0.0.1:{server.port}/")
    observed = session.log.observations()
    assert len(observed.requests) == MAX_REQUESTS
    assert observed.request_count == MAX_REQUESTS + 5


def test_the_url_kept_has_no_credentials_query_or_fragment() -> None:
    assert public_url("https://user:secret@shop.example:8443/cart?token=abc#top") == "https://shop.example:8443/cart"
    assert public_url(b"http://[::1]:8080/") == "http://[::1]:8080/"


def test_a_bytes_url_that_is_not_utf8_fails_with_requests_own_error() -> None:
    assert public_url(b"http://127.0.0.1:9/\xff\xfe") == "http://127.0.0.1:9/\ufffd\ufffd"
    with TracedSession(5.0) as session, pytest.raises(UnicodeDecodeError) as raised:
        session.get(b"http://127.0.0.1:9/\xff\xfe")
    assert Path(raised.traceback[-1].path).parent.name == "requests"  # requests' own refusal, not the timing's


def test_a_session_without_a_current_request_connects_untimed(tmp_path: Path) -> None:
    """The adapter's connections, used outside a request of its own (urllib3's pool directly), still work."""
    with serving() as server, TracedSession(5.0) as session:
        adapter = session.get_adapter("http://")
        pool = adapter.poolmanager.connection_from_url(f"http://127.0.0.1:{server.port}/")  # type: ignore[attr-defined]
        assert pool.request("GET", "/").status == 200
    assert session.log.observations().request_count == 0


def test_a_request_whose_body_a_failing_response_hook_never_read_is_still_counted() -> None:
    def refuse(answer: requests.Response, *args: object, **kwargs: object) -> None:
        answer.raise_for_status()

    with serving() as server, TracedSession(5.0) as session:
        session.hooks["response"].append(refuse)
        with pytest.raises(requests.HTTPError):
            session.get(f"http://127.0.0.1:{server.port}/missing-page")
    (timing,) = session.log.observations().requests
    assert timing.status == 404


def test_a_journeys_own_http_adapter_with_retries_is_timed_all_the_same() -> None:
    with serving() as server, TracedSession(5.0) as session:
        session.mount("http://", requests.adapters.HTTPAdapter(max_retries=3))
        adapter = session.get_adapter("http://")
        assert isinstance(adapter, TimedAdapter) and adapter.max_retries.total == 3
        assert session.get(f"http://127.0.0.1:{server.port}/").ok
    assert session.log.observations().request_count == 1


def test_a_call_knows_its_own_requests_while_other_threads_share_the_session() -> None:
    with serving() as server, TracedSession(5.0) as session:
        done = threading.Event()

        def others() -> None:
            while not done.is_set():
                session.get(f"http://127.0.0.1:{server.port}/")

        thread = threading.Thread(target=others)
        thread.start()
        try:
            call, token = phases.call_starts()  # what TracedSession.request does around requests' own
            requests.Session.request(session, "GET", f"http://127.0.0.1:{server.port}/redirect", timeout=5)
            phases.call_ends(call, token)
        finally:
            done.set()
            thread.join(10)
    assert [hop.status for hop in call.hops] == [302, 200]  # the redirect and where it led, none of the other's
    assert sum(call.phases()) == pytest.approx(sum(hop.timing.seconds for hop in call.hops if hop.timing))
