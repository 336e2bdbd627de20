"""The Reservations Service's endpoints, status codes and validation, through the app factory."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from target_service import ServiceConfig, create_app
from target_service.faults import NO_FAULTS

API_TOKEN = "api-secret"
ADMIN_TOKEN = "admin-secret"


def client(**config: object) -> FlaskClient:
    return create_app(ServiceConfig(faults=NO_FAULTS, **config)).test_client()  # type: ignore[arg-type]


@pytest.fixture
def service() -> FlaskClient:
    return client()


def test_creating_a_reservation_answers_200_with_its_id_and_data(service: FlaskClient) -> None:
    response = service.post("/reservations", json={"username": "alice", "table": 3})
    assert response.status_code == 200
    body = response.get_json()
    assert body["username"] == "alice" and body["table"] == 3
    assert isinstance(body["id"], str) and body["id"]


def test_reservations_get_distinct_ids(service: FlaskClient) -> None:
    ids = {service.post("/reservations", json={"username": "a"}).get_json()["id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    ("data", "content_type", "expected_error"),
    [
        ("{not json", "application/json", "body must be JSON"),
        ("[1, 2]", "application/json", "JSON object"),
        ('"alice"', "application/json", "JSON object"),
        ("{}", "application/json", "username"),
        ('{"username": ""}', "application/json", "username"),
        ('{"username": "   "}', "application/json", "username"),
        ('{"username": 7}', "application/json", "username"),
        ('{"username": null}', "application/json", "username"),
        ("username=alice", "application/x-www-form-urlencoded", "body must be JSON"),
    ],
)
def test_invalid_reservation_body_answers_400_with_a_json_error(
    service: FlaskClient, data: str, content_type: str, expected_error: str
) -> None:
    response = service.post("/reservations", data=data, content_type=content_type)
    assert response.status_code == 400
    assert expected_error in response.get_json()["error"]


def test_oversized_body_answers_413_with_a_json_error(service: FlaskClient) -> None:
    response = service.post("/reservations", json={"username": "a", "pad": "x" * 100_000})
    assert response.status_code == 413
    assert "error" in response.get_json()


def test_reading_a_reservation_returns_what_was_created(service: FlaskClient) -> None:
    created = service.post("/reservations", json={"username": "bob", "time": "19:30"}).get_json()
    response = service.get(f"/reservations/{created['id']}")
    assert response.status_code == 200
    assert response.get_json() == created


def test_reading_an_unknown_reservation_answers_404(service: FlaskClient) -> None:
    response = service.get("/reservations/does-not-exist")
    assert response.status_code == 404
    assert "does-not-exist" in response.get_json()["error"]


def test_cancelling_answers_204_then_the_reservation_is_gone(service: FlaskClient) -> None:
    created = service.post("/reservations", json={"username": "carol"}).get_json()
    assert service.delete(f"/reservations/{created['id']}").status_code == 204
    assert service.get(f"/reservations/{created['id']}").status_code == 404
    assert service.delete(f"/reservations/{created['id']}").status_code == 404


def test_store_evicts_the_oldest_reservations_past_its_bound() -> None:
    service = client(max_reservations=3)
    ids = [service.post("/reservations", json={"username": f"u{i}"}).get_json()["id"] for i in range(5)]
    assert [service.get(f"/reservations/{i}").status_code for i in ids] == [404, 404, 200, 200, 200]


def test_healthz_answers_200(service: FlaskClient) -> None:
    response = service.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_unknown_path_and_wrong_method_answer_json_errors(service: FlaskClient) -> None:
    assert service.get("/nope").status_code == 404
    assert "error" in service.get("/nope").get_json()
    assert service.put("/reservations").status_code == 405


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": API_TOKEN},
        {"Authorization": f"Basic {API_TOKEN}"},
    ],
)
def test_reservations_need_the_api_token_when_one_is_set(headers: dict[str, str]) -> None:
    service = client(api_token=API_TOKEN)
    assert service.post("/reservations", json={"username": "a"}, headers=headers).status_code == 401
    assert service.get("/reservations/x", headers=headers).status_code == 401
    assert service.delete("/reservations/x", headers=headers).status_code == 401


def test_reservations_accept_the_right_api_token() -> None:
    service = client(api_token=API_TOKEN)
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    created = service.post("/reservations", json={"username": "a"}, headers=auth)
    assert created.status_code == 200
    assert service.get(f"/reservations/{created.get_json()['id']}", headers=auth).status_code == 200


def test_health_and_metrics_need_no_token() -> None:
    service = client(api_token=API_TOKEN, admin_token=ADMIN_TOKEN)
    assert service.get("/healthz").status_code == 200
    assert service.get("/metrics").status_code == 200


def test_admin_faults_round_trip(service: FlaskClient) -> None:
    body = {"error_rate": 0.5, "status_codes": [500, 503], "latency_ms": [0, 2]}
    response = service.put("/admin/faults", json=body)
    assert response.status_code == 200
    assert service.get("/admin/faults").get_json() == {**body, "latency_multipliers": [1]}


def test_admin_faults_update_only_the_fields_given(service: FlaskClient) -> None:
    service.put("/admin/faults", json={"error_rate": 1, "status_codes": [503]})
    service.put("/admin/faults", json={"latency_ms": [0, 1]})
    settings = service.get("/admin/faults").get_json()
    assert settings["error_rate"] == 1.0 and settings["status_codes"] == [503]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"error_rate": 1.5}, "error_rate"),
        ({"error_rate": -0.1}, "error_rate"),
        ({"error_rate": "high"}, "error_rate"),
        ({"error_rate": True}, "error_rate"),
        ({"status_codes": []}, "status_codes"),
        ({"status_codes": [200]}, "status_codes"),
        ({"status_codes": "500"}, "status_codes"),
        ({"latency_ms": [10, 5]}, "latency_ms"),
        ({"latency_ms": [-1, 5]}, "latency_ms"),
        ({"latency_ms": [1]}, "latency_ms"),
        ({"latency_ms": [1.5, 2]}, "latency_ms"),
        ({"latency_multipliers": [0]}, "latency_multipliers"),
        ({"surprise": 1}, "surprise"),
        ([1], "JSON object"),
    ],
)
def test_invalid_fault_settings_answer_400_naming_the_field_and_change_nothing(
    service: FlaskClient, body: object, field: str
) -> None:
    before = service.get("/admin/faults").get_json()
    response = service.put("/admin/faults", json=body)
    assert response.status_code == 400
    assert field in response.get_json()["error"]
    assert service.get("/admin/faults").get_json() == before


def test_admin_needs_the_admin_token_when_one_is_set() -> None:
    service = client(admin_token=ADMIN_TOKEN)
    assert service.get("/admin/faults").status_code == 401
    assert service.put("/admin/faults", json={"error_rate": 1}).status_code == 401
    assert (
        service.put("/admin/faults", json={"error_rate": 1}, headers={"Authorization": "Bearer x"}).status_code == 401
    )
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert service.put("/admin/faults", json={"error_rate": 1}, headers=auth).status_code == 200
    assert service.get("/admin/faults", headers=auth).get_json()["error_rate"] == 1.0


def test_api_token_does_not_open_the_admin_endpoint() -> None:
    service = client(api_token=API_TOKEN, admin_token=ADMIN_TOKEN)
    response = service.get("/admin/faults", headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert response.status_code == 401


def test_forced_errors_replace_the_real_answer(service: FlaskClient) -> None:
    service.put("/admin/faults", json={"error_rate": 1, "status_codes": [500]})
    response = service.post("/reservations", json={"username": "a"})
    assert response.status_code == 500
    assert "injected" in response.get_json()["error"]
    service.put("/admin/faults", json={"error_rate": 0})
    assert service.get("/healthz").status_code == 200


def test_faults_never_touch_health_metrics_or_admin(service: FlaskClient) -> None:
    service.put("/admin/faults", json={"error_rate": 1, "status_codes": [503]})
    for _ in range(20):
        assert service.get("/healthz").status_code == 200
        assert service.get("/metrics").status_code == 200
        assert service.get("/admin/faults").status_code == 200


def test_service_config_reads_tokens_from_the_environment() -> None:
    config = ServiceConfig.from_env(NO_FAULTS, {"TARGET_API_TOKEN": "a", "TARGET_ADMIN_TOKEN": ""})
    assert config.api_token == "a" and config.admin_token is None
