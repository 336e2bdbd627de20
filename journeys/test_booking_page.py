"""A browser journey: a guest books a table on the service's own booking page (pytest-playwright's ``page``)."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.labels(team="reservations")


def test_guest_can_book_a_table_on_the_booking_page(page: Page, target_url: str, step: object) -> None:
    token = os.environ.get("TARGET_API_TOKEN")
    if token:
        page.context.set_extra_http_headers({"Authorization": f"Bearer {token}"})
    page.goto(f"{target_url}/book")
    page.fill("#username", "synthetic")
    page.select_option("#party_size", "4")
    page.click("button[type=submit]")
    expect(page.locator("#result")).to_have_text(re.compile(r"^Booked: reservation \S+ for synthetic$"))
