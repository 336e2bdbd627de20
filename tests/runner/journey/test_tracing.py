"""Trace context: every request of a journey run carries its W3C trace; spans reach a real OTLP/HTTP receiver;
the trace id is in /api/results, on the page, in the log, in the --once table and in the exemplars."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families

from runner.journey import tracing
from tests.processes import REPO_ROOT, start_runner, wait_for

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class Recorder(ThreadingHTTPServer):
    """A loopback HTTP server that answers 200 (or the status in the path, /status/404) and keeps every request:
    the journeys' target and, on /v1/traces, an OTLP/HTTP receiver decoding what arrives."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.spans: list[Any] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def traceparents(self, path: str) -> list[tuple[str, str, str]]:
        found = []
        for got, headers in self.requests:
            if got == path:
                match = TRACEPARENT.match(headers.get("traceparent", ""))
                assert match, f"{path}: no valid traceparent in {headers}"
                found.append((match.group(1), match.group(2), match.group(3)))
        return found


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_GET(self) -> None:
        self.server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        status = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/status/") else 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/v1/traces":
            export = ExportTraceServiceRequest()
            export.ParseFromString(body)
            for resource in export.resource_spans:
                for scope in resource.scope_spans:
                    self.server.spans.extend((resource.resource, span) for span in scope.spans)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.shutdown()


JOURNEYS = {
    "test_trace.py": """
        import pytest

        def test_two_requests(http, target_url, step):
            with step("first"):
                assert http.get(f"{target_url}/a").status_code == 200
            with step("second"):
                assert http.get(f"{target_url}/b", headers={"X-Own": "kept"}).status_code == 200

        def test_fails_on_404(http, target_url):
            response = http.get(f"{target_url}/status/404")
            assert response.status_code == 200, f"GET answered {response.status_code}"

        ATTEMPTS = []

        @pytest.mark.flaky(reruns=1)
        def test_passes_on_retry(http, target_url):
            http.get(f"{target_url}/retry")
            ATTEMPTS.append(1)
            assert len(ATTEMPTS) > 1
    """,
}


def write_journeys(tmp_path: Path) -> Path:
    folder = tmp_path / "journeys"
    folder.mkdir(exist_ok=True)
    for name, source in JOURNEYS.items():
        (folder / name).write_text(textwrap.dedent(source))
    return folder


def run_once(tmp_path: Path, target: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(write_journeys(tmp_path))],
        cwd=REPO_ROOT,
        env={**clean, "TARGET_URL": target, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_each_run_is_one_sampled_trace_with_a_span_per_request_and_retries_get_their_own(
    tmp_path: Path, recorder: Recorder
) -> None:
    done = run_once(tmp_path, recorder.url)
    assert done.returncode == 1, done.stdout + done.stderr  # test_fails_on_404
    (a,), (b,) = recorder.traceparents("/a"), recorder.traceparents("/b")
    assert a[0] == b[0], "the requests of one run share its trace id"
    assert a[1] != b[1], "each request has a span id of its own"
    assert all(int(flags, 16) & 1 for _, _, flags in (a, b)), "the sampled flag is set"
    first, second = recorder.traceparents("/retry")
    assert first[0] != second[0], "a retried attempt is a new trace"
    (failed,) = recorder.traceparents("/status/404")
    assert len({a[0], failed[0], first[0], second[0]}) == 4, "every journey run is its own trace"
    # The --once table names the failed run's trace, the one its request carried.
    assert f"trace {failed[0]}" in done.stdout
    assert [headers.get("x-own") for path, headers in recorder.requests if path == "/b"] == ["kept"]


def test_with_an_otlp_endpoint_each_run_is_exported_as_journey_step_and_request_spans(
    tmp_path: Path, recorder: Recorder
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": recorder.url, "OTEL_SERVICE_NAME": "checkout-monitor"}
    run_once(tmp_path, recorder.url, env)
    wait_for(lambda: len(recorder.spans) >= 11, 30, "the spans at the receiver")
    spans = [span for _, span in recorder.spans]
    services = {
        attr.value.string_value for res, _ in recorder.spans for attr in res.attributes if attr.key == "service.name"
    }
    assert services == {"checkout-monitor"}
    by_id = {span.span_id: span for span in spans}
    trace_id, request_span, _ = recorder.traceparents("/a")[0]
    in_trace = [span for span in spans if span.trace_id.hex() == trace_id]
    names = sorted(span.name for span in in_trace)
    assert names == ["GET /a", "GET /b", "journey test_trace.py::test_two_requests", "step first", "step second"]
    request = next(span for span in in_trace if span.name == "GET /a")
    assert request.span_id.hex() == request_span, "the span the service saw as its parent is the exported one"
    phases = {attr.key: attr.value.double_value for attr in request.attributes if attr.key.endswith("_seconds")}
    assert set(phases) == {
        f"synthetic.http.{p}_seconds" for p in ("resolve", "connect", "tls", "processing", "transfer")
    }
    assert phases["synthetic.http.connect_seconds"] > 0 and phases["synthetic.http.processing_seconds"] > 0
    assert phases["synthetic.http.tls_seconds"] == 0.0  # plain HTTP
    step = by_id[request.parent_span_id]
    assert step.name == "step first"
    journey = by_id[step.parent_span_id]
    assert journey.name.startswith("journey ") and journey.parent_span_id == b""
    failed = next(span for span in spans if span.name == "journey test_trace.py::test_fails_on_404")
    assert failed.status.code == 2 and "GET answered 404" in failed.status.message  # STATUS_CODE_ERROR
    result = {attr.key: attr.value.string_value for attr in failed.attributes}
    assert result["synthetic.result"] == "failure"
    http_404 = next(span for span in spans if span.name == "GET /status/404")
    assert http_404.status.code == 2 and http_404.parent_span_id == failed.span_id
    retried = [span for span in spans if span.name == "journey test_trace.py::test_passes_on_retry"]
    assert len(retried) == 2 and retried[0].trace_id != retried[1].trace_id


def test_without_an_endpoint_nothing_is_exported(tmp_path: Path, recorder: Recorder) -> None:
    run_once(tmp_path, recorder.url)
    assert recorder.traceparents("/a"), "the requests still carry trace context"
    assert not any(path == "/v1/traces" for path, _ in recorder.requests) and recorder.spans == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_the_standard_variables_decide_whether_spans_are_exported(env: dict[str, str], expected: bool) -> None:
    assert tracing.exporting(env) is expected


@pytest.mark.slow
def test_the_trace_id_reaches_the_api_the_page_the_log_and_the_exemplars(tmp_path: Path, recorder: Recorder) -> None:
    template = "https://tempo.example/trace/{trace_id}"
    process, url = start_runner(
        tmp_path,
        "--interval",
        "1",
        "--journeys",
        str(write_journeys(tmp_path)),
        "--trace-url",
        template,
        env={"TARGET_URL": recorder.url},
    )
    try:

        def failing() -> dict[str, Any] | None:
            journeys = requests.get(f"{url}/api/results", timeout=5).json()["journeys"]
            return next((j for j in journeys if j["journey"].endswith("test_fails_on_404") and j["trace_id"]), None)

        journey = wait_for(failing, 60, "a failed run in /api/results")
        trace_id = journey["trace_id"]
        assert re.fullmatch("[0-9a-f]{32}", trace_id)
        assert journey["trace_url"] == template.format(trace_id=trace_id)
        assert journey["history"][-1]["trace_id"] == trace_id
        page = requests.get(f"{url}/", timeout=5).text
        assert f'href="https://tempo.example/trace/{trace_id}"' in page

        # OpenMetrics, as Prometheus asks for it, carries each bucket's latest run as an exemplar.
        response = requests.get(f"{url}/metrics", headers={"Accept": OPENMETRICS}, timeout=5)
        assert response.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        exemplars = {
            (sample.name, sample.labels.get("journey"), sample.labels.get("result")): sample.exemplar
            for family in openmetrics_families(response.text)  # type: ignore[no-untyped-call]
            for sample in family.samples
            if sample.exemplar is not None
        }
        failure = [
            e for (n, j, r), e in exemplars.items() if j == "test_trace.py::test_fails_on_404" and r == "failure"
        ]
        assert failure and all(re.fullmatch("[0-9a-f]{32}", e.labels["trace_id"]) for e in failure)
        assert any(name == "synthetic_step_duration_bucket" for name, _, _ in exemplars)
        classic = requests.get(f"{url}/metrics", timeout=5)
        assert classic.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert " # {" not in classic.text and "synthetic_request_duration_bucket" in classic.text

        logged = process.wait_for_output(r'(?m)^(?=.*"event": "journey failed").*"trace_id": "([0-9a-f]{32})"')
        assert logged.group(1) in recorder_traces(recorder, "/status/404")
    finally:
        process.stop()


def recorder_traces(recorder: Recorder, path: str) -> set[str]:
    return {trace for trace, _, _ in recorder.traceparents(path)}


def test_without_an_endpoint_a_span_is_ids_only_in_the_runs_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tracing, "_current", None)  # this process's tracer, made again for these variables
    run = tracing.start_journey("test_a.py::test_b")
    try:
        with tracing.span("step pay") as step, tracing.span("GET /pay") as request:
            headers: dict[str, str] = {}
            tracing.inject(headers)
        ids = [span.get_span_context() for span in (run.root, step, request)]
        assert {context.trace_id for context in ids} == {int(run.trace_id, 16)}
        assert len({context.span_id for context in ids}) == 3
        assert not step.is_recording() and not request.is_recording()
        assert headers["traceparent"] == f"00-{run.trace_id}-{ids[2].span_id:016x}-01"
    finally:
        run.end()
