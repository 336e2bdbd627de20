"""The ``http`` fixture's session settles a request's settings from the environment exactly as requests does."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from runner.journey.session import TracedSession

URLS = ("http://shop.example/a", "https://shop.example:8443/b", "http://internal.example/c", "http://127.0.0.1:9/d")
ENVIRONMENTS: tuple[dict[str, str], ...] = (
    {},
    {"HTTP_PROXY": "http://proxy.example:3128", "HTTPS_PROXY": "http://tls-proxy.example:3128"},
    {"http_proxy": "http://proxy.example:3128", "NO_PROXY": "internal.example,127.0.0.1"},
    {"ALL_PROXY": "socks5://proxy.example:1080", "REQUESTS_CA_BUNDLE": "/etc/ssl/bundle.pem"},
    {"CURL_CA_BUNDLE": "/etc/ssl/curl.pem", "no_proxy": "*"},
)
CALLS: tuple[dict[str, Any], ...] = (
    {"proxies": {}, "stream": None, "verify": None, "cert": None},
    {"proxies": {"no_proxy": "shop.example"}, "stream": True, "verify": True, "cert": None},
    {"proxies": {"http": "http://own.example:8080"}, "stream": None, "verify": False, "cert": "/tmp/client.pem"},
)
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def settled(session: requests.Session, url: str, call: dict[str, Any]) -> dict[str, Any]:
    return dict(session.merge_environment_settings(url, **{**call, "proxies": dict(call["proxies"])}))


@pytest.mark.parametrize("environ", ENVIRONMENTS)
def test_every_request_gets_requests_own_settings_for_the_environment_it_runs_in(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> None:
    for name in (*PROXY_VARIABLES, *(name.upper() for name in PROXY_VARIABLES), "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    ours, theirs = TracedSession(timeout_seconds=5.0), requests.Session()
    for session in (ours, theirs):
        session.proxies = {"https": "http://session-proxy.example:3128"}
    for _ in range(2):  # the second time from what the first one read
        for url in URLS:
            for call in CALLS:
                assert settled(ours, url, call) == settled(theirs, url, call), (url, call)


def test_a_journey_that_changes_the_environment_gets_the_new_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    session = TracedSession(timeout_seconds=5.0)
    call = CALLS[0]
    assert "http" not in settled(session, URLS[0], call)["proxies"]
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert settled(session, URLS[0], call)["proxies"]["http"] == "http://proxy.example:3128"
    monkeypatch.setenv("NO_PROXY", "shop.example")
    assert "http" not in settled(session, URLS[0], call)["proxies"]


def test_without_trust_in_the_environment_nothing_is_read_from_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    session = TracedSession(timeout_seconds=5.0)
    session.trust_env = False
    assert settled(session, URLS[0], CALLS[0]) == {"proxies": {}, "stream": False, "verify": True, "cert": None}
