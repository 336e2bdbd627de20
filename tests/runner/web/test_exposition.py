"""The cached /metrics body: rendered once per change, gzip when asked, fresh within its max age."""

from __future__ import annotations

import gzip
import threading
import time

from prometheus_client import CollectorRegistry, Counter, Histogram

from runner.web.exposition import MAX_VARIANTS, CachedBody, MetricsExposition, metrics_renderer


def test_body_is_the_registry_exposition_plain_and_gzipped() -> None:
    registry = CollectorRegistry()
    Counter("things", "Things.", registry=registry).inc(3)
    exposition = CachedBody(metrics_renderer(registry), max_age_seconds=60)
    plain, encoding = exposition.body(accept_gzip=False)
    assert encoding is None and b"things_total 3.0" in plain
    zipped, encoding = exposition.body(accept_gzip=True)
    assert encoding == "gzip" and gzip.decompress(zipped) == plain


def test_changes_show_after_refresh_not_before_max_age() -> None:
    registry = CollectorRegistry()
    counter = Counter("things", "Things.", registry=registry)
    exposition = CachedBody(metrics_renderer(registry), max_age_seconds=60)
    exposition.refresh()
    counter.inc()
    assert b"things_total 0.0" in exposition.body(False)[0]  # served from memory, not re-rendered
    exposition.refresh()
    assert b"things_total 1.0" in exposition.body(False)[0]


def test_a_stale_copy_is_served_at_once_and_rendered_again_in_the_background() -> None:
    renders: list[int] = []
    release = threading.Event()

    def render() -> bytes:
        renders.append(1)
        if len(renders) > 1:
            release.wait(10)  # a slow render: no request may wait for it
        return f"render {len(renders)}".encode()

    exposition = CachedBody(render, max_age_seconds=0.05)
    exposition.refresh()
    time.sleep(0.1)
    started = time.monotonic()
    assert exposition.body(False)[0] == b"render 1"
    assert exposition.body(False)[0] == b"render 1"
    assert time.monotonic() - started < 1
    release.set()
    deadline = time.monotonic() + 5
    while exposition.body(False)[0] != b"render 2":
        assert time.monotonic() < deadline, "the background render never landed"
        time.sleep(0.01)
    assert len(renders) == 2  # one background render, however many requests came meanwhile


def test_the_first_request_renders_when_there_is_no_copy_yet() -> None:
    registry = CollectorRegistry()
    Counter("things", "Things.", registry=registry).inc(2)
    assert b"things_total 2.0" in CachedBody(metrics_renderer(registry)).body(False)[0]


def test_wsgi_headers() -> None:
    registry = CollectorRegistry()
    exposition = CachedBody(metrics_renderer(registry))
    seen: dict[str, str] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.update(headers, status=status)

    body = b"".join(exposition.wsgi({"HTTP_ACCEPT_ENCODING": "gzip, deflate"}, start_response))
    assert seen["status"] == "200 OK" and seen["Content-Encoding"] == "gzip"
    assert seen["Content-Type"].startswith("text/plain; version=0.0.4") and int(seen["Content-Length"]) == len(body)


def test_metrics_answer_openmetrics_with_exemplars_when_asked_and_classic_text_otherwise() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("things_seconds", "Things.", registry=registry)
    histogram.observe(0.2, exemplar={"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})
    exposition = MetricsExposition(registry, max_age_seconds=60)
    asked = exposition.body("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")[0]
    assert b'# {trace_id="4bf92f3577b34da6a3ce929d0e0e4736"} 0.2' in asked and asked.endswith(b"# EOF\n")
    for accept in ("", "text/plain", "*/*", "application/openmetrics-text; version=x"):
        classic = exposition.body(accept)[0]
        assert b"things_seconds_bucket" in classic and b"# {" not in classic and b"# EOF" not in classic, accept


def test_clients_inventing_formats_do_not_grow_the_cache_without_bound() -> None:
    exposition = MetricsExposition(CollectorRegistry(), max_age_seconds=60)
    for minor in range(50):
        exposition.body(f"application/openmetrics-text; version=1.{minor}.0")
    assert len(exposition._bodies) <= MAX_VARIANTS
