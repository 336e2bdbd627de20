"""Secrets from the environment never leave the runner."""

from __future__ import annotations

from runner.handoff.observations import Observations, RequestTiming
from runner.handoff.results import CollectionError, CycleReport, JourneyResult
from runner.record.redact import MASK, Redactor

ENV = {
    "TARGET_API_TOKEN": "tok-123456",
    "DB_PASSWORD": "hunter22",
    "SIGNING_SECRET": "s3cr3t!!",
    "AWS_SECRET_ACCESS_KEY": "AKIAxyz987",
    "DATABASE_URL": "postgres://u:pw@db/x",
    "SHORT_TOKEN": "abc",
    "HOME": "/root",
}


def test_values_of_secret_named_variables_are_masked() -> None:
    redactor = Redactor.from_env(ENV)
    text = "tok-123456 hunter22 s3cr3t!! AKIAxyz987 /root"
    assert redactor.redact(text) == f"{MASK} {MASK} {MASK} {MASK} /root"


def test_named_variables_are_masked_too() -> None:
    redactor = Redactor.from_env(ENV, extra_names=["DATABASE_URL"])
    assert redactor.redact("cannot reach postgres://u:pw@db/x") == f"cannot reach {MASK}"


def test_very_short_values_are_not_treated_as_secrets() -> None:
    assert Redactor.from_env(ENV).redact("abc") == "abc"


def test_a_secret_containing_another_is_masked_whole() -> None:
    redactor = Redactor.from_env({"A_TOKEN": "abcd", "B_TOKEN": "abcdefgh"})
    assert redactor.redact("x abcdefgh y") == f"x {MASK} y"


def test_redact_cycle_masks_messages_ids_and_collection_errors() -> None:
    redactor = Redactor.from_env(ENV)
    cycle = CycleReport(
        collected=("a.py::test_login[tok-123456]",),
        results=(JourneyResult("a.py::test_login[tok-123456]", False, 0.1, "assertion", "401 for tok-123456"),),
        collection_errors=(CollectionError("b.py", "KeyError: hunter22"),),
    )
    redacted = redactor.redact_cycle(cycle)
    assert "tok-123456" not in repr(redacted) and "hunter22" not in repr(redacted)
    assert redacted.results[0].message == f"401 for {MASK}"


def test_log_processor_masks_every_string_value() -> None:
    redactor = Redactor.from_env(ENV)
    event = {"event": "journey failed", "message": "token tok-123456", "count": 3}
    assert redactor.log_processor(None, "warning", event) == {
        "event": "journey failed",
        "message": f"token {MASK}",
        "count": 3,
    }


def test_a_flaky_runs_first_failure_is_masked_too() -> None:
    result = JourneyResult("j.py::t", True, 0.1, attempts=2, first_failure="401 for token tok-123456")
    cycle = CycleReport(collected=("j.py::t",), results=(result,), collection_errors=())
    (masked,) = Redactor.from_env(ENV).redact_cycle(cycle).results
    assert masked.first_failure == f"401 for token {MASK}"


def test_a_secret_in_a_requests_path_is_masked_in_the_listed_and_the_slowest_request() -> None:
    timing = RequestTiming("GET", "https://api.example/keys/tok-123456", 200)
    observed = Observations(1, requests=(timing,), slowest=timing)
    cycle = CycleReport(("a.py::test_a",), (JourneyResult("a.py::test_a", True, 0.1, observed=observed),), ())
    (result,) = Redactor.from_env(ENV).redact_cycle(cycle).results
    assert result.observed.requests[0].url == result.observed.slowest.url == f"https://api.example/keys/{MASK}"  # type: ignore[union-attr]
