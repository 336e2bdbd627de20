"""Read-only journeys: the service is reachable and says it is healthy."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.labels(team="platform")


def test_service_reports_itself_healthy(http: requests.Session, target_url: str) -> None:
    response = http.get(f"{target_url}/healthz")
    assert response.status_code == 200, f"GET /healthz answered {response.status_code}"
    assert response.json()["status"] == "ok"
