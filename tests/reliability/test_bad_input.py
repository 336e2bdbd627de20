"""Bad input: every runner option with arbitrary values, and the target fuzzed from its OpenAPI document."""

from __future__ import annotations

import json
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.errors import ConfigError
from runner.settings.command_line import OPTIONS, parse_settings
from target_service import ServiceConfig, create_app
from target_service.app import OPENAPI_PATH
from target_service.faults import NO_FAULTS
from tests.processes import REPO_ROOT

pytestmark = pytest.mark.reliability
OPTION_NAMES = [option for option, _, _ in OPTIONS] + ["--once"]
TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)


@given(option=st.sampled_from([option for option, _, _ in OPTIONS]), value=TEXT)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_value_of_any_option_is_accepted_or_a_one_line_error_naming_it(
    tmp_path: Path, option: str, value: str
) -> None:
    try:
        parse_settings(["--journeys", str(tmp_path), option, value], {})
    except ConfigError as error:
        message = str(error)
        assert "\n" not in message
        assert option in message or "argument" in message, message


@given(value=TEXT, name=st.sampled_from([env for _, env, _ in OPTIONS]))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_environment_value_is_accepted_or_an_error_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    option = next(option for option, env, _ in OPTIONS if env == name)
    args = [] if name == "SYNTHETIC_JOURNEYS" else ["--journeys", str(tmp_path)]
    try:
        parse_settings(args, {name: value})
    except ConfigError as error:
        assert "\n" not in str(error)
        assert name in str(error) or (not value and option in str(error)), str(error)


@pytest.mark.slow
@given(
    args=st.lists(
        st.one_of(st.sampled_from(OPTION_NAMES), st.text(string.printable.strip(), min_size=1, max_size=12)),
        min_size=1,
        max_size=4,
    )
)
@settings(max_examples=25, deadline=None)
def test_the_real_command_exits_2_with_one_line_and_never_a_traceback(args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runner", *args, "--journeys", "/nonexistent-journeys"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# --- the target, from its OpenAPI description -------------------------------------------------------------

SPEC = json.loads(OPENAPI_PATH.read_text())
OPERATIONS = [
    (path, method.upper()) for path, item in SPEC["paths"].items() for method in item if method != "parameters"
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(["username", "error_rate", "status_codes", "latency_ms", "latency_multipliers", "table"])
BODIES = st.one_of(
    JSON_VALUES.map(lambda value: ("application/json", json.dumps(value).encode())),
    st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=4).map(
        lambda value: ("application/json", json.dumps(value).encode())
    ),
    st.binary(max_size=200).map(lambda raw: ("application/json", raw)),
    st.tuples(
        st.sampled_from(["text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=latin-1"]),
        st.binary(max_size=100),
    ),
)
IDS = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="/?#%"), min_size=1, max_size=30)


@pytest.fixture(scope="module")
def service() -> FlaskClient:
    return create_app(
        ServiceConfig(faults=NO_FAULTS, api_token="api-token-1", admin_token="admin-token-1")
    ).test_client()


@given(
    operation=st.sampled_from(OPERATIONS),
    body=BODIES,
    reservation_id=IDS,
    token=st.sampled_from([None, "api-token-1", "admin-token-1", "wrong"]),
)
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_no_request_described_or_malformed_ever_gets_a_5xx(
    service: FlaskClient, operation: tuple[str, str], body: tuple[str, bytes], reservation_id: str, token: str | None
) -> None:
    path, method = operation
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    content_type, data = body
    response = service.open(
        path.replace("{id}", reservation_id), method=method, data=data, content_type=content_type, headers=headers
    )
    assert response.status_code < 500, (method, path, data, response.get_data(as_text=True))
    if response.status_code >= 400:
        assert "error" in response.get_json(), response.get_data(as_text=True)


@given(
    method=st.sampled_from(["PATCH", "OPTIONS", "PUT", "DELETE", "POST"]),
    path=st.sampled_from(["/healthz", "/metrics", "/nope", "/reservations"]),
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_undocumented_methods_and_paths_are_4xx(service: FlaskClient, method: str, path: str) -> None:
    documented = (path, method) in OPERATIONS
    response = service.open(
        path, method=method, json={"username": "a"}, headers={"Authorization": "Bearer api-token-1"}
    )
    assert response.status_code < 500
    if not documented and method != "OPTIONS":
        assert response.status_code in (404, 405)


def test_openapi_document_is_served_and_lists_every_route(service: FlaskClient) -> None:
    served: dict[str, Any] = service.get("/openapi.json").get_json()
    assert served == SPEC
    rules = {
        rule.rule.replace("<id>", "{id}")
        for rule in service.application.url_map.iter_rules()
        if rule.endpoint != "static"
    }
    assert rules == set(SPEC["paths"])
