"""The runner's MaintenanceBook: ad-hoc windows made from request bodies and ended by id beside the file's
windows, what is paused or in force at a moment, the state file's round trip and the cap on ad-hoc windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from runner.errors import ConfigError
from runner.record.maintenance import MAX_ADHOC_WINDOWS, MaintenanceBook
from runner.settings.maintenance import MaintenanceError, Selector, Window, iso

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PAYMENTS = Selector((("team", "payments"),))
SEARCH = Selector(match="test_search*")


def file_window(name: str, mode: str, journeys: Selector | None, start: datetime, end: datetime) -> Window:
    return Window(name, mode, journeys, start, end)


def test_a_window_with_a_duration_starts_now_and_gets_an_id_and_is_listed_after_the_files() -> None:
    planned = file_window("nightly", "mute", None, NOW + HOUR, NOW + 2 * HOUR)
    book = MaintenanceBook((planned,))

    window = book.add({"name": "hotfix", "mode": "mute", "duration": "30m", "journeys": {"match": "test_pay*"}}, NOW)

    assert (window.name, window.mode) == ("hotfix", "mute")
    assert (window.start, window.end) == (NOW, NOW + timedelta(minutes=30))
    assert window.journeys == Selector(match="test_pay*")
    assert window.id and window.id.isalnum()
    assert book.windows() == [planned, window]


def test_a_window_with_start_and_end_keeps_them() -> None:
    book = MaintenanceBook()
    body = {"name": "deploy", "mode": "pause", "start": iso(NOW + HOUR), "end": "2026-12-05T15:00:00+01:00"}

    window = book.add(body, NOW)

    assert (window.start, window.end) == (NOW + HOUR, NOW + 2 * HOUR)
    assert window.journeys is None  # no journeys: every journey
    assert book.windows() == [window]


def test_every_window_made_gets_an_id_of_its_own() -> None:
    book = MaintenanceBook()
    body = {"name": "hotfix", "mode": "mute", "duration": 60}

    ids = {book.add(body, NOW).id for _ in range(20)}

    assert len(ids) == 20
    assert "" not in ids


def test_a_bad_body_is_refused_with_the_field_and_nothing_is_added() -> None:
    book = MaintenanceBook()

    with pytest.raises(MaintenanceError, match="field 'mode'"):
        book.add({"name": "hotfix", "mode": "sleep", "duration": "1h"}, NOW)
    with pytest.raises(MaintenanceError, match=r"field 'end'.*in the past"):
        book.add({"name": "late", "mode": "mute", "start": iso(NOW - 2 * HOUR), "end": iso(NOW - HOUR)}, NOW)

    assert book.windows() == []


def test_ending_a_window_removes_that_one_only() -> None:
    planned = file_window("nightly", "mute", None, NOW, NOW + HOUR)
    book = MaintenanceBook((planned,))
    first = book.add({"name": "first", "mode": "mute", "duration": "1h"}, NOW)
    second = book.add({"name": "second", "mode": "pause", "duration": "1h"}, NOW)

    ended = book.end(first.id)

    assert ended == first
    assert book.windows() == [planned, second]
    assert book.end(first.id) is None  # already ended


def test_ending_an_unknown_id_or_a_file_window_returns_none_and_changes_nothing() -> None:
    planned = file_window("nightly", "mute", None, NOW, NOW + HOUR)
    book = MaintenanceBook((planned,))
    made = book.add({"name": "hotfix", "mode": "mute", "duration": "1h"}, NOW)

    assert book.end("no-such-id") is None
    assert book.end(planned.id) is None  # a file window has no id: it ends by editing the file
    assert book.end("nightly") is None

    assert book.windows() == [planned, made]


def test_paused_gives_the_selectors_of_the_pause_windows_in_force_only() -> None:
    book = MaintenanceBook(
        (
            file_window("payments deploy", "pause", PAYMENTS, NOW - HOUR, NOW + HOUR),
            file_window("everything", "pause", None, NOW - HOUR, NOW + HOUR),
            file_window("search muted", "mute", SEARCH, NOW - HOUR, NOW + HOUR),
            file_window("later", "pause", SEARCH, NOW + HOUR, NOW + 2 * HOUR),
            file_window("over", "pause", SEARCH, NOW - 2 * HOUR, NOW - HOUR),
        )
    )
    book.add({"name": "adhoc", "mode": "pause", "duration": "10m", "journeys": {"match": "test_a*"}}, NOW)

    assert book.paused(NOW) == (PAYMENTS, None, Selector(match="test_a*"))
    assert book.paused(NOW + HOUR) == (SEARCH,)  # the end is not in force; the next one starts
    assert book.paused(NOW - 3 * HOUR) == ()


def test_a_pause_window_wins_over_a_mute_window_that_ends_later() -> None:
    book = MaintenanceBook((file_window("long mute", "mute", None, NOW - HOUR, NOW + 5 * HOUR),))
    book.add(
        {"name": "short pause", "mode": "pause", "duration": "10m", "journeys": {"labels": {"team": "payments"}}}, NOW
    )

    paid = book.in_force("test_pay.py::test_pay", {"team": "payments"}, NOW)
    searched = book.in_force("test_search.py::test_search", {"team": "search"}, NOW)

    assert paid is not None and (paid[0].name, paid[1]) == ("short pause", NOW + timedelta(minutes=10))
    assert searched is not None and (searched[0].name, searched[1]) == ("long mute", NOW + 5 * HOUR)
    assert book.in_force("test_pay.py::test_pay", {"team": "payments"}, NOW + 6 * HOUR) is None


def test_state_and_restore_keep_the_adhoc_windows_and_drop_those_that_ended() -> None:
    planned = file_window("nightly", "mute", None, NOW, NOW + HOUR)
    before = MaintenanceBook((planned,))
    short = before.add({"name": "short", "mode": "mute", "duration": "10m"}, NOW)
    long = before.add({"name": "long", "mode": "pause", "duration": "2h", "journeys": {"labels": {"team": "a"}}}, NOW)
    later = before.add({"name": "later", "mode": "mute", "start": iso(NOW + 3 * HOUR), "end": iso(NOW + 4 * HOUR)}, NOW)

    state = before.state()
    assert [item["id"] for item in state] == [short.id, long.id, later.id]  # the file's windows are not kept
    after = MaintenanceBook((planned,))
    after.restore(state, NOW + HOUR)

    assert after.windows() == [planned, long, later]
    assert after.end(long.id) == long  # the ids survive: DELETE still finds them


def test_restoring_nothing_keeps_the_book_as_it_is() -> None:
    book = MaintenanceBook()

    book.restore(None, NOW)

    assert book.windows() == []
    assert book.state() == []


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"windows": []}, "must be a list of windows, got dict"),
        (["hotfix"], "a saved window must be a JSON object"),
        ([{"id": "a1", "name": "x", "mode": "sleep", "start": iso(NOW), "end": iso(NOW + HOUR)}], "mode must be"),
        ([{"id": "a1", "name": "x", "mode": "mute", "start": "yesterday", "end": iso(NOW)}], "start must be an ISO"),
        ([{"id": 7, "name": "x", "mode": "mute", "start": iso(NOW), "end": iso(NOW + HOUR)}], "id must be a string"),
    ],
)
def test_restoring_a_damaged_state_is_a_config_error_saying_what_is_wrong(items: object, message: str) -> None:
    book = MaintenanceBook()

    with pytest.raises(MaintenanceError, match=r"^maintenance state") as caught:
        book.restore(items, NOW)

    assert isinstance(caught.value, ConfigError)  # main() turns it into one line and exit 2
    assert message in str(caught.value)
    assert book.windows() == []


def test_no_more_than_the_cap_of_adhoc_windows_are_kept_at_once() -> None:
    book = MaintenanceBook()
    made = [book.add({"name": f"w{n}", "mode": "mute", "duration": "1h"}, NOW) for n in range(MAX_ADHOC_WINDOWS)]

    with pytest.raises(MaintenanceError, match=f"already {MAX_ADHOC_WINDOWS} ad-hoc windows.*DELETE"):
        book.add({"name": "one too many", "mode": "mute", "duration": "1h"}, NOW)
    assert len(book.windows()) == MAX_ADHOC_WINDOWS

    book.end(made[0].id)
    assert book.add({"name": "in its place", "mode": "mute", "duration": "1h"}, NOW).name == "in its place"


def test_windows_that_have_ended_do_not_count_towards_the_cap() -> None:
    book = MaintenanceBook()
    for n in range(MAX_ADHOC_WINDOWS):
        book.add({"name": f"w{n}", "mode": "mute", "duration": "1h"}, NOW)

    window = book.add({"name": "tomorrow", "mode": "mute", "duration": "1h"}, NOW + 2 * HOUR)

    assert book.windows() == [window]
