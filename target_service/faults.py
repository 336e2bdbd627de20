"""Fault injection for the Reservations Service: latency and error answers, settable at run time.

Usage::

    injector = FaultInjector(SEED_FAULTS, seed=42)
    delay_seconds, status = injector.draw()  # status is None when the real answer should be given
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, replace
from typing import Any

ALLOWED_ERROR_CODES = frozenset(range(400, 600))
MAX_LATENCY_MS = 60_000


class FaultError(ValueError):
    """A fault setting is invalid; the message names the field and the bad value."""


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """What the service injects: a share of error answers and a latency range.

    The latency of one request is ``choice(latency_multipliers) * randint(*latency_ms)`` milliseconds.
    """

    error_rate: float = 0.0
    status_codes: tuple[int, ...] = (500,)
    latency_ms: tuple[int, int] = (0, 0)
    latency_multipliers: tuple[int, ...] = (1,)

    def as_json(self) -> dict[str, Any]:
        """Return the settings as the JSON object that ``GET /admin/faults`` serves."""
        return {
            "error_rate": self.error_rate,
            "status_codes": list(self.status_codes),
            "latency_ms": list(self.latency_ms),
            "latency_multipliers": list(self.latency_multipliers),
        }


NO_FAULTS = FaultSettings()
# The post's service: twelve 200s, one 400, one 401 and one 500, and a latency of
# choice([1]*8 + [2, 2, 3]) * randint(1, 100) milliseconds.
SEED_FAULTS = FaultSettings(
    error_rate=3 / 15,
    status_codes=(400, 401, 500),
    latency_ms=(1, 100),
    latency_multipliers=(1,) * 8 + (2, 2, 3),
)
PRESETS = {"seed": SEED_FAULTS, "none": NO_FAULTS}


def apply_update(current: FaultSettings, body: object) -> FaultSettings:
    """Return ``current`` with the fields of a ``PUT /admin/faults`` body replaced; raise FaultError."""
    if not isinstance(body, dict):
        raise FaultError('body must be a JSON object, e.g. {"error_rate": 0.5}')
    unknown = sorted(set(body) - set(current.as_json()))
    if unknown:
        raise FaultError(f"unknown field {unknown[0]!r}; known fields: {', '.join(current.as_json())}")
    changes: dict[str, Any] = {}
    if "error_rate" in body:
        changes["error_rate"] = _error_rate(body["error_rate"])
    if "status_codes" in body:
        changes["status_codes"] = _status_codes(body["status_codes"])
    if "latency_ms" in body:
        changes["latency_ms"] = _latency_range(body["latency_ms"])
    if "latency_multipliers" in body:
        changes["latency_multipliers"] = _multipliers(body["latency_multipliers"])
    return replace(current, **changes)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _error_rate(value: object) -> float:
    if not _is_number(value) or not 0.0 <= float(value) <= 1.0:  # type: ignore[arg-type]
        raise FaultError(f"error_rate must be a number from 0 to 1, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _status_codes(value: object) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(code, int) and code in ALLOWED_ERROR_CODES for code in value)
    ):
        raise FaultError(f"status_codes must be a non-empty list of codes from 400 to 599, got {value!r}")
    return tuple(value)


def _latency_range(value: object) -> tuple[int, int]:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(ms, int) and not isinstance(ms, bool) for ms in value)
        or not 0 <= value[0] <= value[1] <= MAX_LATENCY_MS
    ):
        raise FaultError(
            f"latency_ms must be [min, max] whole milliseconds with 0 <= min <= max <= {MAX_LATENCY_MS}, got {value!r}"
        )
    return (value[0], value[1])


def _multipliers(value: object) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 10 for m in value)
    ):
        raise FaultError(f"latency_multipliers must be a non-empty list of whole numbers 1-10, got {value!r}")
    return tuple(value)


class FaultInjector:
    """Holds the current fault settings and draws one request's latency and error, thread-safely."""

    def __init__(self, settings: FaultSettings, seed: int | None = None) -> None:
        self._settings = settings
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def settings(self) -> FaultSettings:
        """The settings in force."""
        with self._lock:
            return self._settings

    def update(self, body: object) -> FaultSettings:
        """Apply a ``PUT /admin/faults`` body atomically and return the new settings."""
        with self._lock:
            self._settings = apply_update(self._settings, body)
            return self._settings

    def draw(self) -> tuple[float, int | None]:
        """Return (delay in seconds, injected status code or None) for one request."""
        with self._lock:
            settings, rng = self._settings, self._random
            low, high = settings.latency_ms
            delay_ms = rng.choice(settings.latency_multipliers) * rng.randint(low, high) if high else 0
            status = None
            if settings.error_rate and rng.random() < settings.error_rate:
                status = rng.choice(settings.status_codes)
        return delay_ms / 1000.0, status
