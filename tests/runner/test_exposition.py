"""The cached /metrics body: rendered once per change, gzip when asked, fresh within its max age."""

from __future__ import annotations

import gzip
import time

from prometheus_client import CollectorRegistry, Counter

from runner.exposition import CachedExposition


def test_body_is_the_registry_exposition_plain_and_gzipped() -> None:
    registry = CollectorRegistry()
    Counter("things", "Things.", registry=registry).inc(3)
    exposition = CachedExposition(registry, max_age_seconds=60)
    plain, encoding = exposition.body(accept_gzip=False)
    assert encoding is None and b"things_total 3.0" in plain
    zipped, encoding = exposition.body(accept_gzip=True)
    assert encoding == "gzip" and gzip.decompress(zipped) == plain


def test_changes_show_after_refresh_not_before_max_age() -> None:
    registry = CollectorRegistry()
    counter = Counter("things", "Things.", registry=registry)
    exposition = CachedExposition(registry, max_age_seconds=60)
    exposition.refresh()
    counter.inc()
    assert b"things_total 0.0" in exposition.body(False)[0]  # served from memory, not re-rendered
    exposition.refresh()
    assert b"things_total 1.0" in exposition.body(False)[0]


def test_a_stale_copy_is_rendered_again_on_request() -> None:
    registry = CollectorRegistry()
    counter = Counter("things", "Things.", registry=registry)
    exposition = CachedExposition(registry, max_age_seconds=0.05)
    exposition.refresh()
    counter.inc()
    time.sleep(0.1)
    assert b"things_total 1.0" in exposition.body(False)[0]


def test_wsgi_headers() -> None:
    registry = CollectorRegistry()
    exposition = CachedExposition(registry)
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.update(headers, status=status)

    body = b"".join(exposition.wsgi({"HTTP_ACCEPT_ENCODING": "gzip, deflate"}, start_response))
    assert seen["status"] == "200 OK" and seen["Content-Encoding"] == "gzip"
    assert seen["Content-Type"].startswith("text/plain; version=0.0.4") and int(seen["Content-Length"]) == len(body)
