"""Maintenance windows: the file and the HTTP body each give one line per problem; occurrences are right across
daylight-saving changes; precedence, upcoming windows and the state file's round trip."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.errors import ConfigError
from runner.settings.maintenance import MaintenanceError, Selector, Window, in_force, upcoming
from runner.settings.maintenance_file import load_windows, window_from_json, window_from_state

ISSUE_EXAMPLE = """\
windows:
  - name: payments deploy
    start: 2026-12-05T22:00:00Z        # ISO 8601 with a zone
    end: 2026-12-05T23:00:00Z
    journeys: {labels: {team: payments}}
    mode: pause                        # not run at all
  - name: weekly vacuum
    schedule: "0 3 * * 0"              # cron, in the window's time zone
    duration: 1h
    timezone: Europe/Berlin
    journeys: {match: "test_search*"}  # a glob on the journey id; no `journeys`: every journey
    mode: mute                         # run and recorded, never alerting, left out of uptime
"""
PAYMENTS = (("team", "payments"),)
ONE_OFF = "start: 2026-12-05T22:00:00Z, end: 2026-12-05T23:00:00Z"
HOUR = timedelta(hours=1)
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def write(folder: Path, text: str) -> Path:
    path = folder / "maintenance.yml"
    path.write_text(textwrap.dedent(text))
    return path


def one_off(name: str, mode: str, start: datetime, end: datetime, journeys: Selector | None = None) -> Window:
    return Window(name, mode, journeys, start, end)


def weekly_vacuum(schedule: str = "0 3 * * 0") -> Window:
    return Window("weekly vacuum", "mute", schedule=schedule, duration_seconds=3600, timezone="Europe/Berlin")


# --- the file ----------------------------------------------------------------------------------------------------


def test_the_issue_example_file_loads(tmp_path: Path) -> None:
    assert load_windows(write(tmp_path, ISSUE_EXAMPLE)) == (
        one_off("payments deploy", "pause", utc(2026, 12, 5, 22), utc(2026, 12, 5, 23), Selector(PAYMENTS)),
        Window("weekly vacuum", "mute", Selector(match="test_search*"), None, None, "0 3 * * 0", 3600, "Europe/Berlin"),
    )


def test_an_empty_list_of_windows_is_fine(tmp_path: Path) -> None:
    assert load_windows(write(tmp_path, "windows: []\n")) == ()


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [
        ("90s", 90),
        ("10m", 600),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1d2h3m4s", 93784),
        ("45", 45),
        ("2.5", 2.5),
    ],
)
def test_a_duration_is_a_number_of_seconds_or_a_time_with_units(tmp_path: Path, duration: str, seconds: float) -> None:
    text = f"windows: [{{name: a, mode: mute, schedule: '0 3 * * *', duration: {duration}}}]\n"
    assert load_windows(write(tmp_path, text))[0].duration_seconds == seconds


def test_an_offset_other_than_z_is_read_as_that_instant(tmp_path: Path) -> None:
    text = "windows: [{name: a, mode: mute, start: '2026-12-05T23:00:00+01:00', end: '2026-12-06T00:30:00+01:00'}]\n"
    window = load_windows(write(tmp_path, text))[0]
    assert (window.start, window.end) == (utc(2026, 12, 5, 22), utc(2026, 12, 5, 23, 30))


def window(text: str) -> str:
    return f"windows:\n  - {text}\n"


BAD_FILES = {
    "missing name": (window(f"{{mode: pause, {ONE_OFF}}}"), "window 1: name is required"),
    "empty name": (window(f"{{name: '', mode: pause, {ONE_OFF}}}"), "window 1: name must be a non-empty string"),
    "name not a string": (window(f"{{name: 12, mode: pause, {ONE_OFF}}}"), "window 1: name must be a non-empty string"),
    "duplicate name": (
        f"windows:\n  - {{name: a, mode: pause, {ONE_OFF}}}\n  - {{name: a, mode: mute, {ONE_OFF}}}\n",
        "window 2: name 'a' is also the name of window 1; give each window a name of its own",
    ),
    "missing mode": (window(f"{{name: a, {ONE_OFF}}}"), "window 'a': mode is required: 'pause'"),
    "bad mode": (window(f"{{name: a, mode: snooze, {ONE_OFF}}}"), "window 'a': mode must be 'pause' (not run at all)"),
    "naive start": (
        window("{name: a, mode: mute, start: '2026-12-05 22:00', end: 2026-12-05T23:00:00Z}"),
        "window 'a': start must be an ISO 8601 time with a zone, got '2026-12-05 22:00'",
    ),
    "naive end": (
        window("{name: payments deploy, mode: mute, start: 2026-12-05T22:00:00Z, end: 2026-12-05 23:00}"),
        "window 'payments deploy': end must be an ISO 8601 time with a zone, got '2026-12-05 23:00'",
    ),
    "not a time": (window("{name: a, mode: mute, start: soon, end: later}"), "window 'a': start must be an ISO 8601"),
    "end before start": (
        window("{name: a, mode: mute, start: 2026-12-05T22:00:00Z, end: 2026-12-05T21:00:00Z}"),
        "window 'a': end 2026-12-05T21:00:00Z must be after start 2026-12-05T22:00:00Z",
    ),
    "start without end": (
        window("{name: a, mode: mute, start: 2026-12-05T22:00:00Z}"),
        "window 'a': end is required with start",
    ),
    "both start and schedule": (
        window(f"{{name: a, mode: mute, {ONE_OFF}, schedule: '0 3 * * 0', duration: 1h}}"),
        "window 'a': start and schedule cannot both be given",
    ),
    "neither start nor schedule": (window("{name: a, mode: mute}"), "window 'a': give start and end (a one-off"),
    "schedule without duration": (
        window("{name: a, mode: mute, schedule: '0 3 * * 0'}"),
        "window 'a': duration is required with schedule",
    ),
    "duration without schedule": (window("{name: a, mode: mute, duration: 1h}"), "window 'a': schedule is required"),
    "bad cron": (
        window("{name: a, mode: mute, schedule: '0 25 * * *', duration: 1h}"),
        "window 'a': schedule must be a 5-field cron expression",
    ),
    "six-field cron": (
        window("{name: a, mode: mute, schedule: '0 3 * * 0 5', duration: 1h}"),
        "window 'a': schedule must be a 5-field cron expression",
    ),
    "cron that never matches": (
        window("{name: a, mode: mute, schedule: '0 0 31 2 *', duration: 1h}"),
        "got '0 0 31 2 *'",
    ),
    "bad zone": (
        window("{name: a, mode: mute, schedule: '0 3 * * 0', duration: 1h, timezone: Mars/Olympus}"),
        "window 'a': timezone must be an IANA time zone like 'Europe/Berlin' or 'UTC', got 'Mars/Olympus'",
    ),
    "zone that is a folder": (
        window("{name: a, mode: mute, schedule: '0 3 * * 0', duration: 1h, timezone: Europe}"),
        "window 'a': timezone must be an IANA time zone",
    ),
    "zone with a one-off window": (
        window(f"{{name: a, mode: mute, {ONE_OFF}, timezone: Europe/Berlin}}"),
        "window 'a': timezone applies only with a schedule",
    ),
    "bad duration": (
        window("{name: a, mode: mute, schedule: '0 3 * * 0', duration: 1x}"),
        "window 'a': duration must be a positive time like '90s', '10m', '1h30m' or '2d', or a number of seconds, "
        "got '1x'",
    ),
    "duration without a unit at the end": (
        window("{name: a, mode: mute, schedule: '0 3 * * 0', duration: 1h30}"),
        "window 'a': duration must be a positive time",
    ),
    "zero duration": (window("{name: a, mode: mute, schedule: '0 3 * * 0', duration: 0}"), "duration must be a pos"),
    "negative duration": (window("{name: a, mode: mute, schedule: '0 3 * * 0', duration: -5}"), "got int -5"),
    "endless duration": (
        window("{name: a, mode: mute, schedule: '0 3 * * 0', duration: 400d}"),
        "window 'a': duration must be at most 366 days, got '400d'",
    ),
    "unknown key": (
        window(f"{{name: a, mode: mute, {ONE_OFF}, colour: red}}"),
        "window 'a': unknown key 'colour'; expected name, mode, journeys, start, end, schedule, duration, timezone",
    ),
    "journeys not a mapping": (
        window(f"{{name: a, mode: mute, {ONE_OFF}, journeys: [test_search]}}"),
        "window 'a': journeys must be a mapping with labels and/or match, got list ['test_search']",
    ),
    "journeys with an unknown key": (
        window(f"{{name: a, mode: mute, {ONE_OFF}, journeys: {{tags: [x]}}}}"),
        "window 'a': journeys has unknown key 'tags'; expected labels, match",
    ),
    "labels not a mapping": (
        window(f"{{name: a, mode: mute, {ONE_OFF}, journeys: {{labels: [team]}}}}"),
        "window 'a': journeys.labels must be a mapping of label names to values",
    ),
    "label value not a string": (
        window(f"{{name: a, mode: mute, {ONE_OFF}, journeys: {{labels: {{tier: 1}}}}}}"),
        "window 'a': journeys.labels.tier must be a string, got int 1; quote it",
    ),
    "match not a string": (
        window(f"{{name: a, mode: mute, {ONE_OFF}, journeys: {{match: [a, b]}}}}"),
        "window 'a': journeys.match must be a glob on the journey id",
    ),
    "window not a mapping": (window("just text"), "window 1: a window must be a mapping of keys to values"),
    "windows not a list": ("windows: {name: a}\n", "windows must be a list of windows (maybe empty: [])"),
    "top level not a mapping": ("- name: a\n", "the top level must be a mapping with a windows list, got list"),
    "empty file": ("", "the top level must be a mapping with a windows list, got NoneType None"),
    "unknown top-level key": ("window: []\n", "unknown key 'window' at the top level; expected windows"),
    "bad YAML": ("windows: [\n", "is not valid YAML: expected the node content, but found"),
    "a list as a key": ("windows:\n  - {? [a, b] : c}\n", "is not valid YAML: found unhashable key at line 2"),
    "key given twice": (
        window("{name: a, mode: mute, start: 2026-12-05T22:00:00Z, end: 2026-12-05T23:00:00Z, end: x}"),
        "is not valid YAML: the key 'end' is given twice at line 2",
    ),
}


@pytest.mark.parametrize(("text", "expected"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_each_bad_field_gives_one_line_naming_the_window_and_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(MaintenanceError) as caught:
        load_windows(path)
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"--maintenance {path}"), message
    assert expected in message, message


def test_an_unreadable_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yml"
    with pytest.raises(MaintenanceError, match=r"^--maintenance \S+nowhere.yml: cannot read the maintenance file: No"):
        load_windows(missing)
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\xff\xfe windows")
    with pytest.raises(MaintenanceError, match=r"^SYNTHETIC_MAINTENANCE \S+binary.yml: cannot read"):
        load_windows(binary, "SYNTHETIC_MAINTENANCE")


def test_a_maintenance_error_is_a_config_error_so_a_bad_file_exits_2() -> None:
    assert issubclass(MaintenanceError, ConfigError)
    assert issubclass(MaintenanceError, ValueError)


# --- which journeys, which window --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "journey", "labels", "selected"),
    [
        (Selector(), "test_anything", {}, True),
        (Selector(PAYMENTS), "test_pay", {"team": "payments", "tier": "1"}, True),
        (Selector(PAYMENTS), "test_pay", {"team": "search"}, False),
        (Selector(PAYMENTS), "test_pay", {}, False),
        (Selector((("team", "payments"), ("tier", "1"))), "test_pay", {"team": "payments"}, False),
        (Selector(match="test_search*"), "test_search_finds_a_room", {}, True),
        (Selector(match="test_search*"), "test_book", {}, False),
        (Selector(match="*::test_book[[]*"), "journeys/test_a.py::test_book[x]", {}, True),
        (Selector(match="TEST_SEARCH*"), "test_search", {}, False),  # case matters, on every platform
        (Selector((("team", "search"),), "test_search*"), "test_search", {"team": "search"}, True),
        (Selector((("team", "search"),), "test_search*"), "test_search", {"team": "payments"}, False),
    ],
)
def test_a_selector_needs_every_label_pair_and_the_glob(
    selector: Selector, journey: str, labels: dict[str, str], selected: bool
) -> None:
    assert selector.selects(journey, labels) is selected


def test_a_window_without_journeys_covers_every_journey() -> None:
    everything = one_off("all", "mute", NOW, NOW + HOUR)
    assert in_force([everything], "test_any", {}, NOW) == (everything, NOW + HOUR)


def test_a_one_off_window_is_in_force_from_its_start_until_just_before_its_end() -> None:
    deploy = one_off("deploy", "pause", NOW, NOW + HOUR)
    assert deploy.occurrence(NOW - timedelta(seconds=1)) is None
    assert deploy.occurrence(NOW) == (NOW, NOW + HOUR)
    assert deploy.occurrence(NOW + HOUR - timedelta(microseconds=1)) == (NOW, NOW + HOUR)
    assert deploy.occurrence(NOW + HOUR) is None
    assert deploy.next_start(NOW - HOUR) == (NOW, NOW + HOUR)
    assert deploy.next_start(NOW) is None  # started: it is past, or in force, not next


def test_a_pause_wins_over_a_mute_that_ends_later() -> None:
    mute = one_off("long mute", "mute", NOW - HOUR, NOW + 5 * HOUR)
    pause = one_off("short pause", "pause", NOW - HOUR, NOW + HOUR)
    assert in_force([mute, pause], "test_pay", {}, NOW) == (pause, NOW + HOUR)
    assert in_force([pause, mute], "test_pay", {}, NOW) == (pause, NOW + HOUR)


def test_of_two_windows_of_one_mode_the_one_ending_last_wins() -> None:
    early = one_off("early", "mute", NOW - HOUR, NOW + HOUR)
    late = one_off("late", "mute", NOW, NOW + 2 * HOUR)
    assert in_force([late, early], "test_pay", {}, NOW) == (late, NOW + 2 * HOUR)
    assert in_force([early, late], "test_pay", {}, NOW) == (late, NOW + 2 * HOUR)


def test_a_window_for_other_journeys_or_another_time_is_not_in_force() -> None:
    payments = Selector(PAYMENTS)
    others = one_off("payments", "pause", NOW - HOUR, NOW + HOUR, payments)
    later = one_off("later", "pause", NOW + HOUR, NOW + 2 * HOUR)
    assert in_force([others, later], "test_search", {"team": "search"}, NOW) is None
    assert in_force([others, later], "test_pay", {"team": "payments"}, NOW) == (others, NOW + HOUR)


def test_upcoming_lists_windows_in_force_and_starting_within_the_horizon_by_start() -> None:
    now_on = one_off("in force", "mute", NOW - HOUR, NOW + HOUR)
    soon = one_off("soon", "pause", NOW + 2 * HOUR, NOW + 3 * HOUR)
    too_late = one_off("too late", "pause", NOW + 30 * HOUR, NOW + 31 * HOUR)
    past = one_off("past", "pause", NOW - 3 * HOUR, NOW - 2 * HOUR)
    nightly = Window("nightly", "mute", schedule="0 22 * * *", duration_seconds=1800)
    listed = upcoming([too_late, nightly, past, soon, now_on], NOW, 86400)
    assert [(window.name, start, end) for window, start, end in listed] == [
        ("in force", NOW - HOUR, NOW + HOUR),
        ("soon", NOW + 2 * HOUR, NOW + 3 * HOUR),
        ("nightly", utc(2026, 12, 5, 22), utc(2026, 12, 5, 22, 30)),  # not the next: 34 hours on, past the horizon
    ]


def test_upcoming_lists_at_most_a_few_occurrences_of_each_window() -> None:
    often = Window("often", "mute", schedule="*/5 * * * *", duration_seconds=60)
    listed = upcoming([often], NOW, 86400, per_window=3)
    assert [start for _, start, _ in listed] == [NOW, NOW + timedelta(minutes=5), NOW + timedelta(minutes=10)]


# --- recurring windows -------------------------------------------------------------------------------------------


def test_an_occurrence_that_started_before_a_later_one_still_covers_until_its_end() -> None:
    # 09:00 and 10:00, 90 minutes each: they overlap, so they make one window, 09:00 to 11:30.
    twice = Window("twice", "mute", schedule="0 9,10 * * *", duration_seconds=5400)
    for at in (utc(2026, 6, 1, 9), utc(2026, 6, 1, 10, 15), utc(2026, 6, 1, 11, 29)):
        assert twice.occurrence(at) == (utc(2026, 6, 1, 9), utc(2026, 6, 1, 11, 30)), at
    assert twice.occurrence(utc(2026, 6, 1, 11, 30)) is None
    assert twice.next_start(utc(2026, 6, 1, 10, 15)) == (utc(2026, 6, 2, 9), utc(2026, 6, 2, 11, 30))


def test_an_occurrence_is_found_at_its_first_second_and_not_at_its_end() -> None:
    nightly = Window("nightly", "mute", schedule="0 22 * * *", duration_seconds=1800)
    assert nightly.occurrence(utc(2026, 6, 1, 22)) == (utc(2026, 6, 1, 22), utc(2026, 6, 1, 22, 30))
    assert nightly.occurrence(utc(2026, 6, 1, 22, 29, 59)) == (utc(2026, 6, 1, 22), utc(2026, 6, 1, 22, 30))
    assert nightly.occurrence(utc(2026, 6, 1, 22, 30)) is None
    assert nightly.occurrence(utc(2026, 6, 1, 21, 59, 59)) is None
    assert nightly.next_start(utc(2026, 6, 1, 21, 59, 59)) == (utc(2026, 6, 1, 22), utc(2026, 6, 1, 22, 30))
    assert nightly.next_start(utc(2026, 6, 1, 22)) == (utc(2026, 6, 2, 22), utc(2026, 6, 2, 22, 30))


def test_a_schedule_is_read_in_the_window_time_zone() -> None:
    summer, winter = weekly_vacuum().next_start(utc(2026, 7, 1)), weekly_vacuum().next_start(utc(2026, 12, 1))
    assert summer == (utc(2026, 7, 5, 1), utc(2026, 7, 5, 2))  # 03:00 CEST
    assert winter == (utc(2026, 12, 6, 2), utc(2026, 12, 6, 3))  # 03:00 CET


# Europe/Berlin in 2026: on Sunday 29 March clocks go from 02:00 CET to 03:00 CEST (at 01:00Z), so 02:xx does not
# exist; on Sunday 25 October they go back from 03:00 CEST to 02:00 CET (at 01:00Z), so 02:xx happens twice.
DST_CASES = {
    # 03:00 exists on both Sundays, once: the window starts then, in the zone's offset of the day.
    "03:00 on the spring Sunday": ("0 3 * * 0", utc(2026, 3, 28), utc(2026, 3, 29, 1), utc(2026, 4, 5, 1)),
    "03:00 on the autumn Sunday": ("0 3 * * 0", utc(2026, 10, 24), utc(2026, 10, 25, 2), utc(2026, 11, 1, 2)),
    # 02:30 does not exist: croniter starts it at the first minute after the gap, 03:00 CEST.
    "02:30 that does not exist": ("30 2 * * 0", utc(2026, 3, 28), utc(2026, 3, 29, 1), utc(2026, 4, 5, 0, 30)),
    # 02:30 happens twice (CEST, then CET): the window starts at the first only, and lasts one real hour.
    "02:30 that happens twice": ("30 2 * * 0", utc(2026, 10, 24), utc(2026, 10, 25, 0, 30), utc(2026, 11, 1, 1, 30)),
}


@pytest.mark.parametrize(("schedule", "before", "start", "following"), DST_CASES.values(), ids=DST_CASES.keys())
def test_a_recurring_window_is_right_across_daylight_saving_changes(
    schedule: str, before: datetime, start: datetime, following: datetime
) -> None:
    vacuum = weekly_vacuum(schedule)
    assert vacuum.next_start(before) == (start, start + HOUR)  # one real hour, whatever the clocks do
    assert vacuum.occurrence(start - timedelta(seconds=1)) is None
    for at in (start, start + timedelta(minutes=30), start + HOUR - timedelta(seconds=1)):
        assert vacuum.occurrence(at) == (start, start + HOUR), at
    assert vacuum.occurrence(start + HOUR) is None
    # The next is the next Sunday's, at its own offset: never the second 02:30 of the autumn Sunday.
    assert vacuum.next_start(start) == (following, following + HOUR)
    assert vacuum.next_start(start + 2 * HOUR) == (following, following + HOUR)


def test_a_wildcard_hour_runs_every_real_hour_across_daylight_saving_changes() -> None:
    hourly = Window("hourly", "mute", schedule="30 * * * *", duration_seconds=600, timezone="Europe/Berlin")
    for day in (utc(2026, 3, 29), utc(2026, 10, 25)):
        listed = upcoming([hourly], day, 4 * 3600)
        assert [start for _, start, _ in listed] == [day + timedelta(hours=h, minutes=30) for h in range(4)], day


def test_a_fixed_time_in_the_repeated_hour_starts_once_on_the_autumn_sunday() -> None:
    daily = Window("daily", "pause", schedule="30 2 * * *", duration_seconds=600, timezone="Europe/Berlin")
    listed = upcoming([daily], utc(2026, 10, 24, 12), 86400)
    assert [(start, end) for _, start, end in listed] == [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 0, 40))]


# --- ad-hoc windows over HTTP, and the state file ----------------------------------------------------------------


def test_a_posted_duration_starts_the_window_now() -> None:
    posted = window_from_json({"name": "hotfix", "mode": "pause", "duration": 900}, NOW, "w1")
    assert posted == Window("hotfix", "pause", None, NOW, NOW + timedelta(minutes=15), id="w1")
    texted = window_from_json({"name": "hotfix", "mode": "mute", "duration": "1h30m"}, NOW, "w2")
    assert (texted.start, texted.end, texted.id) == (NOW, NOW + timedelta(minutes=90), "w2")


def test_a_posted_start_and_end_make_a_one_off_window_for_the_chosen_journeys() -> None:
    body = {
        "name": "payments deploy",
        "mode": "pause",
        "start": "2026-12-05T22:00:00Z",
        "end": "2026-12-05T23:00:00+00:00",
        "journeys": {"labels": {"team": "payments"}, "match": "test_pay*"},
    }
    selector = Selector((("team", "payments"),), "test_pay*")
    expected = Window("payments deploy", "pause", selector, utc(2026, 12, 5, 22), utc(2026, 12, 5, 23), id="w3")
    assert window_from_json(body, NOW, "w3") == expected


def test_a_posted_window_already_in_force_is_fine_but_one_that_has_ended_is_refused() -> None:
    started = {"name": "a", "mode": "mute", "start": "2026-12-05T11:00:00Z", "end": "2026-12-05T13:00:00Z"}
    assert window_from_json(started, NOW, "w4").occurrence(NOW) == (utc(2026, 12, 5, 11), utc(2026, 12, 5, 13))
    ended = {**started, "end": "2026-12-05T12:00:00Z"}
    with pytest.raises(MaintenanceError) as caught:
        window_from_json(ended, NOW, "w5")
    assert str(caught.value) == (
        "field 'end' 2026-12-05T12:00:00Z is in the past (now 2026-12-05T12:00:00Z); give a later end, or a duration"
    )


BAD_BODIES = {
    "not an object": ([1, 2], "the body must be a JSON object (name, mode, journeys, duration, start, end), got list"),
    "no name": ({"mode": "mute", "duration": 60}, "field 'name' is required"),
    "name not text": ({"name": 5, "mode": "mute", "duration": 60}, "field 'name' must be a non-empty string, got int"),
    "no mode": ({"name": "a", "duration": 60}, "field 'mode' is required: 'pause' (not run at all) or 'mute'"),
    "bad mode": ({"name": "a", "mode": "off", "duration": 60}, "field 'mode' must be 'pause' (not run at all) or"),
    "unknown field": ({"name": "a", "mode": "mute", "duration": 60, "until": 1}, "unknown field 'until'; expected"),
    "no time": ({"name": "a", "mode": "mute"}, "give a duration (the window starts now), or start and end"),
    "duration and end": (
        {"name": "a", "mode": "mute", "duration": 60, "end": "2026-12-05T23:00:00Z"},
        "field 'duration' cannot be given with start or end",
    ),
    "duration true": ({"name": "a", "mode": "mute", "duration": True}, "field 'duration' must be a positive time"),
    "duration text": ({"name": "a", "mode": "mute", "duration": "soon"}, "field 'duration' must be a positive time"),
    "duration infinite": ({"name": "a", "mode": "mute", "duration": 1e308}, "field 'duration' must be at most 366"),
    "duration nan": ({"name": "a", "mode": "mute", "duration": float("nan")}, "field 'duration' must be a positive"),
    "start alone": ({"name": "a", "mode": "mute", "start": "2026-12-05T22:00:00Z"}, "field 'end' is required with"),
    "naive end": (
        {"name": "a", "mode": "mute", "start": "2026-12-05T22:00:00Z", "end": "2026-12-05T23:00:00"},
        "field 'end' must be an ISO 8601 time with a zone, got '2026-12-05T23:00:00'",
    ),
    "end a number": (
        {"name": "a", "mode": "mute", "start": "2026-12-05T22:00:00Z", "end": 1800000000},
        "field 'end' must be an ISO 8601 time with a zone, got int 1800000000",
    ),
    "journeys a string": (
        {"name": "a", "mode": "mute", "duration": 60, "journeys": "test_pay*"},
        "field 'journeys' must be a mapping with labels and/or match, got 'test_pay*'",
    ),
    "label not text": (
        {"name": "a", "mode": "mute", "duration": 60, "journeys": {"labels": {"tier": None}}},
        "field 'journeys.labels.tier' must be a string, got NoneType None",
    ),
}


@pytest.mark.parametrize(("body", "expected"), BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_bad_body_gives_one_line_naming_the_field(body: object, expected: str) -> None:
    with pytest.raises(MaintenanceError) as caught:
        window_from_json(body, NOW, "w9")
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(expected), message


ROUND_TRIPS = {
    "posted, for labels": Window(
        "hotfix", "pause", Selector((("team", "payments"), ("tier", "1")), "test_*"), NOW, NOW + HOUR, id="w1"
    ),
    "posted, with microseconds": one_off("now", "mute", NOW + timedelta(microseconds=5), NOW + HOUR),
    "recurring, every journey": weekly_vacuum(),
    "recurring, by glob": Window("nightly", "mute", Selector(match="test_search*"), schedule="0 22 * * *",
                                 duration_seconds=90.5),
}  # fmt: skip


@pytest.mark.parametrize("window", ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_a_window_survives_the_state_file(window: Window) -> None:
    assert window_from_state(json.loads(json.dumps(window.to_json()))) == window


def test_to_json_writes_utc_times_with_a_z_and_the_id_only_when_set() -> None:
    posted = Window("hotfix", "pause", Selector(PAYMENTS), NOW, NOW + HOUR, id="w1")
    assert posted.to_json() == {
        "name": "hotfix",
        "mode": "pause",
        "journeys": {"labels": {"team": "payments"}, "match": ""},
        "start": "2026-12-05T12:00:00Z",
        "end": "2026-12-05T13:00:00Z",
        "id": "w1",
    }
    assert weekly_vacuum().to_json() == {
        "name": "weekly vacuum",
        "mode": "mute",
        "journeys": None,
        "schedule": "0 3 * * 0",
        "duration_seconds": 3600.0,
        "timezone": "Europe/Berlin",
    }


BAD_STATE = {
    "not an object": ("hotfix", "maintenance state: saved window: a saved window must be a JSON object"),
    "no mode": ({"name": "hotfix", "start": "2026-12-05T12:00:00Z"}, "saved window 'hotfix': mode is required"),
    "bad end": (
        {"name": "hotfix", "mode": "mute", "start": "2026-12-05T12:00:00Z", "end": "tomorrow"},
        "saved window 'hotfix': end must be an ISO 8601 time with a zone, got 'tomorrow'",
    ),
    "id not text": (
        {"name": "hotfix", "mode": "mute", "start": "2026-12-05T12:00:00Z", "end": "2026-12-05T13:00:00Z", "id": 7},
        "saved window 'hotfix': id must be a string, got int 7",
    ),
    "unknown key": ({"name": "hotfix", "mode": "mute", "duration": 60}, "saved window 'hotfix': unknown key 'durat"),
}


@pytest.mark.parametrize(("item", "expected"), BAD_STATE.values(), ids=BAD_STATE.keys())
def test_bad_saved_data_gives_one_line_naming_the_window_and_the_key(item: object, expected: str) -> None:
    with pytest.raises(MaintenanceError) as caught:
        window_from_state(item)
    message = str(caught.value)
    assert "\n" not in message, message
    assert expected in message, message


def test_the_shipped_example_file_loads_as_the_readme_shows_it() -> None:
    example = Path(__file__).resolve().parents[3] / "prometheus" / "maintenance.example.yml"
    windows = load_windows(example)
    assert [(w.name, w.mode) for w in windows] == [
        ("payments deploy", "pause"),
        ("weekly vacuum", "mute"),
        ("datacentre move", "mute"),
    ]
    readme = (example.parents[1] / "README.md").read_text()
    body = example.read_text().split("windows:\n", 1)[1]
    assert body in readme  # the README's example is the file
