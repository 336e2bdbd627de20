"""A journey's labels from ``@pytest.mark.labels(...)``, merged as pytest merges markers, and checked.

Usage::

    journey_labels(item)      # -> {"team": "payments", "severity": "warning"}; {} when one is invalid
    labels_problem(item)      # -> "" or why a label cannot be a Prometheus label of the journey
"""

from __future__ import annotations

import re

import pytest

from runner.handoff.results import safe_text
from runner.settings.labels import MAX_LABEL_VALUE_CHARS

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
RESERVED_LABELS = frozenset(
    {"journey", "result", "step", "reason", "fixture", "le", "quantile", "job", "instance", "location"}
)


def journey_labels(item: pytest.Item) -> dict[str, str]:
    """The journey's labels, merged as pytest merges markers (the closest wins); {} when one is invalid."""
    merged = _merged_labels(item)
    if any(label_problem(name, value) for name, value in merged.items()):
        return {}
    return {name: safe_text(str(value)) for name, value in merged.items()}


def labels_problem(item: pytest.Item) -> str:
    """What is wrong with the journey's labels, or ''."""
    for name, value in _merged_labels(item).items():
        problem = label_problem(name, value)
        if problem:
            return problem
    return ""


def _merged_labels(item: pytest.Item) -> dict[str, object]:
    merged: dict[str, object] = {}
    for marker in item.iter_markers("labels"):  # closest first
        for name, value in marker.kwargs.items():
            merged.setdefault(name, value)
    return merged


def label_problem(name: str, value: object) -> str:
    """Why a label cannot be a Prometheus label of the journey, or '' if it can."""
    if not LABEL_NAME.match(name):
        return f"label name {name!r} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"
    if name in RESERVED_LABELS or name.startswith("__"):
        return f"label name {name!r} is reserved by synthetic-monitor or Prometheus; choose another name"
    if not isinstance(value, str):
        return f"label {name!r} must be a string, got {type(value).__name__}"
    if len(value) > MAX_LABEL_VALUE_CHARS:
        return f"label {name!r} is {len(value)} characters long; at most {MAX_LABEL_VALUE_CHARS} are allowed"
    return ""
