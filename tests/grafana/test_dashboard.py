"""The Grafana dashboard: its structure, and every panel's query against a real Prometheus scraping a real runner.

Grafana itself is not run: its variables are substituted here the way a dashboard with "All" selected would,
and each query goes to Prometheus's /api/v1/query, which is what the panels ask of the provisioned datasource.
"""

from __future__ import annotations

import json
import math
import os
import re
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from scripts.stack import (
    RUNNER_JOB,
    RunningProcess,
    host_port,
    prometheus_config,
    start_prometheus,
    start_runner,
)
from tests.certificates import issue, make_ca, serving
from tests.processes import REPO_ROOT, require_binary

GRAFANA_DIR = REPO_ROOT / "grafana"
DASHBOARD_PATH = GRAFANA_DIR / "dashboards" / "synthetic-monitor.json"
DATASOURCES_PATH = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
RULES_PATH = REPO_ROOT / "prometheus" / "rules.yml"
PROVIDERS_PATH = GRAFANA_DIR / "provisioning" / "dashboards" / "synthetic-monitor.yml"
DATASOURCE_UID = "synthetic-prometheus"
DATASOURCE_VARIABLE = "${datasource}"
GRID_COLUMNS = 24
# What Grafana puts in place of its variables when "All" is selected, and a window wide enough for
# Prometheus's 1 s scrapes below to hold several cycles.
GRAFANA_VARIABLES = {"location": ".*", "journey": ".*", "__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
VARIABLE = re.compile(r"\$\{?(\w+)\}?")
# A runner's series, or one recorded from them by prometheus/rules.yml (journey:synthetic_..:rate1h).
SELECTOR = re.compile(r"\b((?:[a-z_]+:)?synthetic_[\w:]+)(\{[^}]*\})?")
AGGREGATION = re.compile(r"\bby \(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
JOURNEY_METRICS = re.compile(
    r"synthetic_(request_duration|step_duration)\w*|synthetic_journey_(success|failures_total|info|flaky_total|slo_\w+)"
    r"|journey:synthetic_\w+:\w+|synthetic_http_\w+|synthetic_browser_web_vital"
)
# What issue 14 asks the dashboard to show, by the series that show it.
REQUIRED_METRICS = {
    "up",
    "synthetic_journey_success",
    "synthetic_request_duration_count",
    "synthetic_request_duration_bucket",
    "synthetic_step_duration_bucket",
    "synthetic_journey_flaky_total",
    "synthetic_last_cycle_duration_seconds",
    "synthetic_runs_total",
    "synthetic_collection_errors",
}
# Issue 22's SLO panels, by the series each must query: recorded by prometheus/rules.yml, or the runner's own.
SLO_PANELS = {
    "SLO error budget left": {"journey:synthetic_slo_error_budget_remaining:ratio"},
    "SLO burn rate (1h)": {"journey:synthetic_slo_error_ratio:rate1h", "synthetic_journey_slo_objective"},
}
# Every panel must show data: the shop's payment journey has an SLO, and the stack's Prometheus loads the shipped
# rules that record the series the SLO panels read.
PANELS_WITHOUT_DATA_YET: set[str] = set()
LOCATION = "test-loc"
CYCLES_BEFORE_CHECKING = 4
DATA_TIMEOUT_SECONDS = 120.0

ATTEMPTS_PLACEHOLDER = "ATTEMPTS_FILE"
SHOP_PLACEHOLDER = "SHOP_URL"
SHOP_JOURNEYS = """
    from pathlib import Path

    import pytest

    ATTEMPTS = Path(ATTEMPTS_FILE)


    @pytest.fixture(scope="module")
    def catalogue():
        yield ["tea"]


    @pytest.mark.labels(team="shop", severity="critical")
    def test_visitor_can_browse_the_catalogue(step, catalogue):
        with step("open the home page"):
            pass
        with step("list the products"):
            assert catalogue


    @pytest.mark.labels(team="shop", severity="warning")
    @pytest.mark.slo(objective=0.99)
    def test_visitor_can_pay(step):
        with step("add to basket"):
            pass
        with step("pay"):
            assert False, "payment refused"


    def test_visitor_can_see_the_prices(http):
        assert http.get(SHOP_URL + "/").ok  # HTTPS, with a certificate of the test's own CA


    @pytest.fixture(scope="session")
    def browser_context_args(browser_context_args):
        return {**browser_context_args, "ignore_https_errors": True}  # Chromium does not know the test's CA


    @pytest.mark.interval(5)  # a browser start every cycle of 1 s would outlast it
    def test_visitor_can_read_the_shop_page(page):
        page.goto(SHOP_URL + "/page")
        page.click("button")


    @pytest.mark.flaky(reruns=1)
    def test_visitor_can_log_in(step):
        attempt = int(ATTEMPTS.read_text()) + 1 if ATTEMPTS.exists() else 1
        ATTEMPTS.write_text(str(attempt))
        with step("log in"):
            assert attempt % 2 == 0, "the first attempt of every cycle fails"
"""
FAILING = "test_shop.py::test_visitor_can_pay"
FLAKY = "test_shop.py::test_visitor_can_log_in"
HTTPS = "test_shop.py::test_visitor_can_see_the_prices"
BROWSER = "test_shop.py::test_visitor_can_read_the_shop_page[chromium]"


@dataclass(frozen=True, slots=True)
class Query:
    """One target of one panel."""

    panel: str
    ref_id: str
    expr: str
    legend: str

    def __str__(self) -> str:
        return f"panel {self.panel!r} query {self.ref_id}"


def load_dashboard() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD_PATH.read_text())
    return dashboard


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, with those nested in collapsed rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def queries(dashboard: dict[str, Any]) -> list[Query]:
    return [
        Query(panel["title"], target["refId"], target["expr"], target.get("legendFormat", ""))
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in dashboard["templating"]["list"]}


def substitute(expr: str) -> str:
    """The query as Grafana sends it with "All" selected; an unknown variable fails the test."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in GRAFANA_VARIABLES, f"unknown Grafana variable ${name} in {expr!r}"
        return GRAFANA_VARIABLES[name]

    return VARIABLE.sub(value, expr)


def is_datasource(reference: object) -> bool:
    return isinstance(reference, dict) and reference.get("uid") in {DATASOURCE_UID, DATASOURCE_VARIABLE}


def test_panels_have_unique_ids_and_places_that_do_not_overlap() -> None:
    all_panels = panels(load_dashboard())
    ids = [panel["id"] for panel in all_panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    titles = [panel["title"] for panel in all_panels]
    assert len(titles) == len(set(titles)), "panel titles name panels in test failures: keep them unique"
    taken: dict[tuple[int, int], str] = {}
    for panel in all_panels:
        grid = panel.get("gridPos")
        assert grid and {"h", "w", "x", "y"} <= grid.keys(), f"panel {panel['title']!r} has no gridPos"
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= GRID_COLUMNS, f"panel {panel['title']!r} is off the grid"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"panels {taken[x, y]!r} and {panel['title']!r} overlap"
                taken[x, y] = panel["title"]


def test_every_panel_and_query_uses_the_provisioned_datasource() -> None:
    dashboard = load_dashboard()
    for panel in panels(dashboard):
        if panel["type"] == "row":
            assert not panel.get("targets"), f"row {panel['title']!r} has queries"
            continue
        assert is_datasource(panel.get("datasource")), f"panel {panel['title']!r} has no datasource reference"
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), f"panel {panel['title']!r} repeats a refId"
        for target in panel["targets"]:
            assert is_datasource(target.get("datasource")), f"panel {panel['title']!r} {target['refId']}"
    datasource = variables(dashboard)["datasource"]
    assert (datasource["type"], datasource["query"]) == ("datasource", "prometheus")
    assert datasource["current"]["value"] == DATASOURCE_UID


def test_location_and_journey_variables_match_everything_when_all_is_selected() -> None:
    found = variables(load_dashboard())
    for name, metric in (("location", "synthetic_interval_seconds"), ("journey", "synthetic_journey_info")):
        variable = found[name]
        assert (variable["multi"], variable["includeAll"], variable["allValue"]) == (True, True, ".*"), name
        assert variable["query"].startswith(f"label_values({metric}"), name
        assert is_datasource(variable["datasource"]), name
    assert 'location=~"$location"' in found["journey"]["query"]


def test_every_synthetic_series_is_filtered_by_location_and_journey_and_kept_apart_by_location() -> None:
    for query in queries(load_dashboard()):
        for metric, matchers in SELECTOR.findall(query.expr):
            assert 'location=~"$location"' in matchers, f"{query}: {metric} is not filtered by $location"
            if JOURNEY_METRICS.fullmatch(metric):
                assert 'journey=~"$journey"' in matchers, f"{query}: {metric} is not filtered by $journey"
        for labels in AGGREGATION.findall(query.expr):
            assert "location" in labels.split(", "), f"{query}: 'by ({labels})' merges locations"


def test_the_panels_cover_what_issue_14_asks_for() -> None:
    used = {name for query in queries(load_dashboard()) for name in re.findall(r"\b[a-z_]+(?=\{)", query.expr)}
    assert used >= REQUIRED_METRICS, f"no panel shows {sorted(REQUIRED_METRICS - used)}"


def recorded_series() -> set[str]:
    """The names prometheus/rules.yml records."""
    groups = yaml.safe_load(RULES_PATH.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def test_the_slo_panels_show_each_journeys_budget_left_and_burn_rate_from_recorded_series() -> None:
    all_queries = queries(load_dashboard())
    recorded = recorded_series()
    for title, series in SLO_PANELS.items():
        panel_queries = [query for query in all_queries if query.panel == title]
        assert panel_queries, f"no panel {title!r}"
        used = {name for query in panel_queries for name, _ in SELECTOR.findall(query.expr)}
        assert used == series, f"panel {title!r} queries {sorted(used)}, not {sorted(series)}"
        assert all("{{journey}}" in query.legend for query in panel_queries), f"panel {title!r} names no journey"
        not_recorded = {name for name in series if ":" in name} - recorded
        assert not not_recorded, f"panel {title!r} queries {sorted(not_recorded)}, which rules.yml does not record"


def test_provisioning_points_grafana_at_prometheus_and_at_the_dashboard() -> None:
    (datasource,) = yaml.safe_load(DATASOURCES_PATH.read_text())["datasources"]
    assert (datasource["uid"], datasource["type"], datasource["url"]) == (
        DATASOURCE_UID,
        "prometheus",
        "http://prometheus:9090",
    )
    (provider,) = yaml.safe_load(PROVIDERS_PATH.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"  # the compose volume of grafana/dashboards
    assert load_dashboard()["uid"] == "synthetic-monitor"


@dataclass(frozen=True, slots=True)
class Stack:
    prometheus: str
    runner: str


def write_journeys(folder: Path, shop_url: str) -> Path:
    """A passing journey with a module fixture, a failing one, a flaky one, all with steps; one over HTTPS, one in
    a browser; and a broken file."""
    journeys = folder / "journeys"
    journeys.mkdir()
    source = textwrap.dedent(SHOP_JOURNEYS).replace(ATTEMPTS_PLACEHOLDER, repr(str(folder / "attempts")))
    source = source.replace(SHOP_PLACEHOLDER, repr(shop_url))
    (journeys / "test_shop.py").write_text(source)
    (journeys / "test_broken.py").write_text("import a_module_that_does_not_exist\n")
    return journeys


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A runner (its journeys reaching an HTTPS shop on loopback, one in Chromium) and a Prometheus scraping it."""
    require_binary("prometheus", "prometheus")
    require_binary("chromium", "chromium")
    ca = make_ca(tmp_path, "Dashboard Test CA", days=30)
    processes: list[RunningProcess] = []
    with serving(issue(tmp_path, ca, days=20)) as shop:
        try:
            runner, runner_url = start_runner(
                tmp_path,
                *("--journeys", str(write_journeys(tmp_path, f"https://localhost:{shop.port}"))),
                *("--interval", "1", "--timeout", "5", "--location", LOCATION),
                env={**os.environ, "REQUESTS_CA_BUNDLE": str(ca.cert)},
            )
            processes.append(runner)
            config = prometheus_config({RUNNER_JOB: host_port(runner_url)}, None, [RULES_PATH], "1s")
            prometheus, prometheus_url = start_prometheus(tmp_path, config)
            processes.append(prometheus)
            yield Stack(prometheus_url, runner_url)
        finally:
            for process in reversed(processes):
                process.stop()


def evaluate(prometheus_url: str, query: Query) -> list[dict[str, Any]]:
    """The query's series; a query Prometheus rejects fails the test at once, naming the panel."""
    response = requests.get(f"{prometheus_url}/api/v1/query", params={"query": substitute(query.expr)}, timeout=10)
    body = response.json()
    assert body["status"] == "success", f"{query} does not run: {body.get('error')}\n{query.expr}"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def has_data(series: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(one["value"][1])) for one in series)


def completed_cycles(prometheus_url: str) -> float:
    query = Query("-", "-", f'synthetic_runs_total{{job="{RUNNER_JOB}", status="completed"}}', "")
    series = evaluate(prometheus_url, query)
    return float(series[0]["value"][1]) if series else 0.0


def results_with_data(prometheus_url: str, all_queries: list[Query]) -> dict[Query, list[dict[str, Any]]]:
    """Every query's series once each has a finite value; on timeout, fail naming the panels without data."""
    deadline = time.monotonic() + DATA_TIMEOUT_SECONDS
    while True:
        ready = completed_cycles(prometheus_url) >= CYCLES_BEFORE_CHECKING
        results = {query: evaluate(prometheus_url, query) for query in all_queries}
        empty = [
            query
            for query, series in results.items()
            if not has_data(series) and query.panel not in PANELS_WITHOUT_DATA_YET
        ]
        if ready and not empty:
            return results
        if time.monotonic() > deadline:
            names = "\n".join(f"  {query}: {results[query]}\n    {query.expr}" for query in empty)
            raise AssertionError(f"no data after {DATA_TIMEOUT_SECONDS}s for:\n{names}")
        time.sleep(1)


def by_panel(results: dict[Query, list[dict[str, Any]]], title: str) -> list[dict[str, Any]]:
    return [series for query, series_list in results.items() if query.panel == title for series in series_list]


@pytest.mark.slow
def test_every_panel_query_returns_data_from_prometheus_scraping_a_runner(stack: Stack) -> None:
    all_queries = queries(load_dashboard())
    results = results_with_data(stack.prometheus, all_queries)

    for query, series in results.items():  # the legend names labels the query keeps
        for label in LEGEND_LABEL.findall(query.legend):
            missing = [one["metric"] for one in series if label not in one["metric"]]
            assert not missing, f"{query}: legend uses {{{{{label}}}}}, missing from {missing}"
        if "location" in query.expr:
            assert all(one["metric"].get("location") == LOCATION for one in series if one["metric"]), query

    failing = by_panel(results, "Failing journeys")
    assert [(one["metric"]["journey"], one["metric"]["team"], one["metric"]["severity"]) for one in failing] == [
        (FAILING, "shop", "warning")
    ]
    assert [float(one["value"][1]) for one in by_panel(results, "Journeys failing now")] == [1.0]
    assert {one["metric"]["journey"] for one in by_panel(results, "Flaky runs")} == {FLAKY}
    assert {one["metric"]["step"] for one in by_panel(results, "Failed steps")} == {"pay"}
    assert {float(one["value"][1]) for one in by_panel(results, "Collection errors")} == {1.0}
    ratios = {
        one["metric"]["journey"]: float(one["value"][1]) for one in by_panel(results, "Success ratio per journey")
    }
    assert ratios[FAILING] == 0.0 and ratios[FLAKY] == 1.0, ratios
    phases = by_panel(results, "Request phases (mean per request)")
    assert {(one["metric"]["journey"], one["metric"]["phase"]) for one in phases} >= {
        (HTTPS, phase) for phase in ("resolve", "connect", "tls", "processing", "transfer")
    }
    (certificate,) = by_panel(results, "TLS certificates: days left")
    assert certificate["metric"]["host"].startswith("localhost:") and 19 < float(certificate["value"][1]) <= 20
    vitals = {one["metric"]["vital"] for one in by_panel(results, "Web Vitals (last run)")}
    assert {"lcp", "fcp", "ttfb", "inp"} <= vitals, vitals
    assert [one["metric"]["journey"] for one in by_panel(results, "Cumulative layout shift (last run)")] == [BROWSER]


@pytest.mark.slow
def test_the_variables_list_the_runners_location_and_journeys(stack: Stack) -> None:
    dashboard = load_dashboard()
    found = variables(dashboard)
    results_with_data(stack.prometheus, [])

    def label_values(variable: str, label: str) -> set[str]:
        match = re.fullmatch(r"label_values\((.*), (\w+)\)", found[variable]["query"])
        assert match and match.group(2) == label, found[variable]["query"]
        response = requests.get(
            f"{stack.prometheus}/api/v1/label/{label}/values",
            params={"match[]": substitute(match.group(1))},
            timeout=10,
        )
        return set(response.json()["data"])

    assert label_values("location", "location") == {LOCATION}
    journeys = {FAILING, FLAKY, HTTPS, BROWSER, "test_shop.py::test_visitor_can_browse_the_catalogue"}
    assert label_values("journey", "journey") == journeys
