"""The status page: every journey's state at a glance, rendered on the server with no script at all.

Every string that comes from a journey (its id, its failure message) goes through ``html.escape``, and the
page is served with a Content-Security-Policy that allows no script, so a parametrized id such as
``test_x[<script>]`` is shown as text. It refreshes itself with a meta tag and needs nothing from the internet.
"""

from __future__ import annotations

import datetime
import time
from html import escape

from runner.record.document import (
    DayEntry,
    Document,
    HistoryEntry,
    JourneyEntry,
    LastCycle,
    StepEntry,
    SuiteError,
    UptimeEntry,
    WindowEntry,
)

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
{_suite_uptime(results)}
{_suite_error(results.get("suite_error"), now)}
<table id="journeys"><thead><tr><th>State</th><th>Journey</th><th>Last run</th><th class="num">Duration</th>
<th>Failing since</th><th>Recent runs</th><th class="num">Uptime</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{_broken_files(results.get("last_cycle"))}
{_windows(results.get("maintenance") or [], now)}
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
        f"Last cycle finished {_ago(last['finished_at'], now)} ({_utc(last['finished_at'])}) in "
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
        f'<td><div class="journey">{escape(journey["journey"])}</div>{_in_maintenance(journey)}{_slo(journey)}'
        f"{_steps(journey.get('steps', []))}{message}"
        f"{_evidence(journey, now)}</td>"
        f'<td class="when"{_title(last_at)}>{_ago(last_at, now) if last_at else "never"}{_schedule(journey, now)}</td>'
        f'<td class="num">{_milliseconds(duration) if duration is not None else ""}</td>'
        f'<td class="when"{_title(since)}>{_ago(since, now) if since else ""}</td>'
        f'<td>{_chart(journey["history"])}</td><td class="num uptime">{_uptime_cell(journey.get("uptime"))}</td></tr>'
    )


UPTIME_WINDOWS = ("24h", "7d", "30d", "90d")
STRIP_DAY_WIDTH, STRIP_HEIGHT = 7, 22


def _percent(share: float | None) -> str:
    """99.95%, 100%, or a dash without runs; never rounded up to 100% while a run failed."""
    if share is None:
        return "\u2013"
    if share < 1 and round(share * 100, 2) >= 100:
        return "99.99%"
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


def _uptime_cell(uptime: UptimeEntry | None) -> str:
    """The journey's 24-hour uptime, the longer windows on hover."""
    if not uptime:
        return ""
    title = ", ".join(f"{window} {_percent(uptime[window])}" for window in UPTIME_WINDOWS)  # type: ignore[literal-required]
    return f'<span title="{escape(title)}">{_percent(uptime["24h"])}</span>'


def _suite_uptime(results: Document) -> str:
    """The suite's uptime over each window, and a strip of its last 90 days: green, amber for degraded, red for
    failures, grey for no data or maintenance; each day's uptime on hover (an SVG title, no script)."""
    uptime, days = results.get("uptime"), results.get("uptime_days") or []
    if not uptime:
        return ""
    figures = " · ".join(f"{window} {_percent(uptime[window])}" for window in UPTIME_WINDOWS)  # type: ignore[literal-required]
    cells = "".join(_day_cell(index, day) for index, day in enumerate(days))
    width = STRIP_DAY_WIDTH * len(days)
    strip = (
        f'<svg class="strip" role="img" width="{width}" height="{STRIP_HEIGHT}" viewBox="0 0 {width} {STRIP_HEIGHT}">'
        f"<title>the last {len(days)} days</title>{cells}</svg>"
        if days
        else ""
    )
    return f'<div class="uptime" id="uptime"><strong>Uptime</strong> {figures}<div>{strip}</div></div>'


def _day_cell(index: int, day: DayEntry) -> str:
    runs, failures = day["runs"], day["failures"]
    if not runs:
        colour, share = "#d0d7de", "no data" if not day["muted"] else "maintenance"
    else:
        colour = "#cf222e" if failures else "#d4a72c" if day["degraded"] else "#2da44e"
        share = f"{_percent((runs - failures) / runs)} of {runs} runs"
    date = datetime.datetime.fromtimestamp(day["day"], datetime.UTC).strftime("%Y-%m-%d")
    return (
        f'<rect x="{index * STRIP_DAY_WIDTH}" y="0" width="{STRIP_DAY_WIDTH - 1}" height="{STRIP_HEIGHT}" '
        f'fill="{colour}"><title>{date}: {escape(share)}</title></rect>'
    )


def _slo(journey: JourneyEntry) -> str:
    """``SLO 99.9% over 30 d: budget left 73%, burn 0.4x (ok)`` for a journey with @pytest.mark.slo."""
    slo = journey.get("slo")
    if not slo:
        return ""
    left = slo["budget_left"]
    budget = (
        "no runs yet" if left is None else f"budget left {_percent(max(left, 0.0))}" + (" (spent)" if left < 0 else "")
    )
    burn = "" if slo["burn_rate_1h"] is None else f", burn {slo['burn_rate_1h']:.1f}x"
    days = slo["window_seconds"] // 86400
    return (
        f'<div class="slo {slo["state"].replace(" ", "-")}">SLO {_percent(slo["objective"])} over {days} d: '
        f"{budget}{burn} ({escape(slo['state'])})</div>"
    )


def _in_maintenance(journey: JourneyEntry) -> str:
    """``maintenance until 23:00 UTC (payments deploy)`` while the journey is in a window."""
    found = journey.get("maintenance")
    if not found:
        return ""
    what = "paused" if found["mode"] == "pause" else "muted"
    until = _clock(found["until"])
    return f'<div class="maintenance">maintenance until {until} ({escape(found["name"])}), {what}</div>'


def _windows(windows: list[WindowEntry], now: float) -> str:
    """The maintenance windows in force and those starting within a week."""
    if not windows:
        return ""
    items = "".join(
        f"<li><strong>{escape(window['name'])}</strong> ({escape(window['mode'])}"
        f"{', ' + escape(_selected(window)) if window['journeys'] else ', every journey'}): "
        f"{'now, ' if window['in_force'] else ''}{_clock(window['start'])} to {_clock(window['end'])}"
        f"{' (id ' + escape(window['id']) + ')' if window['id'] else ''}</li>"
        for window in windows
    )
    return f'<div class="windows" id="maintenance"><strong>Maintenance windows</strong><ul>{items}</ul></div>'


def _selected(window: WindowEntry) -> str:
    journeys = window["journeys"] or {}
    labels = journeys.get("labels") or {}
    parts = [f"{name}={value}" for name, value in dict(labels).items()] if isinstance(labels, dict) else []
    if journeys.get("match"):
        parts.append(f"journeys {journeys['match']}")
    return " ".join(parts) or "every journey"


def _clock(then: float) -> str:
    """``23:00 UTC`` today, else ``Sat 5 Dec 23:00 UTC``."""
    moment = datetime.datetime.fromtimestamp(then, datetime.UTC)
    today = datetime.datetime.now(datetime.UTC).date()
    return moment.strftime("%H:%M UTC") if moment.date() == today else moment.strftime("%a %-d %b %H:%M UTC")


def _schedule(journey: JourneyEntry, now: float) -> str:
    """How often the journey runs, and when next: ``every 5 min, next in 3 min``."""
    interval = journey.get("interval_seconds")
    if not interval:
        return ""
    next_at = journey.get("next_run_at")
    when = f", next {_in(next_at, now)}" if next_at else ""
    return f'<div class="schedule"{_title(next_at)}>every {_duration(interval)}{when}</div>'


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def _in(then: float, now: float) -> str:
    seconds = then - now
    if seconds < 1:
        return "now"
    return f"in {round(seconds)} s" if seconds < 120 else f"in {_duration(round(seconds / 60) * 60)}"


def _evidence(journey: JourneyEntry, now: float) -> str:
    """Links to the latest failed browser run's screenshot and page, with when that run was."""
    items = journey.get("artifacts") or []
    if not items:
        return ""
    links = " · ".join(f'<a href="{escape(item["url"])}" rel="noreferrer">{escape(item["kind"])}</a>' for item in items)
    at = journey.get("artifacts_at")
    when = f" <span{_title(at)}>({_ago(at, now)})</span>" if at else ""
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
        f"<span{_title(error['at'])}>({_ago(error['at'], now)})</span></strong>"
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


def _title(then: float | None) -> str:
    return f' title="{_utc(then)}"' if then else ""


def _utc(then: float) -> str:
    return datetime.datetime.fromtimestamp(then, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
