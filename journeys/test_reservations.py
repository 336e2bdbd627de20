"""Journeys through the Reservations Service, each named for what a user wants to get done."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
import requests

Step = Callable[..., AbstractContextManager[None]]

pytestmark = pytest.mark.labels(team="reservations")


# The post's service answers within 300 ms (its latency fault); two requests taking over a second between them
# are a service slowing down: the journey still passes, but is degraded, before anything fails.
@pytest.mark.degraded_after(1.0)
def test_user_can_make_a_reservation(http: requests.Session, target_url: str) -> None:
    """The post's journey: a reservation for user ``synthetic`` is accepted with 200."""
    response = http.post(f"{target_url}/reservations", json={"username": "synthetic"})
    assert response.status_code == 200, f"POST /reservations answered {response.status_code}"
    reservation_id = response.json()["id"]
    # Synthetic traffic cleans up after itself; a failed clean-up is not this journey's failure.
    http.delete(f"{target_url}/reservations/{reservation_id}")


@pytest.mark.labels(severity="warning")
def test_guest_can_book_read_and_cancel_a_reservation(http: requests.Session, target_url: str, step: Step) -> None:
    """A whole lifecycle: create, read back the same data, cancel, and the reservation is gone."""
    booking = {"username": "synthetic", "table": 4, "time": "19:30"}
    with step("book", degraded_after=0.5):  # one request, 300 ms at worst in the post's service
        created = http.post(f"{target_url}/reservations", json=booking)
        assert created.status_code == 200, f"POST /reservations answered {created.status_code}"
        url = f"{target_url}/reservations/{created.json()['id']}"

    with step("read back"):
        read = http.get(url)
        assert read.status_code == 200, f"GET {url} answered {read.status_code}"
        assert {key: read.json().get(key) for key in booking} == booking

    with step("cancel"):
        cancelled = http.delete(url)
        assert cancelled.status_code == 204, f"DELETE {url} answered {cancelled.status_code}"
        gone = http.get(url)
        assert gone.status_code == 404, f"GET after DELETE answered {gone.status_code}, expected 404"
