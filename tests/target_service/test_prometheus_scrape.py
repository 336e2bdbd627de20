"""A real Prometheus scraping the real service stores the caller's trace id as an exemplar."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from scripts.stack import host_port, prometheus_config
from tests.processes import RunningProcess, free_port, require_binary, set_faults, start, start_target, wait_for
from tests.target_service.test_tracecontext import SPAN_ID, TRACE_ID

pytestmark = pytest.mark.slow


def start_prometheus_with_exemplars(workdir: Path, target_url: str) -> tuple[RunningProcess, str]:
    """Prometheus scraping ``target_url`` every second, keeping exemplars (a feature flag in 2.x and 3.x)."""
    binary = require_binary("prometheus", "prometheus")
    port = free_port()
    config_path = workdir / "prometheus.yml"
    config = prometheus_config({"reservations-service": host_port(target_url)}, None, [], "1s")
    config_path.write_text(json.dumps(config))  # JSON is YAML
    argv = [
        binary,
        f"--config.file={config_path}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        "--enable-feature=exemplar-storage",
    ]
    process = start(argv, workdir / "prometheus.log")
    process.wait_for_output("Server is ready to receive web requests")
    return process, f"http://127.0.0.1:{port}"


def exemplars(prometheus_url: str) -> list[dict[str, Any]]:
    now = time.time()
    response = requests.get(
        f"{prometheus_url}/api/v1/query_exemplars",
        params={"query": "http_request_duration_bucket", "start": str(now - 300), "end": str(now + 60)},
        timeout=5,
    )
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()["data"]
    return found


def test_prometheus_stores_a_failed_requests_trace_id_as_an_exemplar(tmp_path: Path) -> None:
    target, target_url = start_target(tmp_path, "--faults", "none")
    started = [target]
    try:
        prometheus, prometheus_url = start_prometheus_with_exemplars(tmp_path, target_url)
        started.append(prometheus)
        set_faults(target_url, {"error_rate": 1, "status_codes": [500]})
        traceparent = f"00-{TRACE_ID}-{SPAN_ID}-01"
        response = requests.post(
            f"{target_url}/reservations", json={"username": "a"}, headers={"traceparent": traceparent}, timeout=5
        )
        assert response.status_code == 500
        [series] = wait_for(lambda: exemplars(prometheus_url), 30, "an exemplar stored by Prometheus")
    finally:
        for process in started:
            process.stop()
    assert series["seriesLabels"]["code"] == "500" and series["seriesLabels"]["url"] == "/reservations"
    assert [exemplar["labels"] for exemplar in series["exemplars"]] == [{"trace_id": TRACE_ID}]
