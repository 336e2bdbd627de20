"""The status page's smaller parts: uptime and its 90-day strip, SLOs, maintenance windows, each journey's schedule.

Every string that comes from a journey or a window goes through ``html.escape``, as on the rest of the page.
"""

from __future__ import annotations

import datetime
from html import escape

from runner.record.document import DayEntry, Document, JourneyEntry, UptimeEntry, WindowEntry

UPTIME_WINDOWS = ("24h", "7d", "30d", "90d")

STRIP_DAY_WIDTH, STRIP_HEIGHT = 7, 22


def percent(share: float | None) -> str:
    """99.95%, 100%, or a dash without runs; never rounded up to 100% while a run failed."""
    if share is None:
        return "\u2013"
    if share < 1 and round(share * 100, 2) >= 100:
        return "99.99%"
    return f"{share * 100:.2f}".rstrip("0").rstrip(".") + "%"


def uptime_cell(uptime: UptimeEntry | None) -> str:
    """The journey's 24-hour uptime, the longer windows on hover."""
    if not uptime:
        return ""
    title = ", ".join(f"{window} {percent(uptime[window])}" for window in UPTIME_WINDOWS)  # type: ignore[literal-required]
    return f'<span title="{escape(title)}">{percent(uptime["24h"])}</span>'


def suite_uptime(results: Document) -> str:
    """The suite's uptime over each window, and a strip of its last 90 days: green, amber for degraded, red for
    failures, grey for no data or maintenance; each day's uptime on hover (an SVG title, no script)."""
    uptime, days = results.get("uptime"), results.get("uptime_days") or []
    if not uptime:
        return ""
    figures = " · ".join(f"{window} {percent(uptime[window])}" for window in UPTIME_WINDOWS)  # type: ignore[literal-required]
    cells = "".join(day_cell(index, day) for index, day in enumerate(days))
    width = STRIP_DAY_WIDTH * len(days)
    strip = (
        f'<svg class="strip" role="img" width="{width}" height="{STRIP_HEIGHT}" viewBox="0 0 {width} {STRIP_HEIGHT}">'
        f"<title>the last {len(days)} days</title>{cells}</svg>"
        if days
        else ""
    )
    return f'<div class="uptime" id="uptime"><strong>Uptime</strong> {figures}<div>{strip}</div></div>'


def day_cell(index: int, day: DayEntry) -> str:
    """One day of the strip: a coloured rect with the day's uptime as its title."""
    runs, failures = day["runs"], day["failures"]
    if not runs:
        colour, share = "#d0d7de", "no data" if not day["muted"] else "maintenance"
    else:
        colour = "#cf222e" if failures else "#d4a72c" if day["degraded"] else "#2da44e"
        share = f"{percent((runs - failures) / runs)} of {runs} runs"
    date = datetime.datetime.fromtimestamp(day["day"], datetime.UTC).strftime("%Y-%m-%d")
    return (
        f'<rect x="{index * STRIP_DAY_WIDTH}" y="0" width="{STRIP_DAY_WIDTH - 1}" height="{STRIP_HEIGHT}" '
        f'fill="{colour}"><title>{date}: {escape(share)}</title></rect>'
    )


def slo(journey: JourneyEntry) -> str:
    """``SLO 99.9% over 30 d: budget left 73%, burn 0.4x (ok)`` for a journey with @pytest.mark.slo."""
    slo = journey.get("slo")
    if not slo:
        return ""
    left = slo["budget_left"]
    budget = (
        "no runs yet" if left is None else f"budget left {percent(max(left, 0.0))}" + (" (spent)" if left < 0 else "")
    )
    burn = "" if slo["burn_rate_1h"] is None else f", burn {slo['burn_rate_1h']:.1f}x"
    days = slo["window_seconds"] // 86400
    return (
        f'<div class="slo {slo["state"].replace(" ", "-")}">SLO {percent(slo["objective"])} over {days} d: '
        f"{budget}{burn} ({escape(slo['state'])})</div>"
    )


def in_maintenance(journey: JourneyEntry) -> str:
    """``maintenance until 23:00 UTC (payments deploy)`` while the journey is in a window."""
    found = journey.get("maintenance")
    if not found:
        return ""
    what = "paused" if found["mode"] == "pause" else "muted"
    until = clock(found["until"])
    return f'<div class="maintenance">maintenance until {until} ({escape(found["name"])}), {what}</div>'


def windows(windows: list[WindowEntry], now: float) -> str:
    """The maintenance windows in force and those starting within a week."""
    if not windows:
        return ""
    items = "".join(
        f"<li><strong>{escape(window['name'])}</strong> ({escape(window['mode'])}"
        f"{', ' + escape(selected(window)) if window['journeys'] else ', every journey'}): "
        f"{'now, ' if window['in_force'] else ''}{clock(window['start'])} to {clock(window['end'])}"
        f"{' (id ' + escape(window['id']) + ')' if window['id'] else ''}</li>"
        for window in windows
    )
    return f'<div class="windows" id="maintenance"><strong>Maintenance windows</strong><ul>{items}</ul></div>'


def selected(window: WindowEntry) -> str:
    """Which journeys a window selects, in words: ``team=payments journeys test_search*``."""
    journeys = window["journeys"] or {}
    labels = journeys.get("labels") or {}
    parts = [f"{name}={value}" for name, value in dict(labels).items()] if isinstance(labels, dict) else []
    if journeys.get("match"):
        parts.append(f"journeys {journeys['match']}")
    return " ".join(parts) or "every journey"


def clock(then: float) -> str:
    """``23:00 UTC`` today, else ``Sat 5 Dec 23:00 UTC``."""
    moment = datetime.datetime.fromtimestamp(then, datetime.UTC)
    today = datetime.datetime.now(datetime.UTC).date()
    return moment.strftime("%H:%M UTC") if moment.date() == today else moment.strftime("%a %-d %b %H:%M UTC")


def schedule(journey: JourneyEntry, now: float) -> str:
    """How often the journey runs, and when next: ``every 5 min, next in 3 min``."""
    interval = journey.get("interval_seconds")
    if not interval:
        return ""
    next_at = journey.get("next_run_at")
    when = f", next {from_now(next_at, now)}" if next_at else ""
    return f'<div class="schedule"{title(next_at)}>every {every(interval)}{when}</div>'


def every(seconds: float) -> str:
    """A period in words: ``30 s``, ``10 min``, ``2 h``."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    return f"{seconds / 3600:.3g} h"


def from_now(then: float, now: float) -> str:
    """How soon: ``now``, ``in 25 s``, ``in 3 min``."""
    seconds = then - now
    if seconds < 1:
        return "now"
    return f"in {round(seconds)} s" if seconds < 120 else f"in {every(round(seconds / 60) * 60)}"


def title(then: float | None) -> str:
    """A hover title with the exact UTC time, or ''."""
    return f' title="{utc(then)}"' if then else ""


def utc(then: float) -> str:
    """``2026-12-05 23:00:00 UTC``."""
    return datetime.datetime.fromtimestamp(then, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
