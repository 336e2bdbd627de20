"""A real runner whose journeys reach HTTPS servers on loopback: phases, certificates and a failed verification
reach /metrics, /api/results and the page, through worker processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import requests

from tests.certificates import issue, make_ca, serving
from tests.processes import journeys, metric, scrape, start_runner, wait_for

JOURNEYS = """
    import pytest

    TRUSTED, UNTRUSTED = {trusted!r}, {untrusted!r}


    def test_guest_sees_the_menu(http):
        assert http.get(TRUSTED + "/slow-first-byte?token=abc").ok
        assert http.get(TRUSTED + "/").ok  # the same connection again


    def test_guest_reaches_a_misconfigured_host(http):
        http.get(UNTRUSTED + "/")
"""
MENU = "test_shop.py::test_guest_sees_the_menu"
MISCONFIGURED = "test_shop.py::test_guest_reaches_a_misconfigured_host"


def test_phases_certificates_and_a_failed_verification_reach_metrics_api_and_page(tmp_path: Path) -> None:
    trusted_ca = make_ca(tmp_path, "Trusted Test CA", days=40)
    other_ca = make_ca(tmp_path, "Unknown Test CA", days=9)
    trusted, untrusted = issue(tmp_path, trusted_ca, 30, "trusted"), issue(tmp_path, other_ca, 30, "untrusted")
    with serving(trusted) as good, serving(untrusted) as bad:
        hosts = {MENU: f"localhost:{good.port}", MISCONFIGURED: f"localhost:{bad.port}"}
        source = JOURNEYS.format(trusted=f"https://{hosts[MENU]}", untrusted=f"https://{hosts[MISCONFIGURED]}")
        runner, url = start_runner(
            tmp_path,
            *("--journeys", str(journeys(tmp_path, {"test_shop.py": source})), "--interval", "2", "--workers", "2"),
            env={**os.environ, "REQUESTS_CA_BUNDLE": str(trusted_ca.cert)},
        )
        try:
            document = wait_for(lambda: _ran(url), 60, "a cycle in /api/results")
            samples = scrape(url)
            page = requests.get(url, timeout=5).text
        finally:
            runner.stop()
    _check_metrics(samples, hosts, trusted.not_after, other_ca.not_after)
    by_id = {journey["journey"]: journey for journey in document["journeys"]}
    menu, misconfigured = by_id[MENU], by_id[MISCONFIGURED]
    assert menu["state"] == "passing" and menu["requests_total"] == 2
    first, second = menu["requests"]
    assert first["url"] == f"https://{hosts[MENU]}/slow-first-byte"  # no query string
    assert first["phases"]["tls"] > 0 and first["phases"]["processing"] >= 0.3
    assert second["phases"]["tls"] == second["phases"]["connect"] == 0  # kept alive
    assert menu["slowest_request"] == first
    assert (misconfigured["state"], misconfigured["reason"]) == ("failing", "tls")
    assert misconfigured["requests"][0]["status"] == 0
    listed = {entry["host"]: entry for entry in document["certificates"]}
    unknown = listed[hosts[MISCONFIGURED]]
    assert unknown["issuer"] == "Unknown Test CA" and unknown["days_left"] <= 9
    assert [entry["host"] for entry in document["certificates"]] == [hosts[MISCONFIGURED], hosts[MENU]]
    assert f"slowest request (of 2 requests): GET https://{hosts[MENU]}/slow-first-byte" in page
    assert 'id="certificates"' in page and hosts[MISCONFIGURED] in page


def _ran(url: str) -> dict[str, Any] | None:
    document: dict[str, Any] = requests.get(f"{url}/api/results", timeout=5).json()
    return document if all(journey["history"] for journey in document["journeys"]) else None


def _check_metrics(samples: Any, hosts: dict[str, str], trusted_expiry: float, other_expiry: float) -> None:
    assert metric(samples, "synthetic_http_requests_total", journey=MENU) == 2 * _runs(samples, MENU)
    assert metric(samples, "synthetic_http_phase_seconds_total", journey=MENU, phase="processing") >= 0.3  # type: ignore[operator]
    expiry = "synthetic_tls_cert_expiry_timestamp_seconds"
    assert metric(samples, expiry, host=hosts[MENU]) == trusted_expiry  # the server's own (its CA lasts longer)
    assert metric(samples, expiry, host=hosts[MISCONFIGURED]) == other_expiry  # its CA's, the earlier
    info = [labels for (name, labels), _ in samples.items() if name == "synthetic_tls_info"]
    assert {dict(labels)["issuer"] for labels in info} == {"Trusted Test CA", "Unknown Test CA"}
    assert metric(samples, "synthetic_journey_failures_total", journey=MISCONFIGURED, reason="tls")


def _runs(samples: Any, journey: str) -> float:
    return sum(  # type: ignore[no-any-return]
        value
        for (name, labels), value in samples.items()
        if name == "synthetic_request_duration_count" and dict(labels)["journey"] == journey
    )
