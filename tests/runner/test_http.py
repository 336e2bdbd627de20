"""The runner's HTTP server in-process: plain and TLS, idle and stalled clients, basic auth and extra headers."""

from __future__ import annotations

import base64
import io
import json
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

from runner import access, http, logs
from runner.errors import ConfigError
from runner.web_config import WebConfig, load_web_config, tls_context
from tests.runner.test_web_config import self_signed

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
    servers: list[http.Server] = []

    def start(wsgi: http.WSGIApp, tls: ssl.SSLContext | None = None) -> str:
        server = http.bind(wsgi, "127.0.0.1", 0, tls)
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


def test_a_head_answer_has_no_body_so_the_next_answer_on_the_connection_is_intact(serve: Serve) -> None:
    with socket.create_connection(address(serve(app())), timeout=5) as client:
        client.sendall(b"HEAD /metrics HTTP/1.1\r\nHost: m\r\n\r\nGET /metrics HTTP/1.1\r\nHost: m\r\n\r\n")
        received = b""
        while not received.endswith(b"synthetic_up 1\n"):
            received += client.recv(4096)
    assert received.count(b"HTTP/1.1 200 OK") == 2 and received.count(b"synthetic_up 1") == 1


def test_idle_connections_hold_no_thread(serve: Serve) -> None:
    url = serve(app())
    idle = [socket.create_connection(address(url)) for _ in range(3 * http.DEFAULT_THREADS)]
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
        http.bind(app(), host, port)


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
    stalled = [socket.create_connection(address(url)) for _ in range(3 * http.DEFAULT_THREADS)]
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
    assert len(failures) == 7
    assert {event["user"] for event in failures} == {None, "prometheus", "root"}
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
