"""One journey's numbers (``JourneyNumbers``, kept by ``runner.record.journey_series``) and its series as
exposition text, written straight from them.

Byte for byte what ``generate_latest`` writes for the samples ``JourneySeries.collect`` makes of the journey,
family by family. The text of each label set (``name{journey="...",le="0.5",result="success"} ``) is made once
per journey and kept; the journey's whole text is kept until its numbers change.

Usage::

    blocks = journey_text(journey, state, bounds, interval_seconds, extra)    # one string per family
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from runner.record.text_exposition import bucket_prefixes, escape_value, sample_prefix

RESULTS = ("success", "failure")
DURATION, STEP = "synthetic_request_duration", "synthetic_step_duration"


COUNTS = [floatToGoString(float(count)) for count in range(4096)]  # type: ignore[no-untyped-call]
COUNT_LINES = [f"{count}\n" for count in COUNTS]
NO_EXEMPLARS: tuple[dict[int, Exemplar], ...] = tuple({} for _ in RESULTS)


class JourneyNumbers:
    """One journey's numbers: a histogram per result, failures per reason, the last run's success."""

    __slots__ = (
        "blocked_by",
        "buckets",
        "degraded",
        "exemplars",
        "failures",
        "flaky",
        "interval",
        "labels",
        "maintenance",
        "muted",
        "om_text",
        "prefixes",
        "slo",
        "slo_runs",
        "step_exemplars",
        "steps",
        "success",
        "sums",
        "text",
    )

    def __init__(self, bucket_count: int) -> None:
        self.buckets = [[0] * bucket_count for _ in RESULTS]  # per bucket, not cumulative
        self.sums = [0.0 for _ in RESULTS]
        self.failures: dict[str, int] = {}  # a reason's count from its first failure on: series stay few
        self.degraded = 0
        self.blocked_by = ""  # the fixture that blocked the last run, if it was blocked
        self.interval: float | None = None  # its own interval; None: the runner's
        self.maintenance = 0.0  # 1.0 while in a maintenance window
        self.muted: list[int] | None = None  # runs in a mute window, per result; None until the first
        self.slo: tuple[float, int] | None = None  # (objective, window seconds) of its @pytest.mark.slo
        self.slo_runs = [0 for _ in RESULTS]
        self.success: float | None = None
        self.steps: dict[str, tuple[list[list[int]], list[float]]] = {}  # step -> (buckets, sums) per result
        self.labels: dict[str, str] = {}
        self.flaky = 0
        # Per result, the latest run that fell in each bucket, by its trace id; the same per step.
        self.exemplars: list[dict[int, Exemplar]] = [{} for _ in RESULTS]
        self.step_exemplars: dict[str, list[dict[int, Exemplar]]] = {}
        # Its exposition text (runner.record.journey_text): per family, until a number changes (None: to write).
        self.text: list[str] | None = None
        self.om_text: list[str] | None = None  # the same in OpenMetrics, with exemplars
        self.prefixes: dict[tuple[Any, ...], Any] = {}  # each label set's text, kept for the journey's life

    def changed(self) -> None:
        """A number changed: its text is written again at the next render."""
        self.text = self.om_text = None


def number(value: float) -> str:
    """A sample's value as the text format writes it (Go's float formatting)."""
    return floatToGoString(value)  # type: ignore[no-untyped-call,no-any-return]


def count_text(count: int) -> str:
    """A count as ``number`` writes it: the first few thousand kept written."""
    return COUNTS[count] if 0 <= count < len(COUNTS) else number(float(count))


def journey_text(
    journey: str,
    state: JourneyNumbers,
    bounds: list[str],
    interval_seconds: float,
    extra: Mapping[str, str],
    *,
    openmetrics: bool = False,
) -> list[str]:
    """The journey's text in each of the families ``JourneySeries.describe`` names, in that order; in OpenMetrics,
    each bucket's exemplar (the latest run in it, by trace id) after its value."""
    kept = state.om_text if openmetrics else state.text
    if kept is not None:
        return kept
    prefixes = state.prefixes

    def line(key: tuple[Any, ...], name: str, value: float, *pairs: tuple[str, str]) -> str:
        """A sample of the journey's, with the labels ``pairs`` beside ``journey``."""
        prefix = prefixes.get(key)
        if prefix is None:
            prefix = prefixes[key] = sample_prefix(name, {**dict(pairs), "journey": journey, **extra})
        return f"{prefix}{number(value)}\n"

    def histogram(
        key: tuple[Any, ...],
        name: str,
        counts: list[int],
        total: float,
        exemplars: dict[int, Exemplar],
        *pairs: tuple[str, str],
    ) -> str:
        lines = prefixes.get(key)
        if lines is None:
            lines = prefixes[key] = bucket_prefixes(name, {"journey": journey, **dict(pairs), **extra}, bounds)
        cumulative = list(itertools.accumulate(counts))
        if cumulative[-1] < len(COUNT_LINES):  # nearly always: each line's value from the table
            values = [COUNT_LINES[count] for count in cumulative]
        else:
            values = [f"{count_text(count)}\n" for count in cumulative]
        if openmetrics:
            for bucket, exemplar in exemplars.items():
                values[bucket] = f"{values[bucket][:-1]}{exemplar_text(exemplar)}\n"
        values += (f"{count_text(cumulative[-1])}\n", f"{number(total)}\n")  # _count, _sum
        return "".join(map(operator.add, lines, values))

    duration = "".join(
        histogram(("duration", result), DURATION, counts, total, exemplars, ("result", result))
        for result, counts, total, exemplars in zip(RESULTS, state.buckets, state.sums, state.exemplars, strict=True)
    )
    steps = "".join(
        histogram(("step", step, result), STEP, counts, total, exemplars, ("step", step), ("result", result))
        for step, (step_buckets, sums) in state.steps.items()
        for result, counts, total, exemplars in zip(
            RESULTS, step_buckets, sums, state.step_exemplars.get(step, NO_EXEMPLARS), strict=True
        )
    )
    success = state.success
    blocked_by = state.blocked_by
    texts = [
        duration,
        "" if success is None else line(("success",), "synthetic_journey_success", success),
        "".join(
            line(("failures", reason), "synthetic_journey_failures_total", count, ("reason", reason))
            for reason, count in state.failures.items()
        ),
        steps,
        # Its own labels first: a label named "journey" gives way to the journey's id, as in collect().
        line(("info", *sorted(state.labels.items())), "synthetic_journey_info", 1.0, *state.labels.items()),
        line(("flaky",), "synthetic_journey_flaky_total", state.flaky),
        line(("degraded",), "synthetic_journey_degraded_total", state.degraded),
        ""
        if not blocked_by
        else line(("blocked", blocked_by), "synthetic_journey_blocked", 1.0, ("fixture", blocked_by)),
        line(("interval",), "synthetic_journey_interval_seconds", state.interval or interval_seconds),
        line(("maintenance",), "synthetic_journey_maintenance", state.maintenance),
        "".join(
            line(("muted", result), "synthetic_journey_muted_runs_total", count, ("result", result))
            for result, count in zip(RESULTS, state.muted or (), strict=False)
        ),
        *_slo_texts(state, line),
    ]
    if openmetrics:
        state.om_text = texts
    else:
        state.text = texts
    return texts


def exemplar_text(exemplar: Exemplar) -> str:
    """`` # {trace_id="..."} value timestamp`` as OpenMetrics writes an exemplar after its bucket's value."""
    labels = ",".join(f'{key}="{escape_value(value)}"' for key, value in sorted(exemplar.labels.items()))
    if exemplar.timestamp is None:
        return f" # {{{labels}}} {number(exemplar.value)}"
    return f" # {{{labels}}} {number(exemplar.value)} {exemplar.timestamp}"


def _slo_texts(state: JourneyNumbers, line: Callable[..., str]) -> list[str]:
    if state.slo is None:
        return ["", "", ""]
    objective, window = state.slo
    runs = "".join(
        line(("slo_runs", result), "synthetic_journey_slo_runs_total", count, ("result", result))
        for result, count in zip(RESULTS, state.slo_runs, strict=True)
    )
    return [
        line(("slo_objective",), "synthetic_journey_slo_objective", objective),
        line(("slo_window",), "synthetic_journey_slo_window_seconds", window),
        runs,
    ]
