"""The classic text exposition of a registry: byte for byte what prometheus_client's ``generate_latest`` writes,
with the collectors that can write their own text (``exposition_text``) writing it straight from their numbers.

``generate_latest`` makes a ``Sample`` of every series and formats its labels at every render: with 12,000
journeys of about 45 series each that is half a million samples, seconds of CPU per render (bench section 12).
The journey series (``runner.record.journey_text``) keep each journey's text until its numbers change instead.
Every other collector goes through ``generate_latest`` itself.

Usage::

    render(registry) == generate_latest(registry)
    render(registry, (("location", "eu-west"),))     # and each ``synthetic_*`` series with that label
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import escape_label_name

PREFIX = "synthetic_"  # the series that extra labels (a runner's location) go on
# Label pairs added to every synthetic series, in the order given: ``(("location", "eu-west"),)``.
ExtraLabels = tuple[tuple[str, str], ...]
EOF = b"# EOF\n"
Encoder = Callable[[Any], bytes]  # prometheus_client's OpenMetrics generate_latest, its escaping and version set


def render(registry: CollectorRegistry, extra: ExtraLabels = (), openmetrics: Encoder | None = None) -> bytes:
    """The registry's classic text exposition, ``extra`` labels on each ``synthetic_*`` series; or its OpenMetrics
    exposition, when given prometheus_client's OpenMetrics ``generate_latest`` (as ``choose_encoder`` gives it)."""
    return render_parts(registry, extra, openmetrics) + (EOF if openmetrics is not None else b"")


def render_parts(registry: CollectorRegistry, extra: ExtraLabels, openmetrics: Encoder | None) -> bytes:
    """``render`` without OpenMetrics' closing ``# EOF``: what a collector of collectors writes."""
    with registry._lock:  # as registry.collect() takes them: in the order they were registered
        collectors = list(registry._collector_to_names)
        target_info = registry._target_info
    if target_info:  # the runner sets none; a registry that has one is written by prometheus_client alone
        collectors = [registry]
    parts = []
    for collector in collectors:
        own = getattr(collector, "exposition_text", None)
        if own is not None:
            parts.append(own(extra, openmetrics))
            continue
        source = Labelled(collector, extra) if extra else collector
        if openmetrics is None:
            parts.append(generate_latest(source))
        else:
            parts.append(openmetrics(source).removesuffix(EOF))
    return b"".join(parts)


class Labelled:
    """``source``'s families, each ``synthetic_*`` one's samples with the ``extra`` labels (replacing their own)."""

    def __init__(self, source: Any, extra: ExtraLabels) -> None:
        self._source = source
        self._extra = dict(extra)

    def collect(self) -> Iterator[Metric]:
        for family in self._source.collect():
            if family.name.startswith(PREFIX):
                family.samples = [sample._replace(labels={**sample.labels, **self._extra}) for sample in family.samples]
            yield family


def header(name: str, kind: str, documentation: str) -> str:
    """A family's ``# HELP`` and ``# TYPE`` lines; ``name`` as samples carry it (a counter's with ``_total``)."""
    text = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {text}\n# TYPE {name} {kind}\n"


def openmetrics_header(name: str, kind: str, documentation: str) -> str:
    """A family's ``# HELP`` and ``# TYPE`` lines in OpenMetrics: ``name`` the family's (a counter's without
    ``_total``), the help with double quotes escaped too."""
    return f"# HELP {name} {escape_value(documentation)}\n# TYPE {name} {kind}\n"


def label_text(labels: Mapping[str, str]) -> str:
    """What goes between a sample's braces: the labels sorted by name, names and values escaped."""
    return ",".join(f'{label_name(key)}="{escape_value(value)}"' for key, value in sorted(labels.items()))


@functools.lru_cache(maxsize=256)
def label_name(name: str) -> str:
    """A label's name as the text format writes it (a name Prometheus does not allow, with underscores)."""
    return escape_label_name(name)


def escape_value(value: str) -> str:
    """A label value as the text format escapes it: backslash, newline and double quote."""
    if "\\" not in value and "\n" not in value and '"' not in value:
        return value  # nearly every value: nothing to escape
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def sample_prefix(name: str, labels: Mapping[str, str]) -> str:
    """A sample's line up to its value: ``name{labels} ``."""
    inside = label_text(labels)
    return f"{name}{{{inside}}} " if inside else f"{name} "


def bucket_prefixes(name: str, labels: Mapping[str, str], bounds: Iterable[str]) -> list[str]:
    """A histogram's lines up to their values: each bucket's (``le`` in its sorted place), then _count's, _sum's.
    ``bounds``: the buckets' ``le`` as the text format writes them (``floatToGoString``: nothing to escape)."""
    others = {key: value for key, value in labels.items() if key != "le"}
    before = label_text({key: value for key, value in others.items() if key < "le"})
    after = label_text({key: value for key, value in others.items() if key > "le"})
    opening, closing = f"{name}_bucket{{{before}{',' if before else ''}le=", f"{',' if after else ''}{after}}} "
    lines = [f'{opening}"{bound}"{closing}' for bound in bounds]
    return [*lines, sample_prefix(f"{name}_count", labels), sample_prefix(f"{name}_sum", labels)]
