"""Keep secrets out of everything the runner shows: failure messages, logs, the page and the API.

Usage::

    redactor = Redactor.from_env(os.environ, extra_names=("DB_URL",))
    redactor.redact("login failed for token abc123")   # -> "login failed for token ***"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, replace
from typing import Any

from runner.handoff.observations import Observations
from runner.handoff.results import CollectionError, CycleReport

SECRET_SUFFIXES = ("_TOKEN", "_PASSWORD", "_SECRET", "_KEY")
MASK = "***"
# Shorter values would mask ordinary text ("1", "on"); such a value is no secret worth the name anyway.
MIN_SECRET_LENGTH = 4


@dataclass(frozen=True, slots=True)
class Redactor:
    """Replaces every occurrence of the secret values with ``***``."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str], extra_names: Iterable[str] = ()) -> Redactor:
        """Secrets are the values of variables named ``*_TOKEN``, ``*_PASSWORD``, ``*_SECRET``, ``*_KEY`` or named."""
        names = set(extra_names)
        values = {
            value
            for name, value in env.items()
            if (name.upper().endswith(SECRET_SUFFIXES) or name in names) and len(value) >= MIN_SECRET_LENGTH
        }
        # Longest first, so a secret that contains another is masked whole.
        return cls(tuple(sorted(values, key=len, reverse=True)))

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def redact_cycle(self, cycle: CycleReport) -> CycleReport:
        """The cycle with its failure messages, journey ids and collection errors redacted."""
        if not self.secrets:
            return cycle
        return replace(
            cycle,
            collected=tuple(self.redact(journey) for journey in cycle.collected),
            results=tuple(
                replace(
                    result,
                    journey=self.redact(result.journey),
                    message=self.redact(result.message),
                    first_failure=self.redact(result.first_failure),
                    steps=tuple(replace(step, name=self.redact(step.name)) for step in result.steps),
                    # A page URL can hold a token; a screenshot's path is the runner's own.
                    artifacts=tuple(
                        (kind, self.redact(value) if kind == "page" else value) for kind, value in result.artifacts
                    ),
                    observed=self._redact_requests(result.observed),
                )
                for result in cycle.results
            ),
            collection_errors=tuple(
                CollectionError(self.redact(error.path), self.redact(error.message))
                for error in cycle.collection_errors
            ),
            notes=tuple(self.redact(note) for note in cycle.notes),
            labels=tuple(
                (self.redact(journey), tuple((name, self.redact(value)) for name, value in pairs))
                for journey, pairs in cycle.labels
            ),
        )

    def _redact_requests(self, observed: Observations) -> Observations:
        """A request's path can hold a token too (the query string never leaves the journey)."""
        if not observed.request_count:
            return observed
        slowest = observed.slowest
        return replace(
            observed,
            requests=tuple(replace(timing, url=self.redact(timing.url)) for timing in observed.requests),
            slowest=replace(slowest, url=self.redact(slowest.url)) if slowest else None,
        )

    def log_processor(self, logger: object, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """A structlog processor masking secrets in every string value of a log event."""
        if self.secrets:
            for key, value in event.items():
                if isinstance(value, str):
                    event[key] = self.redact(value)
        return event
