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

ACCESS_LOGGER = "target_service.access"  # one line per request
# The propagator warns, with the header's text, about each malformed tracestate a caller sends; the request's
# line already says whether its trace context was understood (trace_id null or not).
PROPAGATOR_LEVEL = logging.ERROR


def configure(stream: TextIO = sys.stdout) -> None:
    """Route structlog and the standard logging of libraries into one handler on ``stream``."""
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False) if stream.isatty() else structlog.processors.JSONRenderer()
    )
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            stamp,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name, stamp],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,  # a library's traceback as one JSON string
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("opentelemetry").setLevel(PROPAGATOR_LEVEL)


def get_logger(name: str) -> Any:
    """A structlog logger for the ``logging`` logger ``name``; it reads the configuration when it first logs."""
    return structlog.get_logger(name)
