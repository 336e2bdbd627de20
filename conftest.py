"""Fixtures for journeys: the target URL and an HTTP session with timeouts, identity and credentials.

A journey asks for them by name::

    def test_guest_can_check_the_service_is_up(http, target_url):
        assert http.get(f"{target_url}/healthz").status_code == 200
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import pytest
import requests

DEFAULT_TARGET_URL = "http://127.0.0.1:8080"
DEFAULT_HTTP_TIMEOUT_SECONDS = 5.0
TARGET_URL_ENV_VARS = ("TARGET_URL", "RESERVATIONS_SERVICE_URL")


class TimeoutSession(requests.Session):
    """A session that gives every request a timeout unless the call names its own."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self.timeout_seconds = timeout_seconds

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout_seconds)
        return super().request(method, url, *args, **kwargs)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--target-url",
        default=None,
        help=f"base URL of the service under observation (else env TARGET_URL, RESERVATIONS_SERVICE_URL, "
        f"else {DEFAULT_TARGET_URL})",
    )


def http_timeout_seconds(env: dict[str, str] | os._Environ[str] = os.environ) -> float:
    """The default request timeout from ``SYNTHETIC_HTTP_TIMEOUT``; a bad value names the variable."""
    text = env.get("SYNTHETIC_HTTP_TIMEOUT", "")
    if not text:
        return DEFAULT_HTTP_TIMEOUT_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise pytest.UsageError(f"SYNTHETIC_HTTP_TIMEOUT must be a positive number of seconds, got {text!r}")
    return value


def _version() -> str:
    try:
        return metadata.version("synthetic-monitor")
    except metadata.PackageNotFoundError:
        return "unknown"


@pytest.fixture(scope="session")
def target_url(pytestconfig: pytest.Config) -> str:
    """Base URL of the service under observation, without a trailing slash."""
    url = pytestconfig.getoption("--target-url")
    for name in TARGET_URL_ENV_VARS:
        url = url or os.environ.get(name)
    return str(url or DEFAULT_TARGET_URL).rstrip("/")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A fresh session per journey: default timeout, synthetic identity headers, bearer token if set."""
    session = TimeoutSession(http_timeout_seconds())
    session.headers["User-Agent"] = f"synthetic-monitor/{_version()}"
    session.headers["X-Synthetic-Request"] = "true"
    token = os.environ.get("TARGET_API_TOKEN")
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    with session:
        yield session
