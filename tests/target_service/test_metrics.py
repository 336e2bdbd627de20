"""The service's http_request_duration histogram keeps its labels bounded."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from target_service import ServiceConfig, create_app
from target_service.faults import NO_FAULTS


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
