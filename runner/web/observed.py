"""The status page's view of what the journeys saw: the slowest request's phases, Web Vitals, certificates.

Every string that comes from a journey or a server goes through ``html.escape``, as on the rest of the page.
"""

from __future__ import annotations

import datetime
from html import escape

from runner.handoff.observations import PHASES, VITALS
from runner.record.document import CertificateEntry, Document, JourneyEntry

VITAL_NAMES = {"lcp": "LCP", "fcp": "FCP", "cls": "CLS", "ttfb": "TTFB", "inp": "INP"}
# The alert's thresholds (prometheus/rules.yml, SyntheticTLSCertificateExpiresSoon): warning, critical.
CERTIFICATE_WARNING_DAYS, CERTIFICATE_CRITICAL_DAYS = 14, 3
BAR_WIDTH, BAR_HEIGHT = 160, 8
PHASE_COLOURS = {
    "resolve": "#8250df",
    "connect": "#0969da",
    "tls": "#1a7f37",
    "processing": "#bc4c00",
    "transfer": "#6e7781",
}


def slowest_request(journey: JourneyEntry) -> str:
    """The last run's slowest request through ``http``, with its phases as numbers and as a bar."""
    request = journey.get("slowest_request")
    if not request:
        return ""
    phases = request["phases"]
    status = str(request["status"]) if request["status"] else "no answer"
    parts = " · ".join(f"{phase} {_ms(phases.get(phase, 0.0))}" for phase in PHASES)
    total = journey.get("requests_total", 0)
    of = f" (of {total} requests)" if total > 1 else ""
    return (
        f'<div class="request" title="{escape(parts)}">slowest request{of}: {escape(request["method"])} '
        f"{escape(request['url'])} → {escape(status)} in {_ms(request['seconds'])} "
        f'{_bar(phases, request["seconds"])}<br><span class="phases">{escape(parts)}</span></div>'
    )


def _bar(phases: dict[str, float], seconds: float) -> str:
    """The phases side by side, each as wide as its share of the request."""
    if seconds <= 0:
        return ""
    x, rects = 0.0, []
    for phase in PHASES:
        width = BAR_WIDTH * max(0.0, phases.get(phase, 0.0)) / seconds
        if width >= 0.5:
            rects.append(
                f'<rect x="{x:.1f}" width="{width:.1f}" height="{BAR_HEIGHT}" fill="{PHASE_COLOURS[phase]}">'
                f"<title>{phase} {_ms(phases[phase])}</title></rect>"
            )
        x += width
    return (
        f'<svg class="phasebar" width="{BAR_WIDTH}" height="{BAR_HEIGHT}" role="img" '
        f'aria-label="the request by phase">{"".join(rects)}</svg>'
    )


def web_vitals(journey: JourneyEntry) -> str:
    """The last run's Core Web Vitals, each rated good, needs improvement or poor."""
    found = journey.get("web_vitals") or {}
    if not found:
        return ""
    items = " ".join(
        f'<span class="vital {found[vital]["rating"].replace(" ", "-")}" title="{escape(found[vital]["rating"])}">'
        f"{VITAL_NAMES[vital]} {_vital_value(vital, found[vital]['value'])}</span>"
        for vital in VITALS
        if vital in found
    )
    return f'<div class="vitals">{items}</div>'


def _vital_value(vital: str, value: float) -> str:
    return f"{value:.3f}" if vital == "cls" else _ms(value)


def certificates(results: Document) -> str:
    """The certificates of the HTTPS hosts the journeys reach, soonest expiry first, with the days left."""
    found = results.get("certificates") or []
    if not found:
        return ""
    rows = "".join(_certificate_row(certificate) for certificate in found)
    return (
        '<div class="certificates" id="certificates"><strong>TLS certificates</strong>'
        '<table><thead><tr><th>Host</th><th class="num">Days left</th><th>Expires</th><th>Issuer</th>'
        f"<th>TLS</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _certificate_row(certificate: CertificateEntry) -> str:
    days = certificate["days_left"]
    urgency = (
        "expired"
        if days < 0
        else "critical"
        if days < CERTIFICATE_CRITICAL_DAYS
        else "warning"
        if days < CERTIFICATE_WARNING_DAYS
        else "ok"
    )
    expires = datetime.datetime.fromtimestamp(certificate["not_after"], datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f'<tr class="cert-{urgency}"><td class="journey">{escape(certificate["host"])}</td>'
        f'<td class="num">{"expired" if days < 0 else f"{days:.1f}"}</td><td class="when">{expires}</td>'
        f"<td>{escape(certificate['issuer'])}</td><td>{escape(certificate['version'])}</td></tr>"
    )


def _ms(seconds: float) -> str:
    """0.4 ms, 212 ms, 12.3 s."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"
