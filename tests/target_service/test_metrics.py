"""The service's http_request_duration histogram: bounded labels, and the caller's trace id as exemplar."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Exemplar

from target_service import ServiceConfig, create_app
from target_service.faults import NO_FAULTS
from tests.target_service.test_tracecontext import SPAN_ID, TRACE_ID, TRACEPARENT

OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0"
# What Prometheus 2.x and 3.x send when scraping (scrape_protocols at their defaults).
PROMETHEUS_ACCEPT_HEADERS = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,"
    "application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,"
    "text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
)


def scrape(client: object) -> list[dict[str, str]]:
    text = client.get("/metrics").get_data(as_text=True)  # type: ignore[attr-defined]
    return [
        sample.labels
        for family in text_string_to_metric_families(text)
        if family.name == "http_request_duration"
        for sample in family.samples
        if sample.name.endswith("_count")
    ]


def test_one_url_value_for_100_ids_and_query_strings() -> None:
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    for i in range(100):
        client.get(f"/reservations/id-{i}?page={i}&q=x{i}")
    urls = {labels["url"] for labels in scrape(client) if labels["method"] == "GET"}
    assert urls == {"/reservations/<id>"}


def test_unknown_paths_share_one_url_value() -> None:
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    for i in range(50):
        client.get(f"/random/path/{i}")
    assert {labels["url"] for labels in scrape(client)} == {"<unmatched>"}


def test_requests_are_counted_by_method_route_and_code() -> None:
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    client.post("/reservations", json={"username": "a"})
    client.post("/reservations", json={})
    client.delete("/reservations/none")
    seen = {(labels["method"], labels["url"], labels["code"]) for labels in scrape(client)}
    assert {
        ("POST", "/reservations", "200"),
        ("POST", "/reservations", "400"),
        ("DELETE", "/reservations/<id>", "404"),
    } <= seen


def test_each_app_has_its_own_registry() -> None:
    first = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    second = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    first.get("/healthz")
    assert scrape(second) == []


def openmetrics_scrape(client: FlaskClient) -> tuple[str, str]:
    """What Prometheus gets: the OpenMetrics text and its content type."""
    response = client.get("/metrics", headers={"Accept": OPENMETRICS_ACCEPT})
    return response.get_data(as_text=True), response.headers["Content-Type"]


def exemplars(text: str) -> list[tuple[dict[str, str], Exemplar]]:
    """(bucket labels, exemplar) for every http_request_duration bucket that has one."""
    return [
        (sample.labels, sample.exemplar)
        for family in openmetrics_families(text)  # type: ignore[no-untyped-call]
        if family.name == "http_request_duration"
        for sample in family.samples
        if sample.exemplar is not None
    ]


def test_openmetrics_scrape_shows_the_trace_id_as_an_exemplar_on_the_bucket_observed() -> None:
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    client.post("/reservations", json={"username": "a"}, headers={"traceparent": TRACEPARENT})
    text, content_type = openmetrics_scrape(client)
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    assert f'# {{trace_id="{TRACE_ID}"}}' in text
    [(labels, exemplar)] = exemplars(text)
    assert (labels["method"], labels["url"], labels["code"]) == ("POST", "/reservations", "200")
    assert exemplar.labels == {"trace_id": TRACE_ID}
    assert 0 <= exemplar.value <= float(labels["le"])
    assert exemplar.timestamp is not None


def test_prometheus_accept_header_gets_openmetrics() -> None:
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    for accept in PROMETHEUS_ACCEPT_HEADERS:
        response = client.get("/metrics", headers={"Accept": accept})
        assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0"), accept
        assert response.get_data(as_text=True).endswith("# EOF\n")
        assert response.headers["Vary"] == "Accept"


def test_an_injected_500_is_an_exemplar_on_its_own_series() -> None:
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    client.put("/admin/faults", json={"error_rate": 1, "status_codes": [500]})
    client.post("/reservations", json={"username": "a"}, headers={"traceparent": TRACEPARENT})
    [(labels, exemplar)] = exemplars(openmetrics_scrape(client)[0])
    assert labels["code"] == "500" and exemplar.labels == {"trace_id": TRACE_ID}


def test_untraced_and_badly_traced_requests_leave_no_exemplar() -> None:
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    client.post("/reservations", json={"username": "a"})
    client.post("/reservations", json={"username": "a"}, headers={"traceparent": f"00-{'0' * 32}-{SPAN_ID}-01"})
    client.post("/reservations", json={"username": "a"}, headers={"traceparent": f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01"})
    text, _ = openmetrics_scrape(client)
    assert exemplars(text) == []
    assert "# {" not in text


def test_classic_scrape_parses_and_has_no_exemplar_syntax() -> None:
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    client.post("/reservations", json={"username": "a"}, headers={"traceparent": TRACEPARENT})
    for headers in ({}, {"Accept": "text/plain"}, {"Accept": "*/*"}):
        response = client.get("/metrics", headers=headers)
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = response.get_data(as_text=True)
        assert TRACE_ID not in text and "# {" not in text
        assert {"method": "POST", "url": "/reservations", "code": "200"} in scrape(client)
        assert list(text_string_to_metric_families(text))


@pytest.mark.parametrize("accept", ["application/openmetrics-text; version=x", "text/plain; version=1.y"])
def test_a_malformed_accept_version_gets_the_classic_format(accept: str) -> None:
    # prometheus_client's choose_encoder raises TypeError on these; the scrape must not answer 500.
    client = create_app(ServiceConfig(faults=NO_FAULTS)).test_client()
    response = client.get("/metrics", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert list(text_string_to_metric_families(response.get_data(as_text=True)))
