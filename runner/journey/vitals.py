"""Core Web Vitals of a browser journey: what its pages' main documents measured, the worst of each vital.

``runner.journey.browser`` calls in here; nothing happens for a journey that uses no ``page`` or ``context``, and
no Playwright module is imported. As the ``context`` fixture is made, ``observe`` adds ``vitals.js`` (a
PerformanceObserver script, web.dev's way of measuring: LCP, FCP, CLS, TTFB and, once the journey interacts,
INP) and a binding through which every document reports each new value at once, so that the documents the
journey navigated away from keep theirs. At the end of the call ``collect`` asks every open page for its latest
values and adds them to the report as a section (shown by ``pytest -rA``). Iframes do not count; values that are
not finite and non-negative numbers are ignored; every attempt starts without values.

Usage::

    vitals(item)                                     # (("lcp", 0.61), ("fcp", 0.2), ("cls", 0.0), ("ttfb", 0.01))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import pytest

from runner.handoff.observations import VITALS, rating

BINDING = "__syntheticMonitorVital"  # as vitals.js calls it: (document id, vital, value)
FLUSH = "() => window.__syntheticMonitorVitalsFlush?.()"  # vitals.js's: the document's values, as the binding's
SECTION = "synthetic-monitor web vitals"
MAX_DOCUMENTS = 1000  # per attempt; a page that makes up document ids beyond that is not heard
MAX_DOCUMENT_ID_CHARS = 100


@dataclass(slots=True)
class Measured:
    """What the pages of a journey's current attempt reported, per document, and the contexts to ask at the end."""

    documents: dict[str, dict[str, float]] = field(default_factory=dict)
    contexts: list[Any] = field(default_factory=list)
    closed: bool = False  # the call has ended: what its report shows is what the journey exports

    def record(self, document: object, vital: object, value: object) -> None:
        """A document's latest value of ``vital``; whatever a hostile page could send instead is ignored."""
        number = _number(value)
        if self.closed:
            return
        if not (isinstance(document, str) and 0 < len(document) <= MAX_DOCUMENT_ID_CHARS and vital in VITALS):
            return
        if number is None or not 0 <= number < math.inf:  # NaN fails the comparison too
            return
        values = self.documents.get(document)
        if values is None:
            if len(self.documents) >= MAX_DOCUMENTS:
                return
            values = self.documents[document] = {}
        values[str(vital)] = number


def _number(value: object) -> float | None:
    """``value`` as a float, if it is a number (JavaScript's 0 arrives as an int, a BigInt as a huge one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if isinstance(value, float) or abs(value) < 2**53 else math.inf


VITALS_KEY = pytest.StashKey[Measured]()  # the current attempt's


def worst(documents: Iterable[Mapping[str, float]]) -> tuple[tuple[str, float], ...]:
    """Each vital's largest value over ``documents``, in the order of ``VITALS``, only those measured."""
    found: dict[str, float] = {}
    for values in documents:
        for vital, value in values.items():
            found[vital] = max(value, found.get(vital, value))
    return tuple((vital, found[vital]) for vital in VITALS if vital in found)


def vitals(item: pytest.Item) -> tuple[tuple[str, float], ...]:
    """The journey's current attempt's vitals, each the worst over its pages' documents: ``(vital, value)`` in
    seconds (CLS has no unit), in the order of ``VITALS``, only those measured."""
    measured = item.stash.get(VITALS_KEY, None)
    return worst(measured.documents.values()) if measured is not None else ()


def start(item: pytest.Item) -> None:
    """Every attempt (a retried journey's too) starts without values."""
    if VITALS_KEY in item.stash:
        del item.stash[VITALS_KEY]


def observe(context: Any, node: pytest.Item | Any) -> None:
    """Measure the vitals of the pages that Playwright's browser ``context`` opens, for the journey ``node``."""
    if not isinstance(node, pytest.Item):
        return  # a suite's context shared beyond one journey: whose vitals would they be?
    measured = node.stash.setdefault(VITALS_KEY, Measured())
    measured.contexts.append(context)
    context.expose_binding(BINDING, _binding(measured))
    context.add_init_script(script=script())


@cache
def script() -> str:
    """vitals.js, the script each document of an observed context runs first."""
    return resources.files(__package__).joinpath("vitals.js").read_text(encoding="utf-8")


def _binding(measured: Measured) -> Callable[..., None]:
    """What the pages call with each new value; only a page's main frame is heard."""

    def heard(source: Mapping[str, Any], *args: object) -> None:
        frame = source.get("frame")
        if frame is not None and frame.parent_frame is None and len(args) == 3:
            measured.record(*args)

    return heard


def collect(item: pytest.Item, report: pytest.TestReport) -> None:
    """At the end of the call: the open pages' latest values, and the report section that shows the vitals."""
    measured = item.stash.get(VITALS_KEY, None)
    if measured is None:
        return
    for context in measured.contexts:
        _flush(context, measured)
    measured.contexts.clear()
    measured.closed = True  # a value that arrives during teardown would be exported but not shown: none counts
    found = vitals(item)
    if found:
        report.sections.append((SECTION, section(found)))


def _flush(context: Any, measured: Measured) -> None:
    """The latest values of every open page of ``context``; waiting for them also lets in the binding's calls
    still on their way."""
    for page in list(context.pages):
        # A closed, crashed or navigating page fails this: what it sent is all there is.
        with suppress(Exception):
            answer = page.evaluate(FLUSH)
            for values in answer[: len(VITALS)] if isinstance(answer, list) else ():
                if isinstance(values, list) and len(values) == 3:
                    measured.record(*values)


def section(found: Iterable[tuple[str, float]]) -> str:
    """One line per vital, with its unit and web.dev's rating: ``lcp      0.612 s  good``."""
    return "\n".join(
        f"{vital:<4} {value:9.3f}{'' if vital == 'cls' else ' s':<2}  {rating(vital, value)}" for vital, value in found
    )
