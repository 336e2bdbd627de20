"""The runner's HTTP server in-process: plain and TLS, idle, slow and stalled clients, a bounded close, basic auth (a
limit on failed logins, no queue for bcrypt) and extra headers."""

from __future__ import annotations

import base64
import contextlib
import email.utils
import io
import json
import secrets
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests

from runner import logs
from runner.errors import ConfigError
from runner.record.document import Document
from runner.settings.web_config import WebConfig, load_web_config, tls_context
from runner.web import access, http
from runner.web import server as web_server
from tests.runner.settings.test_web_config import self_signed

PASSWORD = "s3cret-pa55"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4))
Serve = Callable[..., str]


def metrics(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    return http.respond(start_response, "200 OK", "text/plain", b"synthetic_up 1\n")


def app() -> http.WSGIApp:
    return http.make_app(metrics, lambda: (True, {"healthy": True}), {"/api/results": metrics})


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start servers in this process on free loopback ports; returns their base URLs; closes them after."""
    servers: list[web_server.Server] = []

    def start(wsgi: http.WSGIApp, tls: ssl.SSLContext | None = None) -> str:
        server = web_server.bind(wsgi, "127.0.0.1", 0, tls)
        servers.append(server)
        threading.Thread(target=server.run, daemon=True).start()
        return f"{server.scheme}://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed(tmp_path)


def tls_server(tmp_path: Path, cert: tuple[Path, Path], extra: str = "") -> WebConfig:
    path = tmp_path / "web.yml"
    path.write_text(f"tls_server_config:\n  cert_file: {cert[0].name}\n  key_file: {cert[1].name}\n{extra}")
    web = load_web_config(str(path))
    assert web is not None
    return web


@pytest.fixture(params=[False, True], ids=["plain", "tls"])
def over(request: pytest.FixtureRequest, tmp_path: Path, cert: tuple[Path, Path]) -> ssl.SSLContext | None:
    """The server's TLS context, or None for plain HTTP: a test that takes it runs over both."""
    return tls_context(tls_server(tmp_path, cert)) if request.param else None


def address(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].split(":")
    return host, int(port)


def test_responses_carry_a_length_and_keep_alive_connections_are_reused(serve: Serve) -> None:
    url = serve(app())
    with requests.Session() as session:
        for _ in range(3):
            response = session.get(f"{url}/metrics", timeout=5)
            assert response.status_code == 200 and response.headers["Content-Length"] == "15"
        assert session.get(f"{url}/healthz", timeout=5).json() == {"healthy": True}
    assert requests.head(f"{url}/metrics", timeout=5).status_code == 200
    assert requests.post(f"{url}/metrics", data=b"x", timeout=5).status_code == 405


def serving(body: bytes, extra: list[tuple[str, str]] | None = None) -> http.WSGIApp:
    def answer(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        return http.respond(start_response, "200 OK", "application/octet-stream", body, extra)

    return answer


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> threading.Semaphore:
    """Released once for each connection the server closes, after it logged whatever it had to say about it."""
    released = threading.Semaphore(0)
    close = web_server._Connection.close

    def counted(connection: web_server._Connection) -> None:
        close(connection)
        released.release()

    monkeypatch.setattr(web_server._Connection, "close", counted)
    return released


@contextlib.contextmanager
def getting(url: str, cert: tuple[Path, Path], secure: bool) -> Iterator[socket.socket]:
    """A client with a small receive buffer that has sent ``GET /`` (over TLS if ``secure``); closed after."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    raw.settimeout(10)
    trusting = ssl.create_default_context(cafile=str(cert[0]))
    with trusting.wrap_socket(raw, server_hostname="localhost") if secure else raw as client:
        client.connect(address(url))
        client.sendall(b"GET / HTTP/1.1\r\nHost: m\r\n\r\n")
        yield client


def test_a_body_larger_than_the_socket_buffers_arrives_whole_with_the_date_of_now(
    serve: Serve, cert: tuple[Path, Path], over: ssl.SSLContext | None
) -> None:
    body = secrets.token_bytes(12 * 2**20)
    url = serve(serving(body), over)
    with requests.Session() as session:
        for _ in range(2):  # and again on the same connection
            response = session.get(url, verify=str(cert[0]), timeout=10)
            assert response.content == body
            sent = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
            assert abs(sent - time.time()) < 5


def test_a_client_gone_mid_answer_is_no_server_error(
    serve: Serve,
    cert: tuple[Path, Path],
    over: ssl.SSLContext | None,
    caplog: pytest.LogCaptureFixture,
    closed: threading.Semaphore,
) -> None:
    body = secrets.token_bytes(16 * 2**20)
    url = serve(serving(body), over)
    for _ in range(5):
        with getting(url, cert, over is not None) as client:
            client.recv(65536)  # the answer has begun; the client leaves
        assert closed.acquire(timeout=10), "the server never closed its end"
    assert requests.get(url, verify=str(cert[0]), timeout=10).content == body
    assert not [record for record in caplog.records if record.name == "cheroot"]


def test_a_client_that_stops_reading_is_timed_out_without_a_server_error(
    serve: Serve,
    monkeypatch: pytest.MonkeyPatch,
    cert: tuple[Path, Path],
    over: ssl.SSLContext | None,
    caplog: pytest.LogCaptureFixture,
    closed: threading.Semaphore,
) -> None:
    monkeypatch.setattr(web_server, "TIMEOUT_SECONDS", 0.2)
    body = secrets.token_bytes(16 * 2**20)
    url = serve(serving(body), over)
    with getting(url, cert, over is not None) as client:
        assert closed.acquire(timeout=10), "the server never gave up on a client that reads nothing"
        received = 0
        with contextlib.suppress(OSError):  # TLS may end in a reset or an unexpected EOF
            while chunk := client.recv(65536):
                received += len(chunk)
    assert received < len(body)  # the server gave up on it
    assert not [record for record in caplog.records if record.name == "cheroot"]


def test_an_apps_own_date_header_is_kept(serve: Serve) -> None:
    date = "Tue, 01 Dec 2026 10:00:00 GMT"
    response = requests.get(serve(serving(b"x", [("Date", date)])), timeout=5)
    assert response.headers["Date"] == date


def test_a_client_reading_a_large_body_slowly_but_steadily_gets_all_of_it(
    serve: Serve, monkeypatch: pytest.MonkeyPatch, cert: tuple[Path, Path], over: ssl.SSLContext | None
) -> None:
    monkeypatch.setattr(web_server, "TIMEOUT_SECONDS", 0.2)  # for each send, not for the whole body
    body = secrets.token_bytes(16 * 2**20)
    url = serve(serving(body), over)
    with getting(url, cert, over is not None) as client:
        started, received = time.monotonic(), bytearray()
        while not received.endswith(body[-64:]):
            chunk = client.recv(65536)
            assert chunk, f"closed after {len(received)} bytes"
            received += chunk
            time.sleep(0.002)
    assert time.monotonic() - started > 0.2  # slower than one timeout in all
    assert received.split(b"\r\n\r\n", 1)[1] == body


def test_request_lines_and_headers_longer_than_cheroots_reads_arrive_whole(serve: Serve) -> None:
    seen: dict[str, str] = {}

    def echo(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        seen.update(query=environ["QUERY_STRING"], header=environ["HTTP_X_LONG"])
        return http.respond(start_response, "200 OK", "text/plain", b"ok")

    query, header = "q=" + "a" * 3000, "b" * 5000  # cheroot reads a line 256 bytes at a time
    url = serve(echo)
    with requests.Session() as session:
        for _ in range(2):  # and again on the same connection
            seen.clear()
            response = session.get(f"{url}/?{query}", headers={"X-Long": header}, timeout=5)
            assert response.text == "ok" and seen == {"query": query, "header": header}


def test_a_head_answer_has_no_body_so_the_next_answer_on_the_connection_is_intact(serve: Serve) -> None:
    with socket.create_connection(address(serve(app())), timeout=5) as client:
        client.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: m\r\n\r\nGET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
        received = b""
        while not received.endswith(b"synthetic_up 1\n"):
            received += client.recv(4096)
    assert received.count(b"HTTP/1.1 200 OK") == 2 and received.count(b"synthetic_up 1") == 1


def test_idle_connections_hold_no_thread(serve: Serve) -> None:
    url = serve(app())
    idle = [socket.create_connection(address(url)) for _ in range(3 * web_server.DEFAULT_THREADS)]
    try:
        started = time.monotonic()
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 1
    finally:
        for client in idle:
            client.close()


def test_a_taken_port_is_a_config_error(serve: Serve) -> None:
    host, port = address(serve(app()))
    with pytest.raises(ConfigError, match=rf"^--port: cannot listen on 127\.0\.0\.1:{port}: Address already in use"):
        web_server.bind(app(), host, port)


def test_tls_serves_https_and_answers_plain_http_with_400(
    serve: Serve, tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    url = serve(app(), tls_context(tls_server(tmp_path, cert)))
    assert url.startswith("https://")
    with requests.Session() as session:
        for _ in range(2):
            assert session.get(f"{url}/metrics", verify=str(cert[0]), timeout=5).text == "synthetic_up 1\n"
    plain = requests.get(url.replace("https://", "http://") + "/metrics", timeout=5)
    assert plain.status_code == 400 and "HTTP request to an HTTPS server" in plain.text
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{url}/metrics", timeout=5)  # our certificate is not in the client's trust store
    assert requests.get(f"{url}/healthz", verify=str(cert[0]), timeout=5).status_code == 200


def test_stalled_and_silent_tls_clients_do_not_hold_up_the_others(
    serve: Serve, tmp_path: Path, cert: tuple[Path, Path]
) -> None:
    url = serve(app(), tls_context(tls_server(tmp_path, cert)))
    stalled = [socket.create_connection(address(url)) for _ in range(3 * web_server.DEFAULT_THREADS)]
    try:
        for client in stalled[::2]:
            client.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, and then nothing
        started = time.monotonic()
        assert requests.get(f"{url}/metrics", verify=str(cert[0]), timeout=5).status_code == 200
        assert time.monotonic() - started < 1
    finally:
        for client in stalled:
            client.close()


def test_client_certificates_when_the_file_requires_them(serve: Serve, tmp_path: Path, cert: tuple[Path, Path]) -> None:
    client_cert = self_signed(tmp_path, "client")
    extra = f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {client_cert[0]}\n"
    url = serve(app(), tls_context(tls_server(tmp_path, cert, extra)))
    ok = requests.get(f"{url}/metrics", verify=str(cert[0]), cert=(str(client_cert[0]), str(client_cert[1])), timeout=5)
    assert ok.status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{url}/metrics", verify=str(cert[0]), timeout=5)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_basic_auth_guards_every_path_but_healthz_and_logs_failures_without_the_password(serve: Serve) -> None:
    stream = io.StringIO()
    logs.configure(stream=stream)
    url = serve(access.guard(app(), WebConfig(users=(("prometheus", HASH),))))
    for path in ("/metrics", "/", "/api/results", "/nope"):
        refused = requests.get(f"{url}{path}", timeout=5)
        assert refused.status_code == 401, path
        assert refused.headers["WWW-Authenticate"].startswith('Basic realm="synthetic-monitor"')
    assert requests.get(f"{url}/metrics", headers=basic("prometheus", "guess"), timeout=5).status_code == 401
    assert requests.get(f"{url}/metrics", headers=basic("root", PASSWORD), timeout=5).status_code == 401
    assert requests.get(f"{url}/metrics", headers={"Authorization": "Basic !!!"}, timeout=5).status_code == 401
    assert requests.get(f"{url}/metrics", headers=basic("prometheus", PASSWORD), timeout=5).status_code == 200
    assert requests.get(f"{url}/api/results", auth=("prometheus", PASSWORD), timeout=5).status_code == 200
    assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    failures = [event for event in events if event["event"] == "unauthorized request"]
    # Seven refusals from one address: the first of each kind is logged, the rest go into the burst's summary.
    assert [(event["user"], event["reason"]) for event in failures] == [
        (None, "no credentials"),
        ("prometheus", "wrong user name or password"),
    ]
    assert all(event["remote_addr"] == "127.0.0.1" and event["level"] == "warning" for event in failures)
    assert "guess" not in stream.getvalue() and PASSWORD not in stream.getvalue()


def test_the_bcrypt_outcome_is_cached_per_user_and_password(monkeypatch: pytest.MonkeyPatch) -> None:
    users = access.Users((("prometheus", HASH),))
    calls: list[bytes] = []
    checkpw = bcrypt.checkpw

    def counted(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counted)
    for _ in range(5):
        assert users.check(b"prometheus", PASSWORD.encode())
        assert not users.check(b"prometheus", b"wrong")
        assert not users.check(b"nobody", PASSWORD.encode())
    assert len(calls) == 3
    assert not users.check(b"prometheus", b"x" * 100)  # beyond bcrypt's 72 bytes: never a match, never an error


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic " + base64.b64encode(b"a:b:c").decode(), (b"a", b"b:c")),
        ("basic " + base64.b64encode(b":").decode(), (b"", b"")),
        ("Basic " + base64.b64encode(b"no colon").decode(), None),
        ("Bearer abc", None),
        ("Basic not base64!", None),
        ("", None),
    ],
)
def test_credentials_are_read_from_the_authorization_header(header: str, expected: tuple[bytes, bytes] | None) -> None:
    assert access.credentials(header) == expected


def test_configured_headers_are_added_but_never_replace_the_apps_own(serve: Serve) -> None:
    headers = (("X-Frame-Options", "sameorigin"), ("Strict-Transport-Security", "max-age=60"))
    url = serve(access.guard(app(), WebConfig(headers=headers)))
    response = requests.get(f"{url}/metrics", timeout=5)
    assert response.headers["Strict-Transport-Security"] == "max-age=60"
    assert response.headers["X-Frame-Options"] == "sameorigin"
    page = http.make_app(metrics, lambda: (True, {}), {"/": _page})
    page_url = serve(access.guard(page, WebConfig(headers=headers)))
    assert requests.get(f"{page_url}/", timeout=5).headers["X-Frame-Options"] == "DENY"


def _page(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    return http.respond(start_response, "200 OK", "text/html", b"<p>ok</p>", http.PAGE_HEADERS)


# Slow clients: request heads and bodies sent slowly, or never finished.


def client_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert[0]))


def partial_heads(url: str, count: int, tls: ssl.SSLContext | None = None) -> list[socket.socket]:
    """``count`` connections that each sent the start of a request head (after the TLS handshake) and no more."""
    clients = []
    for _ in range(count):
        client = socket.create_connection(address(url), timeout=5)
        if tls is not None:
            client = tls.wrap_socket(client, server_hostname="127.0.0.1")
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\n")
        clients.append(client)
    return clients


def until_closed(client: socket.socket) -> bytes:
    """What the server sends until it closes the connection; TimeoutError if it has not within the socket's timeout."""
    received = b""
    while chunk := client.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_clients_sending_request_heads_slowly_hold_no_thread(
    serve: Serve, tmp_path: Path, cert: tuple[Path, Path], scheme: str
) -> None:
    tls = tls_context(tls_server(tmp_path, cert)) if scheme == "https" else None
    url = serve(app(), tls)
    slow = partial_heads(url, 3 * web_server.DEFAULT_THREADS, client_tls(cert) if tls else None)
    try:
        for _ in range(3):
            started = time.monotonic()
            assert requests.get(f"{url}/healthz", verify=str(cert[0]), timeout=5).status_code == 200
            assert time.monotonic() - started < 2  # without the fix: all threads wait on the slow heads, 10 s each
            for client in slow:
                client.sendall(b"X-Slow: 1\r\n")  # a header line now and then, well within any read timeout
    finally:
        for client in slow:
            client.close()


def test_a_request_body_sent_slowly_holds_no_thread_and_its_connection_closes_after_the_answer(serve: Serve) -> None:
    url = serve(app())
    slow = [socket.create_connection(address(url), timeout=5) for _ in range(3 * web_server.DEFAULT_THREADS)]
    try:
        for client in slow:
            client.sendall(b"POST /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 100000\r\n\r\nx")
        for client in slow:
            assert until_closed(client).startswith(b"HTTP/1.1 405 ")  # answered, and not kept to drain the body
        assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
    finally:
        for client in slow:
            client.close()


def test_a_request_head_trickled_or_stalled_is_closed_at_the_head_timeout(
    serve: Serve, tmp_path: Path, cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_server, "HEAD_TIMEOUT_SECONDS", 1.0)
    url, tls_url = serve(app()), serve(app(), tls_context(tls_server(tmp_path, cert)))
    trickling, stalled = partial_heads(url, 2)
    handshake = socket.create_connection(address(tls_url), timeout=5)
    handshake.sendall(b"\x16\x03\x01\x02\x00\x01")  # the start of a ClientHello, and then nothing
    waiting, closed_after = [trickling, stalled, handshake], []
    started = time.monotonic()
    try:
        while waiting and time.monotonic() - started < 6:
            with contextlib.suppress(OSError):
                trickling.send(b"X")  # a byte every 0.2 s: each read would be in time, the head never
            for client in select.select(waiting, [], [], 0.2)[0]:
                with contextlib.suppress(OSError):
                    assert client.recv(4096) == b""
                waiting.remove(client)
                closed_after.append(time.monotonic() - started)
    finally:
        for client in (trickling, stalled, handshake):
            client.close()
    assert waiting == [] and max(closed_after) < 3


def test_pipelined_requests_are_answered_when_the_second_head_comes_in_pieces(serve: Serve) -> None:
    with socket.create_connection(address(serve(app())), timeout=5) as client:
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\n\r\nGET /healthz HTTP/1.1\r\nHo")
        time.sleep(0.3)
        client.sendall(b"st: m\r\n\r\n")
        received = b""
        while not received.endswith(b"}"):
            received += client.recv(4096)
    assert received.count(b"HTTP/1.1 200 OK") == 2
    assert b"synthetic_up 1\n" in received and received.endswith(b'{"healthy": true}')


def test_a_request_head_over_the_size_limit_is_refused_without_waiting_for_more(serve: Serve) -> None:
    with socket.create_connection(address(serve(app())), timeout=5) as client:
        client.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\nX-Big: " + b"a" * web_server.HEAD_BUFFER_BYTES)
        assert until_closed(client).startswith(b"HTTP/1.1 413 ")


# A bounded close.


def test_close_returns_in_time_while_a_request_thread_is_wedged(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_server, "CLOSE_SECONDS", 1.0)
    stream = io.StringIO()
    logs.configure(stream=stream)
    entered, release = threading.Event(), threading.Event()

    def wedged(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        entered.set()
        release.wait(30)
        return http.respond(start_response, "200 OK", "text/plain", b"late\n")

    server = web_server.bind(http.make_app(wedged, lambda: (True, {})), "127.0.0.1", 0)
    threading.Thread(target=server.run, daemon=True).start()
    client = threading.Thread(target=requests.get, args=(f"http://127.0.0.1:{server.port}/metrics",), daemon=True)
    client.start()
    try:
        assert entered.wait(5)
        closing = threading.Thread(target=server.close, daemon=True)
        started = time.monotonic()
        closing.start()
        closing.join(10)  # without the fix: cheroot joins the wedged thread for as long as it takes
        assert not closing.is_alive() and time.monotonic() - started < 5
        threads = [t for t in threading.enumerate() if t.name.startswith("CP Server")]
        assert threads and all(t.daemon for t in threads)  # so the one left behind does not hold the process
        assert "the HTTP server did not stop in time" in stream.getvalue()
    finally:
        release.set()


# Failed logins: limited per address, logged once per burst; bcrypt never queues threads.


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_with_too_many_wrong_passwords_is_refused_until_its_window_ends() -> None:
    clock = Clock()
    limiter = access.FailedLogins(limit=3, window_seconds=60, clock=clock)
    for _ in range(5):
        limiter.refused("10.0.0.1", None, access.NO_CREDENTIALS, "/")  # no credentials: no guess, not counted
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") is None
        limiter.refused("10.0.0.1", "admin", access.WRONG_CREDENTIALS, "/metrics")
    clock.now += 20.5
    assert limiter.retry_after("10.0.0.1") == 40
    assert limiter.retry_after("10.0.0.2") is None  # another address is not held back
    clock.now += 40
    assert limiter.retry_after("10.0.0.1") is None


def test_each_burst_of_refusals_is_logged_once_and_summed_up_when_it_ends() -> None:
    stream = io.StringIO()
    logs.configure(stream=stream)
    clock = Clock()
    limiter = access.FailedLogins(limit=3, window_seconds=60, clock=clock)
    for attempt in range(20):
        if limiter.retry_after("10.0.0.1") is None:
            limiter.refused("10.0.0.1", f"user{attempt % 7}", access.WRONG_CREDENTIALS, "/metrics")
    limiter.refused("10.0.0.1", None, access.NO_CREDENTIALS, "/")
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e["user"], e["reason"]) for e in events] == [
        ("unauthorized request", "user0", access.WRONG_CREDENTIALS),
        ("unauthorized request", None, access.NO_CREDENTIALS),
    ]
    clock.now += 61
    limiter.sweep()
    limiter.sweep()
    summaries = [json.loads(line) for line in stream.getvalue().splitlines()][2:]
    assert len(summaries) == 1
    assert summaries[0]["event"] == "unauthorized requests" and summaries[0]["remote_addr"] == "10.0.0.1"
    assert summaries[0]["refused"] == 21 and summaries[0]["wrong_credentials"] == 3
    assert summaries[0]["too_many_requests"] == 17 and summaries[0]["users"] == ["user0", "user1", "user2"]


def test_a_password_check_never_makes_a_second_request_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    users = access.Users((("prometheus", HASH),))
    assert users.check(b"prometheus", PASSWORD.encode())
    entered, release = threading.Event(), threading.Event()

    def slow(password: bytes, hashed: bytes) -> bool:
        entered.set()
        release.wait(10)
        return False

    monkeypatch.setattr(bcrypt, "checkpw", slow)
    first = threading.Thread(target=users.check, args=(b"prometheus", b"guess-1"))
    first.start()
    try:
        assert entered.wait(5)
        started = time.monotonic()
        assert users.check(b"prometheus", b"guess-2") is None  # busy: told at once, not queued
        assert users.check(b"prometheus", PASSWORD.encode())  # checked before: from the cache
        assert time.monotonic() - started < 1
    finally:
        release.set()
        first.join(5)
    assert users.check(b"prometheus", b"guess-1") is False  # the first check's outcome is kept


def flood(url: str, seconds: float, clients: int = 16) -> tuple[threading.Thread, dict[int, set[str]]]:
    """``clients`` threads sending wrong passwords for ``seconds``; the statuses seen, with their Retry-After."""
    seen: dict[int, set[str]] = {}

    def guess() -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            with contextlib.suppress(requests.RequestException):
                response = requests.get(f"{url}/metrics", auth=("prometheus", secrets.token_hex(8)), timeout=30)
                seen.setdefault(response.status_code, set()).add(response.headers.get("Retry-After", ""))
            time.sleep(0.02)

    def run() -> None:
        threads = [threading.Thread(target=guess) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    attack = threading.Thread(target=run)
    attack.start()
    return attack, seen


def probe_while(url: str, attack: threading.Thread) -> None:
    """/healthz and a scrape with credentials already verified answer quickly for as long as ``attack`` runs."""
    time.sleep(0.5)
    while attack.is_alive():
        for path, auth in (("/healthz", None), ("/metrics", ("prometheus", PASSWORD))):
            started = time.monotonic()
            assert requests.get(f"{url}{path}", auth=auth, timeout=5).status_code == 200, path
            assert time.monotonic() - started < 2, path  # without the fix: behind every queued bcrypt
        time.sleep(0.2)


def slow_checks(monkeypatch: pytest.MonkeyPatch, seconds: float) -> list[bytes]:
    """bcrypt made to take ``seconds`` (asleep, so the test's own threads keep the CPU); the passwords checked."""
    checked: list[bytes] = []
    checkpw = bcrypt.checkpw

    def slow(password: bytes, hashed: bytes) -> bool:
        checked.append(password)
        time.sleep(seconds)
        return checkpw(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", slow)
    return checked


def test_a_wrong_password_flood_from_many_addresses_gets_503_and_healthz_stays_quick(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlimited = access.FailedLogins(limit=1_000_000)  # as if every guess came from an address of its own
    url = serve(access.guard(app(), WebConfig(users=(("prometheus", HASH),)), unlimited))
    assert requests.get(f"{url}/metrics", auth=("prometheus", PASSWORD), timeout=5).status_code == 200
    slow_checks(monkeypatch, 0.5)
    attack, seen = flood(url, seconds=4)
    probe_while(url, attack)
    attack.join()
    assert seen[503] == {"1"} and 401 in seen


def test_a_wrong_password_flood_from_one_address_gets_429_and_no_more_bcrypt(
    serve: Serve, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = access.FailedLogins(limit=3, window_seconds=60)
    url = serve(access.guard(app(), WebConfig(users=(("prometheus", HASH),)), limiter))
    assert requests.get(f"{url}/metrics", auth=("prometheus", PASSWORD), timeout=5).status_code == 200
    checked = slow_checks(monkeypatch, 0.3)
    attack, seen = flood(url, seconds=3)
    probe_while(url, attack)
    attack.join()
    assert 429 in seen and all(0 < int(wait) <= 60 for wait in seen[429])
    assert len(checked) <= limiter.limit + web_server.DEFAULT_THREADS  # a few under way as the limit was reached


def test_the_page_and_the_api_render_from_one_document_taken_once_until_a_cycle_ends() -> None:
    taken: list[int] = []

    def results() -> Document:
        taken.append(1)
        return {
            "generated_at": len(taken),
            "interval_seconds": 30.0,
            "location": None,
            "shard": "1/1",
            "suite_error": None,
            "last_cycle": None,
            "journeys": [],
        }

    status = http.StatusDocuments(results, 30)
    for _ in range(50):  # however many look, within a second: one document, rendered once per format
        document = json.loads(status.api.body(accept_gzip=False)[0])
        assert b"No journeys collected" in status.page.body(accept_gzip=False)[0]
    assert taken == [1] and document["generated_at"] == 1
    status.invalidate()  # a cycle ended: the next request sees it at once, not a stale copy
    assert json.loads(status.api.body(accept_gzip=False)[0])["generated_at"] == 2
