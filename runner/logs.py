"""Structured logs through structlog: JSON lines when stdout is not a terminal, readable lines when it is.

Everything goes through one ``logging`` handler, the runner's own events and those of libraries (cheroot
warns through ``logging`` under load): one lock and one write per record, so two records never share a
line, and library records get the same JSON, timestamp and secret masking.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from runner.record.redact import Redactor

LIBRARY_LEVEL = logging.WARNING  # the HTTP server's INFO lines repeat what the runner says


def configure(stream: TextIO = sys.stdout, redactor: Redactor | None = None) -> None:
    """Route structlog and the standard logging of libraries into one handler on ``stream``; mask secrets."""
    mask = (redactor or Redactor()).log_processor
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False) if stream.isatty() else structlog.processors.JSONRenderer()
    )
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    structlog.configure(
        processors=[
            structlog.stdlib.add_log_level,
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
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, mask, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("cheroot").setLevel(LIBRARY_LEVEL)


def get_logger(name: str) -> Any:
    """A bound structlog logger carrying ``logger=name``."""
    return structlog.get_logger(name).bind(logger=name)
