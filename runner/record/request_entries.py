"""What the journeys saw of the wire and of the page, as /api/results and the page show it.

Usage::

    entry = {**journey_entry, **observed_json(result.observed)}
    entry["slowest_request"]["phases"]["processing"]      # seconds
"""

from __future__ import annotations

from runner.handoff.observations import PHASES, Certificate, Observations, RequestTiming, rating
from runner.record.document import CertificateEntry, ObservedPart, RequestEntry

DAY_SECONDS = 86400.0


def request_entry(timing: RequestTiming) -> RequestEntry:
    """One request, its phases by name."""
    return {
        "method": timing.method,
        "url": timing.url,
        "status": timing.status,
        "seconds": timing.seconds,
        "phases": dict(zip(PHASES, timing.phases, strict=True)),
    }


def observed_json(observed: Observations) -> ObservedPart:
    """The run's requests (the first few, their number and the slowest) and its Web Vitals, rated."""
    return {
        "requests": [request_entry(timing) for timing in observed.requests],
        "requests_total": observed.request_count,
        "slowest_request": request_entry(observed.slowest) if observed.slowest else None,
        "web_vitals": {vital: {"value": value, "rating": rating(vital, value)} for vital, value in observed.vitals},
    }


def certificate_entry(certificate: Certificate, now: float) -> CertificateEntry:
    """A host's certificate as last seen, with the days it has left at ``now`` (below 0 once expired)."""
    return {
        "host": certificate.host,
        "not_after": certificate.not_after,
        "days_left": round((certificate.not_after - now) / DAY_SECONDS, 2),
        "version": certificate.version,
        "issuer": certificate.issuer,
    }
