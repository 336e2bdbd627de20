"""Structured logs through structlog: JSON lines when the stream is not a terminal, readable lines when it is.

One set-up for the runner and for the Reservations Service (``target_service.logs``): everything goes through
one ``logging`` handler, the program's own events and those of libraries (cheroot warns through ``logging``
under load, Flask logs tracebacks), so two records never share a line, and library records get the same JSON,
timestamp, logger name, traceback as one string and, when given, secret masking.

Usage::

    configure(sys.stdout, mask=redactor.log_processor, quiet={"cheroot": logging.WARNING})
    get_logger("runner").info("cycle completed", passed=3)
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

import structlog

Processor = Callable[[Any, str, Any], Any]


def configure(
    stream: TextIO = sys.stdout, *, mask: Processor | None = None, quiet: Mapping[str, int] | None = None
) -> None:
    """Route structlog and the standard logging of libraries into one handler on ``stream``; ``mask`` rewrites
    every record (secrets); each logger in ``quiet`` logs from its level up only."""
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
    last = [mask, renderer] if mask is not None else [renderer]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.add_logger_name, stamp],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,  # a library's traceback as one JSON string
                *last,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    for name, level in (quiet or {}).items():
        logging.getLogger(name).setLevel(level)


def get_logger(name: str) -> Any:
    """A structlog logger for the ``logging`` logger ``name`` (its records carry ``"logger": name``)."""
    return structlog.get_logger(name)
