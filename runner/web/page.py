"""The status page: every journey's state at a glance, rendered on the server with no script at all.

Every string that comes from a journey (its id, its failure message) goes through ``html.escape``, and the
page is served with a Content-Security-Policy that allows no script, so a parametrized id such as
``test_x[<script>]`` is shown as text. It refreshes itself with a meta tag and needs nothing from the internet.
"""

from __future__ import annotations

import time
from html import escape

from runner.record.document import (
    Document,
    HistoryEntry,
    JourneyEntry,
    LastCycle,
    StepEntry,
    SuiteError,
)
from runner.web import observed, panels

REFRESH_SECONDS_MIN = 2
REFRESH_SECONDS_MAX = 30
CHART_WIDTH, CHART_HEIGHT = 180, 36
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
main{max-width:1100px;margin:0 auto;padding:16px}
.banner{padding:14px 18px;border-radius:8px;font-size:20px;font-weight:600;color:#fff}
.banner.ok{background:#1a7f37}.banner.bad{background:#cf222e}.banner.unknown{background:#6e7781}
.meta{color:#57606a;margin:8px 2px 16px}
table{width:100%;border-collapse:collapse;background:#fff;border:1px solid #d0d7de;border-radius:8px}
th,td{text-align:left;padding:8px 10px;border-top:1px solid #d8dee4;vertical-align:top}
th{background:#f6f8fa;font-weight:600;border-top:none}
td:nth-child(2){width:45%}
.state{font-weight:600;white-space:nowrap;border-radius:12px;padding:2px 10px;font-size:12px}
.passing{background:#dafbe1;color:#116329}.failing{background:#ffebe9;color:#a40e26}
.not-yet-run{background:#eaeef2;color:#57606a}.flaky{background:#fff8c5;color:#7d4e00}
.degraded{background:#fff1e5;color:#953800}.blocked{background:#fbefff;color:#6e2ba8}
.banner.warn{background:#bc4c00}
tr.group td{background:#fbefff;border-top:2px solid #8250df}
pre.message.degraded{border-left-color:#bc4c00;background:#fff8f2}
li.step.degraded{color:#953800;font-weight:600}
.journey{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
ol.steps{margin:4px 0 0;padding-left:18px;font-size:12px;color:#555}li.step.failed{color:#b00020;font-weight:600}
pre.message{white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0 0;padding:6px 8px;background:#fff8f8;
border-left:3px solid #cf222e;
font-size:12px;max-height:8em;overflow:auto}
.trace{font-size:12px;color:#57606a;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;margin-top:4px}
.num{text-align:right;white-space:nowrap}.when{white-space:nowrap;color:#57606a}
.schedule{font-size:12px;color:#57606a}
.maintenance{font-size:12px;color:#0550ae;font-weight:600}
.slo{font-size:12px;color:#57606a}.slo.fast-burn{color:#a40e26;font-weight:600}.slo.slow-burn{color:#953800}
.uptime{margin:0 2px 16px;color:#57606a}.strip{margin-top:4px}
.windows{margin-top:16px;background:#ddf4ff;border:1px solid #54aeff;border-radius:8px;padding:10px 14px}
.request{font-size:12px;color:#57606a;margin-top:4px;overflow-wrap:anywhere}.phases{font-size:11px}
svg.phasebar{vertical-align:middle;background:#eaeef2}
.vitals{font-size:12px;margin-top:4px}.vital{border-radius:10px;padding:1px 8px;margin-right:4px}
.vital.good{background:#dafbe1;color:#116329}.vital.needs-improvement{background:#fff8c5;color:#7d4e00}
.vital.poor{background:#ffebe9;color:#a40e26}
.certificates{margin-top:16px}.certificates table{margin-top:6px}
tr.cert-warning td{background:#fff8c5}tr.cert-critical td,tr.cert-expired td{background:#ffebe9;color:#a40e26}
.broken{margin-top:16px;background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;padding:10px 14px}
"""


def render(results: Document, interval_seconds: float, now: float | None = None) -> str:
    """The whole page for the ``/api/results`` document ``results``."""
    now = time.time() if now is None else now
    journeys = results["journeys"]
    refresh = int(min(REFRESH_SECONDS_MAX, max(REFRESH_SECONDS_MIN, interval_seconds)))
    blocked = _blocked_groups(journeys)
    rows = "\n".join(
        [
            *(_group(fixture, members, now) for fixture, members in blocked.items()),
            *(_row(journey, now) for journey in journeys if journey["state"] != "blocked"),
        ]
    )
    banner, banner_class = _banner_text(journeys), _banner_class(journeys)
    if results.get("suite_error"):
        banner, banner_class = "The journey suite is broken", "bad"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{refresh}">
<title>{escape(banner)} - synthetic monitor</title>
<style>{STYLE}</style></head>
<body><main>
<div class="banner {banner_class}" id="banner">{escape(banner)}</div>
<p class="meta">{_where(results)}{_meta(results.get("last_cycle"), interval_seconds, now)}</p>
{panels.suite_uptime(results)}
{_suite_error(results.get("suite_error"), now)}
<table id="journeys"><thead><tr><th>State</th><th>Journey</th><th>Last run</th><th class="num">Duration</th>
<th>Failing since</th><th>Recent runs</th><th class="num">Uptime</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{_broken_files(results.get("last_cycle"))}
{observed.certificates(results)}
{panels.windows(results.get("maintenance") or [], now)}
</main></body></html>
"""


FAILING_STATES = frozenset({"failing", "blocked"})
PASSING_STATES = frozenset({"passing", "flaky", "degraded"})


def _failing(journey: JourneyEntry) -> bool:
    """Failing, and not in a maintenance window (planned work turns no page red)."""
    return journey["state"] in FAILING_STATES and not journey.get("maintenance")


def _banner_text(journeys: list[JourneyEntry]) -> str:
    failing = sum(_failing(journey) for journey in journeys)
    planned = sum(bool(journey.get("maintenance")) for journey in journeys)
    return _banner_counts(journeys, failing) + (f" ({planned} in maintenance)" if planned else "")


def _banner_counts(journeys: list[JourneyEntry], failing: int) -> str:
    degraded = sum(journey["state"] == "degraded" for journey in journeys)
    ran = sum(journey["state"] != "not yet run" and not journey.get("maintenance") for journey in journeys)
    if not journeys:
        return "No journeys collected"
    if failing:
        blocked = _blocked_groups([journey for journey in journeys if _failing(journey)])
        why = f", {sum(map(len, blocked.values()))} blocked by {', '.join(blocked)}" if blocked else ""
        return f"{failing} of {len(journeys)} journeys failing{why}"
    if not ran:
        return f"{len(journeys)} journeys, not yet run"
    return f"All {ran} journeys passing, {degraded} degraded" if degraded else f"All {ran} journeys passing"


def _banner_class(journeys: list[JourneyEntry]) -> str:
    states = {journey["state"] for journey in journeys}
    if any(_failing(journey) for journey in journeys):
        return "bad"
    if "degraded" in states:
        return "warn"
    return "ok" if states & PASSING_STATES else "unknown"


def _blocked_groups(journeys: list[JourneyEntry]) -> dict[str, list[JourneyEntry]]:
    """The blocked journeys by the fixture that blocked them."""
    groups: dict[str, list[JourneyEntry]] = {}
    for journey in journeys:
        if journey["state"] == "blocked":
            groups.setdefault(journey.get("blocked_by") or "?", []).append(journey)
    return groups


def _group(fixture: str, members: list[JourneyEntry], now: float) -> str:
    """A failed wide fixture with its error, shown once, then the journeys it blocked."""
    count = f"{len(members)} journey{'s' if len(members) != 1 else ''}"
    header = (
        f'<tr class="group" id="blocked-{escape(fixture)}"><td><span class="state blocked">blocked</span></td>'
        f'<td colspan="6">Fixture <span class="journey">{escape(fixture)}</span> failed and blocks {count}'
        f'<pre class="message">{escape(members[0]["message"])}</pre>{_trace(members[0])}</td></tr>'
    )
    return "\n".join([header, *(_row(journey, now) for journey in members)])


def _where(results: Document) -> str:
    """'From eu-west, shard 2/3. ' when the runner has a location or a shard; '' otherwise."""
    parts = []
    location, shard = results.get("location"), results.get("shard", "1/1")
    if location:
        parts.append(f"From {escape(location)}")
    if shard != "1/1":
        parts.append(f"shard {escape(shard)}")
    return ", ".join(parts) + ". " if parts else ""


def _meta(last: LastCycle | None, interval_seconds: float, now: float) -> str:
    if last is None:
        return f"No cycle completed yet. A cycle starts every {interval_seconds:g} s."
    return (
        f"Last cycle finished {_ago(last['finished_at'], now)} ({panels.utc(last['finished_at'])}) in "
        f"{last['duration_seconds']:.2f} s: {last['passed']} passed, {last['failed']} failed. "
        f"A cycle starts every {interval_seconds:g} s."
    )


def _row(journey: JourneyEntry, now: float) -> str:
    state = journey["state"]
    message = ""
    if state == "failing":
        text = f"{journey['reason']}: {journey['message']}" if journey.get("reason") else journey["message"]
        message = f'<pre class="message">{escape(text)}</pre>{_trace(journey)}'
    elif state == "degraded":
        message = f'<pre class="message degraded">degraded: {escape(journey.get("degraded", ""))}</pre>'
    elif state == "flaky":
        message = (
            f'<pre class="message">passed on a retry; the first attempt failed: {escape(journey["message"])}</pre>'
        )
    last_at, duration, since = journey["last_run_at"], journey["last_duration_seconds"], journey["failing_since"]
    return (
        f'<tr class="row-{state.replace(" ", "-")}">'
        f'<td><span class="state {state.replace(" ", "-")}">{escape(state)}</span></td>'
        f'<td><div class="journey">{escape(journey["journey"])}</div>'
        f"{panels.in_maintenance(journey)}{panels.slo(journey)}"
        f"{_steps(journey.get('steps', []))}{message}"
        f"{observed.slowest_request(journey)}{observed.web_vitals(journey)}"
        f"{_evidence(journey, now)}</td>"
        f'<td class="when"{panels.title(last_at)}>{_ago(last_at, now) if last_at else "never"}'
        f"{panels.schedule(journey, now)}</td>"
        f'<td class="num">{_milliseconds(duration) if duration is not None else ""}</td>'
        f'<td class="when"{panels.title(since)}>{_ago(since, now) if since else ""}</td>'
        f"<td>{_chart(journey['history'])}</td>"
        f'<td class="num uptime">{panels.uptime_cell(journey.get("uptime"))}</td></tr>'
    )


def _evidence(journey: JourneyEntry, now: float) -> str:
    """Links to the latest failed browser run's screenshot and page, with when that run was."""
    items = journey.get("artifacts") or []
    if not items:
        return ""
    links = " · ".join(f'<a href="{escape(item["url"])}" rel="noreferrer">{escape(item["kind"])}</a>' for item in items)
    at = journey.get("artifacts_at")
    when = f" <span{panels.title(at)}>({_ago(at, now)})</span>" if at else ""
    return f'<div class="trace">latest failure{when}: {links}</div>'


def _trace(journey: JourneyEntry) -> str:
    """The failed run's trace id, linked to the trace viewer when ``--trace-url`` is set."""
    trace_id = journey.get("trace_id")
    if not trace_id:
        return ""
    url = journey.get("trace_url")
    shown = f'<a href="{escape(url)}" rel="noreferrer">{escape(trace_id)}</a>' if url else escape(trace_id)
    return f'<div class="trace">trace {shown}</div>'


def _steps(steps: list[StepEntry]) -> str:
    """The last run's steps in order, each with its duration; the one that failed marked."""
    if not steps:
        return ""
    items = "".join(
        f'<li class="step {_step_state(step)}">{escape(step["name"])} {_milliseconds(step["seconds"])}'
        f"{'' if _step_state(step) == 'passed' else f' ({_step_state(step)})'}</li>"
        for step in steps
    )
    return f'<ol class="steps">{items}</ol>'


def _step_state(step: StepEntry) -> str:
    if not step["passed"]:
        return "failed"
    return "degraded" if step.get("degraded") else "passed"


def _chart(history: list[HistoryEntry]) -> str:
    """An inline SVG of recent durations: a line, failures as red dots."""
    if not history:
        return ""
    durations = [run["duration_seconds"] for run in history]
    top = max(durations) or 1.0
    step = CHART_WIDTH / max(1, len(history) - 1)
    points = [
        (round(i * step, 1), round(CHART_HEIGHT - 3 - (d / top) * (CHART_HEIGHT - 6), 1))
        for i, d in enumerate(durations)
    ]
    line = " ".join(f"{x},{y}" for x, y in points)
    dots = "".join(
        f'<circle cx="{x}" cy="{y}" r="2.5" fill="{"#cf222e" if not run["passed"] else "#bc4c00"}"/>'
        for (x, y), run in zip(points, history, strict=True)
        if not run["passed"] or run.get("degraded")
    )
    failures = sum(not run["passed"] for run in history)
    degraded = sum(bool(run.get("degraded")) for run in history)
    label = f"{len(history)} recent runs, {failures} failed, {degraded} degraded, slowest {top * 1000:.0f} ms"
    return (
        f'<svg class="chart" role="img" width="{CHART_WIDTH}" height="{CHART_HEIGHT}" '
        f'viewBox="-3 0 {CHART_WIDTH + 6} {CHART_HEIGHT}"><title>{escape(label)}</title>'
        f'<polyline points="{line}" fill="none" stroke="#0969da" stroke-width="1.5"/>{dots}</svg>'
    )


def _suite_error(error: SuiteError | None, now: float) -> str:
    """Why the last cycle could not run its suite, or broke off: pytest's own words."""
    if not error:
        return ""
    return (
        f'<div class="broken" id="suite-error"><strong>The last cycle ended in an error '
        f"<span{panels.title(error['at'])}>({_ago(error['at'], now)})</span></strong>"
        f'<pre class="message">{escape(error["message"])}</pre></div>'
    )


def _broken_files(last: LastCycle | None) -> str:
    if not last or not last["collection_errors"]:
        return ""
    items = "".join(
        f'<li><span class="journey">{escape(error["path"])}</span>: {escape(error["message"])}</li>'
        for error in last["collection_errors"]
    )
    return f'<div class="broken" id="broken"><strong>Journey files that failed to load</strong><ul>{items}</ul></div>'


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def _ago(then: float, now: float) -> str:
    seconds = max(0, int(now - then))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"
