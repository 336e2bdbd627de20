"""The state file read back: every value checked for its type before the runner uses it.

The runner writes the file (``runner.record.history``); whatever is in it when read back, a bad value is one line
naming the journey, the run and the field, never a page that fails later. Keys this version does not know are
dropped, so a newer runner's file still loads after a rollback.

Usage::

    runs, failing_since, last_cycle = parse(json.loads(text))   # InvalidState: "journey 'a', run 3: ..."
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

SHOWN_CHARS = 60  # of a bad value in an error
LAST_UNIX_TIME = 253_402_300_799  # 9999-12-31 23:59:59 UTC


class InvalidState(ValueError):
    """A state file value of the wrong type or shape; the message says where it is and what it must be."""


Check = Callable[[object], str | None]  # what the value must be, or None when it is fine


def _number(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "a number"
    try:
        return None if math.isfinite(value) else "a finite number"
    except OverflowError:  # an integer too large for a float
        return "a finite number"


def _unix_time(value: object) -> str | None:
    # A time the page can show as a date: datetime stops at the year 9999. NaN fails the comparison too.
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= LAST_UNIX_TIME
    return None if ok else "a unix time (seconds since 1970, before the year 10000)"


def _count(value: object) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return None if ok else "a whole number, 0 or more"


def _boolean(value: object) -> str | None:
    return None if isinstance(value, bool) else "true or false"


def _text(value: object) -> str | None:
    return None if isinstance(value, str) else "a string"


def _text_or_null(value: object) -> str | None:
    return None if value is None or isinstance(value, str) else "a string or null"


def _pairs(value: object) -> str | None:
    ok = isinstance(value, list) and all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(part, str) for part in pair) for pair in value
    )
    return None if ok else "a list of [path, message] pairs of strings"


# Each field of what a state file keeps, and what it may hold; a field with a default may be absent.
RUN_CHECKS: dict[str, Check] = {
    "at": _unix_time,
    "passed": _boolean,
    "duration_seconds": _number,
    "reason": _text_or_null,
    "message": _text,
    "flaky": _boolean,
    "trace_id": _text,
    "degraded": _text,
    "blocked_by": _text,
    "muted": _boolean,
}
RUN_REQUIRED = frozenset({"at", "passed", "duration_seconds"})  # the others have defaults in history.Run
CYCLE_CHECKS: dict[str, Check] = {
    "finished_at": _unix_time,
    "duration_seconds": _number,
    "passed": _count,
    "failed": _count,
    "collection_errors": _pairs,
}


def parse(state: object) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float], dict[str, Any] | None]:
    """A decoded state file's runs (each the fields of a ``history.Run``), failing-since times and last cycle
    (the fields of a ``history.CycleSummary``), every value checked; else InvalidState."""
    document = _object(state, "the file")
    runs = {journey: _runs(journey, items) for journey, items in _section(document, "runs").items()}
    failing_since = {
        journey: _checked(since, _unix_time, f"journey {journey!r}: failing_since")
        for journey, since in _section(document, "failing_since").items()
    }
    last = document.get("last_cycle")
    return runs, failing_since, None if last is None else _cycle(last)


def _runs(journey: str, items: object) -> list[dict[str, Any]]:
    where = f"journey {journey!r}"
    return [  # run 1 is the first in the file, the oldest
        _fields(item, RUN_CHECKS, RUN_REQUIRED, f"{where}, run {number}")
        for number, item in enumerate(_list(items, f"{where}: runs"), start=1)
    ]


def _cycle(item: object) -> dict[str, Any]:
    fields = _fields(item, CYCLE_CHECKS, frozenset(CYCLE_CHECKS), "last_cycle")
    fields["collection_errors"] = tuple((path, message) for path, message in fields["collection_errors"])
    return fields


def _fields(item: object, checks: dict[str, Check], required: frozenset[str], where: str) -> dict[str, Any]:
    """The checked fields of one JSON object; those not ``required`` may be absent, unknown ones are dropped."""
    values = _object(item, where)
    fields: dict[str, Any] = {}
    for name, check in checks.items():
        if name in values:
            fields[name] = _checked(values[name], check, f"{where}: {name}")
        elif name in required:
            raise InvalidState(f"{where}: {name} is missing")
    return fields


def _checked(value: Any, check: Check, where: str) -> Any:
    expected = check(value)
    if expected is not None:
        raise InvalidState(f"{where} must be {expected}, got {_shown(value)}")
    return value


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidState(f"{where} must be a JSON object, got {_shown(value)}")
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidState(f"{where} must be a list, got {_shown(value)}")
    return value


def _section(document: dict[str, Any], key: str) -> dict[str, Any]:
    if key not in document:
        raise InvalidState(f"the file has no {key}")
    return _object(document[key], key)


def _shown(value: object) -> str:
    """The bad value as the file has it (a string quoted), cut short to keep the error on one short line."""
    text = repr(value) if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[: SHOWN_CHARS - 3]}..."
