"""The service's logs through structlog: JSON lines when the stream is not a terminal, readable lines when it is.

Its own events and those of libraries (waitress, Flask's tracebacks) go through one ``logging`` handler, so
each record is one whole line. ``main()`` calls ``configure()``; ``create_app()`` configures nothing.

Usage::

    configure(sys.stdout)
    get_logger(ACCESS_LOGGER).info("request", method="GET", path="/healthz", status=200, trace_id=None)
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from runner import logs as shared

ACCESS_LOGGER = "target_service.access"  # one line per request
# The propagator warns, with the header's text, about each malformed tracestate a caller sends; the request's
# line already says whether its trace context was understood (trace_id null or not).
PROPAGATOR_LEVEL = logging.ERROR


def configure(stream: TextIO = sys.stdout) -> None:
    """The runner's set-up (``runner.logs``: one handler, JSON lines), with the propagator's warnings quieted."""
    shared.configure(stream, quiet={"opentelemetry": PROPAGATOR_LEVEL})


def get_logger(name: str) -> Any:
    """A structlog logger for the ``logging`` logger ``name``; it reads the configuration when it first logs."""
    return structlog.get_logger(name)
