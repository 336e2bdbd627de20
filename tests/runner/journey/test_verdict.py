"""Verdicts: why a journey failed, from real exceptions made on loopback (refused, silent, 503, a certificate no
one trusts), and whether a passing run was degraded."""

from __future__ import annotations

import asyncio
import functools
import http.client
import math
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3

from runner.handoff.results import KILLED_PREFIX
from runner.journey.verdict import (
    MAX_NOTE_CHARS,
    degraded_message,
    failure_reason,
    note,
    root_cause,
    step_note,
    threshold_problem,
)
from tests.processes import free_port, require_binary, require_module
from tests.runner.settings.test_web_config import self_signed

# pytest-timeout's own failure text (pytest_timeout.PYTEST_FAILURE_MESSAGE), as its signal method raises it.
PYTEST_TIMEOUT_TEXT = "Timeout (>2.0s) from pytest-timeout."


class StatusServer(ThreadingHTTPServer):
    """A loopback HTTP server, HTTPS with ``tls``, answering every GET with the status its path ends with:
    ``/status/503``; 200 otherwise."""

    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _StatusHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.server_address[1]}"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up, or refused our certificate

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(5)


class _StatusHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[StatusServer]:
    started = StatusServer()
    yield started
    started.close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key) that no trust store holds."""
    return self_signed(tmp_path)


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[StatusServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    started = StatusServer(context)
    yield started
    started.close()


@pytest.fixture
def closed_url() -> str:
    """A loopback address where nothing listens: connections are refused."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback address that takes connections (the kernel's backlog does) and never answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


@pytest.fixture
def hanging_up_url() -> Iterator[str]:
    """A loopback address that reads a request, then closes the connection without a word."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(8)

    def hang_up() -> None:
        connection, _ = listening.accept()
        with connection:
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = connection.recv(4096)
                if not chunk:
                    break
                received += chunk

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    thread.join(5)
    listening.close()


def session() -> requests.Session:
    """A requests session that ignores proxy variables: these requests stay on loopback."""
    client = requests.Session()
    client.trust_env = False
    return client


def urlopen(url: str, context: ssl.SSLContext | None = None) -> object:
    """urllib's urlopen without the environment's proxies."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    with urllib.request.build_opener(*handlers).open(url, timeout=5) as answer:
        return answer.status


def raised(action: Callable[[], object]) -> BaseException:
    """The exception ``action`` raises (it must raise one)."""
    try:
        action()
    except BaseException as exc:
        return exc
    raise AssertionError(f"{action} raised nothing")


class PlaywrightError(Exception):
    """Stands for playwright's own Error (playwright._impl._errors.Error), which the verdict must not import."""


PlaywrightError.__module__ = "playwright._impl._errors"
PlaywrightError.__name__ = PlaywrightError.__qualname__ = "Error"


# Network: the service could not be reached, or did not answer.


def test_a_refused_connection_through_requests_is_a_network_failure(closed_url: str) -> None:
    exc = raised(lambda: session().get(f"{closed_url}/book", timeout=5))
    assert isinstance(exc, requests.ConnectionError)
    assert failure_reason(exc, "call") == "network"


def test_a_read_timeout_from_a_server_that_never_answers_is_a_network_failure(silent_url: str) -> None:
    exc = raised(lambda: session().get(silent_url, timeout=0.3))
    assert isinstance(exc, requests.ReadTimeout)
    assert failure_reason(exc, "call") == "network"


def test_a_plain_socket_timeout_is_a_network_failure(silent_url: str) -> None:
    port = int(silent_url.rsplit(":", 1)[1])

    def read() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3) as connection:
            return connection.recv(1)

    exc = raised(read)
    assert isinstance(exc, TimeoutError)
    assert failure_reason(exc, "call") == "network"


def test_a_server_that_hangs_up_without_answering_is_a_network_failure(hanging_up_url: str) -> None:
    port = int(hanging_up_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def ask() -> object:
        connection.request("GET", "/book")
        return connection.getresponse()

    exc = raised(ask)
    connection.close()
    assert isinstance(exc, http.client.RemoteDisconnected)
    assert failure_reason(exc, "call") == "network"


def test_urllib_refused_is_a_network_failure(closed_url: str) -> None:
    exc = raised(lambda: urlopen(closed_url))
    assert type(exc) is urllib.error.URLError
    assert failure_reason(exc, "call") == "network"


@pytest.mark.parametrize("retries", [False, 1])
def test_urllib3_refused_is_a_network_failure_with_or_without_retries(closed_url: str, retries: int) -> None:
    exc = raised(lambda: urllib3.PoolManager(retries=retries).request("GET", closed_url, timeout=5))
    assert isinstance(exc, urllib3.exceptions.NewConnectionError | urllib3.exceptions.MaxRetryError)
    assert failure_reason(exc, "call") == "network"


def test_a_name_that_does_not_resolve_is_a_network_failure() -> None:
    # Constructed, as the resolver raises it: these tests look up no real name.
    exc = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert failure_reason(exc, "call") == failure_reason(exc, "setup") == "network"


def test_a_refused_connection_inside_an_asyncio_task_group_is_a_network_failure(closed_url: str) -> None:
    port = int(closed_url.rsplit(":", 1)[1])

    async def book() -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(asyncio.open_connection("127.0.0.1", port))

    exc = raised(lambda: asyncio.run(book()))
    assert isinstance(exc, ExceptionGroup)
    assert failure_reason(exc, "call") == "network"


# HTTP: the service answered with an error status the client raised.


@pytest.mark.parametrize("status", [404, 503])
def test_raise_for_status_on_a_real_error_status_is_an_http_failure(server: StatusServer, status: int) -> None:
    exc = raised(lambda: session().get(f"{server.url}/status/{status}", timeout=5).raise_for_status())
    assert isinstance(exc, requests.HTTPError) and str(status) in str(exc)
    assert failure_reason(exc, "call") == "http"


def test_urllib_http_error_is_an_http_failure_not_a_network_one(server: StatusServer) -> None:
    # urllib's HTTPError is also a URLError, which is a network failure: the narrower class wins.
    exc = raised(lambda: urlopen(f"{server.url}/status/503"))
    assert isinstance(exc, urllib.error.HTTPError) and isinstance(exc, urllib.error.URLError)
    assert failure_reason(exc, "call") == "http"


# TLS: the handshake failed.


def test_a_certificate_no_one_trusts_through_requests_is_a_tls_failure(tls_server: StatusServer) -> None:
    # requests' SSLError is also one of its ConnectionErrors, a network failure: TLS is the narrower verdict.
    exc = raised(lambda: session().get(tls_server.url, timeout=5))
    assert isinstance(exc, requests.exceptions.SSLError) and isinstance(exc, requests.ConnectionError)
    assert failure_reason(exc, "call") == "tls"


def test_the_same_server_trusted_answers_an_http_failure_not_a_tls_one(
    tls_server: StatusServer, certificate: tuple[Path, Path]
) -> None:
    client = session()
    client.verify = str(certificate[0])
    exc = raised(lambda: client.get(f"{tls_server.url}/status/503", timeout=5).raise_for_status())
    assert failure_reason(exc, "call") == "http"


def test_a_raw_tls_handshake_with_an_untrusted_certificate_is_a_tls_failure(tls_server: StatusServer) -> None:
    port = int(tls_server.url.rsplit(":", 1)[1])

    def handshake() -> None:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as plain,
            ssl.create_default_context().wrap_socket(plain, server_hostname="127.0.0.1"),
        ):
            pass

    exc = raised(handshake)
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert failure_reason(exc, "call") == "tls"


@pytest.mark.parametrize("retries", [False, 1])
def test_urllib3_with_an_untrusted_certificate_is_a_tls_failure_with_or_without_retries(
    tls_server: StatusServer, retries: int
) -> None:
    exc = raised(lambda: urllib3.PoolManager(retries=retries).request("GET", tls_server.url, timeout=5))
    assert isinstance(exc, urllib3.exceptions.SSLError | urllib3.exceptions.MaxRetryError)
    assert failure_reason(exc, "call") == "tls"


def test_urllib_with_an_untrusted_certificate_is_a_tls_failure(tls_server: StatusServer) -> None:
    exc = raised(lambda: urlopen(tls_server.url))
    assert isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, ssl.SSLCertVerificationError)
    assert failure_reason(exc, "call") == "tls"


def test_urllib_trusting_the_certificate_gets_an_http_failure(
    tls_server: StatusServer, certificate: tuple[Path, Path]
) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    exc = raised(lambda: urlopen(f"{tls_server.url}/status/503", context))
    assert failure_reason(exc, "call") == "http"


# The browser: Playwright reports Chromium's net::ERR_ codes in its message.


def test_playwright_errors_are_classified_by_chromiums_error_code() -> None:
    refused = PlaywrightError("Page.goto: net::ERR_CONNECTION_REFUSED at http://127.0.0.1:9/book")
    untrusted = PlaywrightError("Page.goto: net::ERR_CERT_AUTHORITY_INVALID at https://127.0.0.1:9/")
    old_tls = PlaywrightError("Page.goto: net::ERR_SSL_VERSION_OR_CIPHER_MISMATCH at https://127.0.0.1:9/")
    bad_ssl = PlaywrightError("Page.goto: net::ERR_BAD_SSL_CLIENT_AUTH_CERT at https://127.0.0.1:9/")
    waited = PlaywrightError('Locator.click: Timeout 5000ms exceeded.\nwaiting for locator("#pay")')
    assert failure_reason(refused, "call") == failure_reason(refused, "setup") == "network"
    assert [failure_reason(exc, "call") for exc in (untrusted, old_tls, bad_ssl)] == ["tls"] * 3
    assert failure_reason(waited, "call") == "error"


def test_a_net_error_code_in_a_message_of_another_library_is_not_a_browser_failure() -> None:
    assert failure_reason(RuntimeError("net::ERR_CONNECTION_REFUSED"), "call") == "error"
    assert failure_reason(AssertionError("page said net::ERR_CERT_DATE_INVALID"), "call") == "assertion"


def test_a_real_browser_reports_refused_and_untrusted_pages_as_network_and_tls(
    closed_url: str, tls_server: StatusServer
) -> None:
    require_binary("chromium", "chromium")
    sync_api = require_module("playwright.sync_api", "the browser extra")
    from runner.journey.browser import launch_settings  # noqa: PLC0415  (with the browser extra only)

    reasons = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_settings({"headless": True}))
        try:
            page = browser.new_page()
            for url in (closed_url, tls_server.url):
                exc = raised(functools.partial(page.goto, url, timeout=10_000))
                assert isinstance(exc, sync_api.Error), repr(exc)
                reasons.append(failure_reason(exc, "call"))
        finally:
            browser.close()
    assert reasons == ["network", "tls"]


# Expectations, timeouts and everything else.


def test_an_assert_in_the_journey_is_an_assertion_but_in_a_fixture_an_error() -> None:
    def pay() -> None:
        seats = 0
        assert seats > 0, "no seats left"

    exc = raised(pay)
    assert isinstance(exc, AssertionError)
    assert failure_reason(exc, "call") == "assertion"
    assert failure_reason(exc, "setup") == failure_reason(exc, "teardown") == "error"


def test_pytest_fail_in_a_fixture_is_an_error() -> None:
    exc = raised(lambda: pytest.fail("no seats left"))
    assert failure_reason(exc, "setup") == failure_reason(exc, "teardown") == "error"


def test_pytest_fail_in_the_journey_is_an_assertion() -> None:
    exc = raised(lambda: pytest.fail("no seats left"))
    assert failure_reason(exc, "call") == "assertion"


def test_pytest_timeouts_and_the_runners_kill_are_timeouts_in_any_phase() -> None:
    timed_out = raised(lambda: pytest.fail(PYTEST_TIMEOUT_TEXT))
    killed = RuntimeError(f"{KILLED_PREFIX} of 30 s")
    bare = RuntimeError("Timeout (>1.0s) from somewhere")
    for when in ("setup", "call", "teardown"):
        assert [failure_reason(exc, when) for exc in (timed_out, killed, bare)] == ["timeout"] * 3, when


def test_pytest_timeouts_own_message_constant_is_the_one_recognised() -> None:
    pytest_timeout = require_module("pytest_timeout", "pytest-timeout")
    message = pytest_timeout.PYTEST_FAILURE_MESSAGE % 2.0
    assert message == PYTEST_TIMEOUT_TEXT
    assert failure_reason(raised(lambda: pytest.fail(message)), "call") == "timeout"


def test_anything_else_is_an_error() -> None:
    prices: dict[str, float] = {}
    assert failure_reason(raised(lambda: prices["missing"]), "call") == "error"
    assert failure_reason(ValueError("bad JSON"), "setup") == "error"
    assert failure_reason(KeyboardInterrupt(), "call") == "error"


def test_classes_are_matched_by_package_and_name_over_the_whole_mro() -> None:
    # Stand-ins for httpx's exceptions (not installed here): a subclass of a known base is known.
    transport = type("TransportError", (Exception,), {"__module__": "httpx._exceptions"})
    connect = type("ConnectError", (transport,), {"__module__": "httpx._exceptions"})
    status = type("HTTPStatusError", (Exception,), {"__module__": "httpx._exceptions"})
    elsewhere = type("HTTPStatusError", (Exception,), {"__module__": "mylib.errors"})
    assert failure_reason(connect("All connection attempts failed"), "call") == "network"
    assert failure_reason(status("Server error '503 Service Unavailable'"), "call") == "http"
    assert failure_reason(elsewhere("same name, another package"), "call") == "error"


# The root cause: raise ... from, and exception groups.


def test_a_wrapped_network_failure_is_classified_by_its_cause() -> None:
    def sign_in() -> None:
        try:
            socket.create_connection(("127.0.0.1", free_port()), timeout=5)
        except ConnectionError as exc:
            raise RuntimeError("could not sign in") from exc

    exc = raised(sign_in)
    assert isinstance(root_cause(exc), ConnectionRefusedError)
    assert failure_reason(exc, "call") == failure_reason(exc, "setup") == "network"


def test_only_an_explicit_cause_counts_not_the_context() -> None:
    def handle() -> None:
        try:
            raise ConnectionError("refused")
        except ConnectionError:
            raise ValueError("while handling it, something else broke") from None

    exc = raised(handle)
    assert isinstance(exc.__context__, ConnectionError)
    assert failure_reason(exc, "call") == "error"


def test_httpx_losing_the_connection_is_a_network_failure() -> None:
    # Stand-ins for httpx and httpcore (not installed here), chained as httpx's map_httpcore_exceptions chains them:
    # raise httpx.RemoteProtocolError(message) from httpcore.RemoteProtocolError(message).
    core_base = type("TransportError", (Exception,), {"__module__": "httpcore._exceptions"})
    core = type("RemoteProtocolError", (core_base,), {"__module__": "httpcore._exceptions"})
    httpx_base = type("TransportError", (Exception,), {"__module__": "httpx._exceptions"})
    httpx_error = type("RemoteProtocolError", (httpx_base,), {"__module__": "httpx._exceptions"})
    exc = httpx_error("Server disconnected without sending a response.")
    exc.__cause__ = core("Server disconnected without sending a response.")
    assert failure_reason(exc, "call") == "network"


def test_an_exception_groups_first_exception_decides_at_any_depth() -> None:
    inner = ExceptionGroup("inner", [ConnectionRefusedError(111, "refused"), ValueError("second")])
    assert failure_reason(ExceptionGroup("outer", [inner, AssertionError("later")]), "call") == "network"
    assert failure_reason(ExceptionGroup("g", [ValueError("first"), ConnectionError("second")]), "call") == "error"
    assert failure_reason(ExceptionGroup("g", [AssertionError("no seats")]), "call") == "assertion"
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = ExceptionGroup("g", [TimeoutError("read")])
    assert failure_reason(wrapped, "call") == "network"


@pytest.mark.timeout(10)
def test_root_cause_ends_on_cycles() -> None:
    first, second = RuntimeError("first"), RuntimeError("second")
    first.__cause__, second.__cause__ = second, first
    assert root_cause(first) is second
    alone = ValueError("its own cause")
    alone.__cause__ = alone
    assert root_cause(alone) is alone
    member = ConnectionError("in a group")
    group = ExceptionGroup("g", [member])
    member.__cause__ = ExceptionGroup("around", [group])  # group -> member -> around -> group -> ...
    assert root_cause(group) is member.__cause__  # the last exception before the chain comes back round
    assert failure_reason(group, "call") == "network"


# Degraded: a passing run that was slow, or said so.


def test_a_run_over_its_threshold_is_degraded_saying_by_how_much() -> None:
    assert degraded_message(2.314, 1.5, []) == "took 2.31 s, degraded after 1.50 s"


def test_a_run_at_or_under_its_threshold_or_without_one_is_not_degraded() -> None:
    assert degraded_message(1.5, 1.5, []) == ""
    assert degraded_message(0.2, 1.5, []) == ""
    assert degraded_message(1000.0, None, []) == ""


def test_the_journeys_own_notes_come_before_its_time() -> None:
    notes = ["served from the fallback", step_note("search", 0.7, 0.5)]
    assert degraded_message(3.0, 2.0, notes) == (
        "served from the fallback; step 'search' took 0.70 s, degraded after 0.50 s; took 3.00 s, degraded after 2.00 s"
    )
    assert degraded_message(0.1, None, ["served from the fallback"]) == "served from the fallback"


def test_at_most_five_reasons_are_kept_and_the_rest_counted() -> None:
    assert degraded_message(0.0, None, [f"note {n}" for n in range(5)]) == "; ".join(f"note {n}" for n in range(5))
    message = degraded_message(9.0, 1.0, [f"note {n}" for n in range(7)])
    assert message == "note 0; note 1; note 2; note 3; note 4; and 3 more"


def test_a_slow_step_names_itself() -> None:
    assert step_note("search", 2.314, 1.5) == "step 'search' took 2.31 s, degraded after 1.50 s"
    assert step_note("it's", 1.0, 0.25) == """step "it's" took 1.00 s, degraded after 0.25 s"""


@pytest.mark.parametrize("value", [0.05, 1, 2.5, 10**6])
def test_positive_finite_numbers_are_thresholds(value: object) -> None:
    assert threshold_problem(value) == ""


@pytest.mark.parametrize("value", [0, -1, -0.5, True, False, math.inf, -math.inf, math.nan, "1.5", None, [1]])
def test_anything_else_is_no_threshold_and_the_problem_names_the_value(value: object) -> None:
    assert threshold_problem(value) == f"must be a positive number of seconds, got {value!r}"


def test_a_note_is_one_bounded_line() -> None:
    assert note("served from\nthe   fallback\r\n\tcache ") == "served from the fallback cache"
    assert note("x" * 1000) == "x" * MAX_NOTE_CHARS
    assert note(" \n ") == note("") == "degraded"
    assert note(503) == "503"
    assert note("bad \ud800 bytes") == "bad \ufffd bytes"
