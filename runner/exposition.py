"""The /metrics body, rendered once per change and served from memory, gzipped when the client accepts it.

With a thousand journeys the exposition is tens of thousands of lines and takes a noticeable fraction of a
second to render; rendering it for every scrape would let concurrent scrapers queue behind each other. The
cycle thread renders it right after each cycle; a request renders only when the copy is older than
``max_age_seconds`` (so ``process_*`` stay fresh), and meanwhile other requests get the previous copy.

Usage::

    exposition = CachedExposition(registry, max_age_seconds=5)
    exposition.refresh()                       # after each cycle
    body, encoding = exposition.body(accept_gzip=True)
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

DEFAULT_MAX_AGE_SECONDS = 5.0
# Our metric names are all legacy-valid, so the body is the classic format every Prometheus parses.
GZIP_LEVEL = 1  # the exposition compresses 30-fold even at level 1; higher levels cost far more CPU


class CachedExposition:
    """The registry's text exposition, plain and gzipped, re-rendered at most once per change or max age."""

    def __init__(self, registry: CollectorRegistry, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        self._registry = registry
        self._max_age = max_age_seconds
        self._render_lock = threading.Lock()
        self._plain = b""
        self._gzipped = b""
        self._rendered_at = float("-inf")

    def refresh(self) -> None:
        """Render now (waits for a render already under way, then renders again)."""
        with self._render_lock:
            self._render()

    def body(self, accept_gzip: bool) -> tuple[bytes, str | None]:
        """The current body and its Content-Encoding; renders first if the copy is stale and nobody else is."""
        if time.monotonic() - self._rendered_at > self._max_age and self._render_lock.acquire(blocking=not self._plain):
            try:
                if time.monotonic() - self._rendered_at > self._max_age:
                    self._render()
            finally:
                self._render_lock.release()
        plain, gzipped = self._plain, self._gzipped  # one consistent pair, swapped together
        return (gzipped, "gzip") if accept_gzip else (plain, None)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """A WSGI app serving the cached exposition."""
        accept_gzip = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body, encoding = self.body(accept_gzip)
        headers = [
            ("Content-Type", CONTENT_TYPE_PLAIN_0_0_4),
            ("Content-Length", str(len(body))),
            ("Vary", "Accept-Encoding"),
        ]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        start_response("200 OK", headers)
        return [body]

    def _render(self) -> None:
        plain = generate_latest(self._registry)
        gzipped = gzip.compress(plain, compresslevel=GZIP_LEVEL)
        self._plain, self._gzipped = plain, gzipped
        self._rendered_at = time.monotonic()
