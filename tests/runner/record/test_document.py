"""What a real runner serves on /api/results is exactly the document runner/record/document.py defines."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, NotRequired, get_args, get_origin, get_type_hints

import requests

from runner.handoff.observations import Certificate, Observations, RequestTiming
from runner.record.document import CertificateEntry, Document, ObservedPart
from runner.record.request_entries import certificate_entry, observed_json
from tests.processes import journeys, start_runner, wait_for

JOURNEYS = {
    "test_shop.py": """
        def test_passes(step):
            with step("look"):
                pass

        def test_fails(http):
            http.get("http://127.0.0.1:9/")  # nothing listens: a request without an answer, then the failure
    """
}


def conforms(value: Any, kind: Any, where: str) -> list[str]:
    """Where ``value`` does not match the type ``kind`` (a TypedDict, list, union or plain type)."""
    if get_origin(kind) is NotRequired:
        kind = get_args(kind)[0]
    if typing.is_typeddict(kind):
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        hints = get_type_hints(kind)
        problems = [f"{where}.{key}: missing" for key in kind.__required_keys__ - value.keys()]
        problems += [f"{where}.{key}: not in the schema" for key in value.keys() - hints.keys()]
        for key in value.keys() & hints.keys():
            problems += conforms(value[key], hints[key], f"{where}.{key}")
        return problems
    if get_origin(kind) in (types.UnionType, typing.Union):
        options = [conforms(value, option, where) for option in get_args(kind)]
        return [] if any(not found for found in options) else options[0]
    if get_origin(kind) is dict:
        if not isinstance(value, dict):
            return [f"{where}: not an object"]
        return [p for key, item in value.items() for p in conforms(item, get_args(kind)[1], f"{where}.{key}")]
    if get_origin(kind) is list:
        return [p for i, item in enumerate(value) for p in conforms(item, get_args(kind)[0], f"{where}[{i}]")]
    if kind is type(None):
        return [] if value is None else [f"{where}: not null"]
    if kind is float:
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else [f"{where}: not a number"]
    return [] if isinstance(value, kind) else [f"{where}: not {kind.__name__}"]


def test_the_served_document_is_the_defined_one_key_for_key(tmp_path: Path) -> None:
    folder = journeys(tmp_path, JOURNEYS)
    runner, url = start_runner(
        tmp_path, "--journeys", str(folder), "--interval", "1", "--trace-url", "http://t/{trace_id}"
    )
    try:

        def ran() -> dict[str, Any] | None:
            document: dict[str, Any] = requests.get(f"{url}/api/results", timeout=5).json()
            return document if document["last_cycle"] and all(j["history"] for j in document["journeys"]) else None

        document = wait_for(ran, 60, "a cycle in /api/results")
    finally:
        runner.stop()
    assert conforms(document, Document, "document") == []
    assert {j["state"] for j in document["journeys"]} == {"passing", "failing"}
    assert any(j["steps"] for j in document["journeys"])  # the nested shapes were really checked
    assert any(j["requests"] and j["slowest_request"] for j in document["journeys"])


def test_the_check_itself_finds_a_missing_an_unknown_and_a_mistyped_key() -> None:
    document = {"generated_at": "now", "interval_seconds": 1, "location": None, "shard": "1/1", "extra": 1}
    problems = conforms(document, Document, "d")
    assert "d.generated_at: not a number" in problems and "d.extra: not in the schema" in problems
    assert "d.journeys: missing" in problems


def test_what_a_run_saw_and_a_certificate_are_the_defined_shapes() -> None:
    timing = RequestTiming("GET", "https://shop.example/", 200, (0.001, 0.002, 0.01, 0.2, 0.003))
    observed = Observations(1, timing.phases, (timing,), timing, (), (("lcp", 1.2), ("cls", 0.3), ("inp", 0.6)))
    entry = observed_json(observed)
    assert conforms(entry, ObservedPart, "observed") == []
    assert entry["web_vitals"]["inp"] == {"value": 0.6, "rating": "poor"}
    certificate = certificate_entry(Certificate("shop.example:443", 1_800_086_400.0, "TLSv1.3", "R11"), 1.8e9)
    assert conforms(certificate, CertificateEntry, "certificate") == []
    assert certificate["days_left"] == 1.0
