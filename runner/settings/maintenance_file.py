"""Reading maintenance windows: the ``--maintenance`` YAML file, ``POST /api/maintenance`` bodies, the state file.

Every problem is one line naming the window (or the request's field), the value and the fix.

Usage::

    windows = load_windows(Path("maintenance.yml"))     # MaintenanceError: one line naming the window and field
    window = window_from_json({"name": "hotfix", "duration": "30m", "mode": "mute"}, now, new_id="3f9c2a")
    again = window_from_state(window.to_json())
"""

from __future__ import annotations

import contextlib
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter

from runner.settings.maintenance import MODES, MaintenanceError, Selector, Window, iso
from runner.settings.strict_yaml import StrictLoader, yaml_problem

MODE_HELP = "'pause' (not run at all) or 'mute' (run and recorded, never alerting)"
MAX_FILE_BYTES = 1 << 20
MAX_DURATION_SECONDS = 366 * 86400.0
WINDOW_KEYS = ("name", "mode", "journeys", "start", "end", "schedule", "duration", "timezone")
BODY_KEYS = ("name", "mode", "journeys", "duration", "start", "end")
STATE_KEYS = ("id", "name", "mode", "journeys", "start", "end", "schedule", "duration_seconds", "timezone")
SELECTOR_KEYS = ("labels", "match")
DURATION = re.compile(r"(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
DURATION_HELP = "a positive time like '90s', '10m', '1h30m' or '2d', or a number of seconds"
TIME_EXAMPLE = "2026-12-05T23:00:00Z"


class _Bad(Exception):
    """A field's problem, before the caller says where the field was (a file's window, a request, the state)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(field, problem)
        self.field, self.problem = field, problem


def load_windows(path: Path, source: str = "--maintenance") -> tuple[Window, ...]:
    """The windows of a YAML file (``windows: [...]``); MaintenanceError naming the first bad window and field."""
    shown = str(path) if str(path).isprintable() else repr(str(path))  # one line, whatever the name holds
    where = f"{source} {shown}"
    try:
        with path.open("rb") as file:
            text = file.read(MAX_FILE_BYTES + 1).decode("utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8
        raise MaintenanceError(f"{where}: cannot read the maintenance file: {_reason(exc)}") from None
    if len(text) > MAX_FILE_BYTES:
        raise MaintenanceError(f"{where}: the file is larger than {MAX_FILE_BYTES} bytes; is it the right file?")
    try:
        document = yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader that rejects duplicate keys)
    except yaml.YAMLError as exc:
        raise MaintenanceError(f"{where} is not valid YAML: {yaml_problem(exc)}") from None
    windows: list[Window] = []
    for position, item in enumerate(_listed(document, where), 1):
        try:
            window = _file_window(item)
        except _Bad as bad:
            raise MaintenanceError(f"{where}: {_label(item, position)}: {_said(bad)}") from None
        if same := next((n for n, seen in enumerate(windows, 1) if seen.name == window.name), None):
            raise MaintenanceError(
                f"{where}: window {position}: name {window.name!r} is also the name of window {same}; "
                "give each window a name of its own"
            )
        windows.append(window)
    return tuple(windows)


def window_from_json(body: object, now: datetime, new_id: str) -> Window:
    """The window a ``POST /api/maintenance`` body asks for, with id ``new_id``; MaintenanceError naming the field."""
    try:
        fields = _fields(body, BODY_KEYS, "field", "the body must be a JSON object")
        name, mode, journeys = _common(fields)
        if "duration" in fields:
            if "start" in fields or "end" in fields:
                raise _Bad("duration", "cannot be given with start or end: give a duration (from now) or start and end")
            start = now.astimezone(UTC)
            end = start + timedelta(seconds=_duration(fields["duration"], "duration"))
        elif "start" in fields or "end" in fields:
            start, end = _one_off(fields)
            if end <= now:
                raise _Bad("end", f"{iso(end)} is in the past (now {iso(now)}); give a later end, or a duration")
        else:
            raise _Bad("", "give a duration (the window starts now), or start and end (ISO 8601 with a zone)")
    except _Bad as bad:
        raise MaintenanceError(f"field {bad.field!r} {bad.problem}" if bad.field else bad.problem) from None
    return Window(name, mode, journeys, start, end, id=new_id)


def window_from_state(item: object) -> Window:
    """A window as ``Window.to_json`` wrote it (the state file); MaintenanceError naming the window and field."""
    try:
        fields = _fields(item, STATE_KEYS, "key", "a saved window must be a JSON object")
        name, mode, journeys = _common(fields)
        identity = fields.get("id", "")
        if not isinstance(identity, str):
            raise _Bad("id", f"must be a string, got {_shown(identity)}")
        if "schedule" in fields:
            schedule, seconds, zone = _recurring(fields, "duration_seconds")
            return Window(name, mode, journeys, None, None, schedule, seconds, zone, identity)
        return Window(name, mode, journeys, *_one_off(fields), id=identity)
    except _Bad as bad:
        raise MaintenanceError(f"maintenance state: saved {_label(item, 0)}: {_said(bad)}") from None


def _listed(document: object, where: str) -> list[object]:
    """The ``windows`` list of the file's document."""
    if not isinstance(document, dict):
        raise MaintenanceError(f"{where}: the top level must be a mapping with a windows list, got {_shown(document)}")
    if unknown := [key for key in document if key != "windows"]:
        raise MaintenanceError(f"{where}: unknown key {_names(unknown)} at the top level; expected windows")
    items = document.get("windows")
    if not isinstance(items, list):
        raise MaintenanceError(f"{where}: windows must be a list of windows (maybe empty: []), got {_shown(items)}")
    return items


def _file_window(item: object) -> Window:
    fields = _fields(item, WINDOW_KEYS, "key", "a window must be a mapping of keys to values")
    name, mode, journeys = _common(fields)
    one_off = [key for key in ("start", "end") if key in fields]
    recurring = [key for key in ("schedule", "duration") if key in fields]
    if one_off and recurring:
        raise _Bad(
            one_off[0],
            f"and {recurring[0]} cannot both be given: a window is one-off (start and end) or recurring "
            "(schedule and duration)",
        )
    if recurring:
        if "schedule" not in fields:
            raise _Bad("schedule", "is required with duration (a one-off window has start and end instead)")
        return Window(name, mode, journeys, None, None, *_recurring(fields, "duration"))
    if "timezone" in fields:
        raise _Bad("timezone", "applies only with a schedule; start and end carry their own zone")
    if not one_off:
        raise _Bad("", "give start and end (a one-off window) or schedule and duration (a recurring one)")
    return Window(name, mode, journeys, *_one_off(fields))


def _fields(item: object, allowed: tuple[str, ...], noun: str, shape: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise _Bad("", f"{shape} ({', '.join(allowed)}), got {_shown(item)}")
    if unknown := [key for key in item if key not in allowed]:
        raise _Bad("", f"unknown {noun} {_names(unknown)}; expected {', '.join(allowed)}")
    return item


def _common(fields: dict[str, Any]) -> tuple[str, str, Selector | None]:
    """The name, mode and journeys every window has."""
    name, mode = fields.get("name"), fields.get("mode")
    if "name" not in fields:
        raise _Bad("name", "is required: a non-empty string naming the window")
    if not isinstance(name, str) or not name.strip():
        raise _Bad("name", f"must be a non-empty string, got {_shown(name)}")
    if "mode" not in fields:
        raise _Bad("mode", f"is required: {MODE_HELP}")
    if mode not in MODES:
        raise _Bad("mode", f"must be {MODE_HELP}, got {_shown(mode)}")
    return name, mode, _selector(fields.get("journeys"))


def _selector(value: object) -> Selector | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad("journeys", f"must be a mapping with labels and/or match, got {_shown(value)}")
    if unknown := [key for key in value if key not in SELECTOR_KEYS]:
        raise _Bad("journeys", f"has unknown key {_names(unknown)}; expected labels, match")
    labels = {} if value.get("labels") is None else value["labels"]
    match = "" if value.get("match") is None else value["match"]
    if not isinstance(labels, dict):
        raise _Bad("journeys.labels", f"must be a mapping of label names to values, got {_shown(labels)}")
    for key, text in labels.items():
        if not isinstance(key, str) or not key:
            raise _Bad("journeys.labels", f"must have label names that are non-empty strings, got {key!r}")
        if not isinstance(text, str):
            raise _Bad(f"journeys.labels.{key}", f"must be a string, got {_shown(text)}; quote it")
    if not isinstance(match, str):
        raise _Bad("journeys.match", f"must be a glob on the journey id like 'test_search*', got {_shown(match)}")
    return Selector(tuple(labels.items()), match)


def _one_off(fields: dict[str, Any]) -> tuple[datetime, datetime]:
    for key, other in (("start", "end"), ("end", "start")):
        if key not in fields:
            raise _Bad(key, f"is required with {other}: a one-off window has both")
    start, end = _time(fields["start"], "start"), _time(fields["end"], "end")
    if end <= start:
        raise _Bad("end", f"{iso(end)} must be after start {iso(start)}")
    return start, end


def _time(value: object, key: str) -> datetime:
    moment = None
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(value)
    if moment is not None and moment.tzinfo is not None:
        with contextlib.suppress(OverflowError):  # 0001-01-01T00:00:00+01:00 is before the first UTC time
            return moment.astimezone(UTC)
    raise _Bad(key, f"must be an ISO 8601 time with a zone, got {_shown(value)}; write it like {TIME_EXAMPLE}")


def _recurring(fields: dict[str, Any], duration_key: str) -> tuple[str, float, str]:
    """A recurring window's schedule, duration in seconds and time zone."""
    schedule = fields.get("schedule")
    if not isinstance(schedule, str) or len(schedule.split()) != 5 or not croniter.is_valid(schedule, strict=True):
        raise _Bad(
            "schedule",
            "must be a 5-field cron expression (minute hour day-of-month month day-of-week) that can match, like "
            f"'0 3 * * 0', got {_shown(schedule)}",
        )
    if duration_key not in fields:
        raise _Bad(duration_key, "is required with schedule: how long each occurrence lasts, like '1h'")
    zone = fields.get("timezone", "UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        raise _Bad("timezone", f"must be an IANA time zone like 'Europe/Berlin' or 'UTC', got {_shown(zone)}") from None
    return " ".join(schedule.split()), _duration(fields[duration_key], duration_key), zone


def _duration(value: object, key: str) -> float:
    seconds = math.nan
    if isinstance(value, str) and (parts := DURATION.fullmatch(value)):
        days, hours, minutes, secs = (int(part or 0) for part in parts.groups())
        seconds = float(((days * 24 + hours) * 60 + minutes) * 60 + secs)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            seconds = math.inf
    if not seconds > 0:  # also NaN: not a duration at all
        raise _Bad(key, f"must be {DURATION_HELP}, got {_shown(value)}")
    if seconds > MAX_DURATION_SECONDS:
        raise _Bad(key, f"must be at most {MAX_DURATION_SECONDS / 86400:.0f} days, got {_shown(value)}")
    return seconds


def _label(item: object, position: int) -> str:
    """How an error names a window: by its name, else by its position ("window 3")."""
    name = item.get("name") if isinstance(item, dict) else None
    if isinstance(name, str) and name.strip():
        return f"window {name!r}"
    return f"window {position}" if position else "window"


def _said(bad: _Bad) -> str:
    return f"{bad.field} {bad.problem}" if bad.field else bad.problem


def _names(keys: list[Any]) -> str:
    return ", ".join(repr(key) for key in keys)


def _shown(value: object) -> str:
    """A value for an error message: its repr, on one line and cut short, with its type unless a string."""
    text = repr(value)
    text = text if len(text) <= 80 else f"{text[:77]}..."
    return text if isinstance(value, str) else f"{type(value).__name__} {text}"


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc)


class _Loader(StrictLoader):
    """A SafeLoader that refuses a key given twice and keeps times as text (read here, where a zone is required)."""

    yaml_implicit_resolvers = {  # noqa: RUF012 (PyYAML's own class attribute, copied without timestamps)
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
