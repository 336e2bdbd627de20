"""Bodies rendered once and served from memory, gzipped when the client accepts it: /metrics and the page.

With a thousand journeys the exposition is tens of thousands of lines and takes a noticeable fraction of a
second to render; rendering it for every scrape would let concurrent scrapers queue behind each other. The
cycle thread renders it right after each cycle; a copy older than ``max_age_seconds`` (so ``process_*`` stay
fresh) is rendered again in the background while requests keep getting the previous copy.

Usage::

    exposition = CachedBody(metrics_renderer(registry), CONTENT_TYPE_PLAIN_0_0_4, max_age_seconds=5)
    exposition.refresh()                       # after each cycle
    body, encoding = exposition.body(accept_gzip=True)
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder

from runner.record.text_exposition import render

DEFAULT_MAX_AGE_SECONDS = 5.0
GZIP_LEVEL = 1  # the exposition compresses 30-fold even at level 1; higher levels cost far more CPU
OPENMETRICS = "application/openmetrics-text"
MAX_VARIANTS = 4  # formats kept rendered; a client asking for yet another one gets the classic text


def metrics_renderer(registry: CollectorRegistry) -> Callable[[], bytes]:
    """Render the registry's classic text exposition (as ``generate_latest`` would, byte for byte)."""
    return lambda: render(registry)


class CachedBody:
    """A rendered body, plain and gzipped, rendered again at most once per refresh or max age."""

    def __init__(
        self,
        render: Callable[[], bytes],
        content_type: str = CONTENT_TYPE_PLAIN_0_0_4,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._render_body = render
        self._content_type = content_type
        self._headers = list(headers)
        self._max_age = max_age_seconds
        self._render_lock = threading.Lock()
        self._plain = b""
        self._gzipped = b""
        self._rendered_at = float("-inf")

    def refresh(self) -> None:
        """Render now (waits for a render already under way, then renders again)."""
        with self._render_lock:
            self._render()

    def invalidate(self) -> None:
        """Drop the copy: the next request waits for a fresh render rather than take a stale one."""
        with self._render_lock:
            self._plain = self._gzipped = b""

    def body(self, accept_gzip: bool) -> tuple[bytes, str | None]:
        """The current body and its Content-Encoding. A stale copy is served as it is while a background thread
        renders the next one; only a request that finds no copy at all waits for a render."""
        if not self._plain:  # the first request: one render, however many arrive at once
            with self._render_lock:
                if not self._plain:
                    self._render()
        elif time.monotonic() - self._rendered_at > self._max_age and self._render_lock.acquire(blocking=False):
            threading.Thread(target=self._render_in_background, name="render", daemon=True).start()
        plain, gzipped = self._plain, self._gzipped  # one consistent pair, swapped together
        return (gzipped, "gzip") if accept_gzip else (plain, None)

    def _render_in_background(self) -> None:
        try:
            self._render()
        finally:
            self._render_lock.release()

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """A WSGI app serving the cached body."""
        accept_gzip = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body, encoding = self.body(accept_gzip)
        headers = [
            ("Content-Type", self._content_type),
            *self._headers,
            ("Content-Length", str(len(body))),
            ("Vary", "Accept-Encoding"),
        ]
        if encoding:
            headers.append(("Content-Encoding", encoding))
        start_response("200 OK", headers)
        return [body]

    def _render(self) -> None:
        plain = self._render_body()
        gzipped = gzip.compress(plain, compresslevel=GZIP_LEVEL)
        self._plain, self._gzipped = plain, gzipped
        self._rendered_at = time.monotonic()


class MetricsExposition:
    """``/metrics`` in the format the scraper asks for in ``Accept``: OpenMetrics (which carries exemplars) for
    Prometheus, the classic text format otherwise; each format rendered once per refresh, as ``CachedBody``."""

    def __init__(self, registry: CollectorRegistry, max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS) -> None:
        self._registry = registry
        self._max_age = max_age_seconds
        self._classic = self._body(metrics_renderer(registry), CONTENT_TYPE_PLAIN_0_0_4)
        self._bodies = {CONTENT_TYPE_PLAIN_0_0_4: self._classic}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Render every format asked for so far."""
        for body in list(self._bodies.values()):
            body.refresh()

    def classic(self) -> bytes:
        """The classic text exposition as last rendered (rendered now if it never was)."""
        return self._classic.body(accept_gzip=False)[0]

    def body(self, accept: str, accept_gzip: bool = False) -> tuple[bytes, str | None]:
        """The body for this ``Accept`` header (and its Content-Encoding)."""
        return self._chosen(accept).body(accept_gzip)

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """A WSGI app serving the format the ``Accept`` header chooses."""
        return self._chosen(environ.get("HTTP_ACCEPT", "")).wsgi(environ, start_response)

    def _chosen(self, accept: str) -> CachedBody:
        try:
            encoder, content_type = choose_encoder(accept)
        except (TypeError, ValueError):  # prometheus_client cannot read a version such as "version=x"
            return self._classic
        body = self._bodies.get(content_type)
        if body is None:
            with self._lock:
                body = self._bodies.get(content_type)
                if body is None:
                    if len(self._bodies) >= MAX_VARIANTS:
                        return self._classic
                    body = self._bodies[content_type] = self._body(self._renderer(encoder, content_type), content_type)
        return body

    def _renderer(self, encoder: Callable[[Any], bytes], content_type: str) -> Callable[[], bytes]:
        """OpenMetrics through ``render`` (the journey series written from their numbers); anything else (a
        format prometheus_client learns later) by prometheus_client itself."""
        registry = self._registry
        if content_type.startswith(OPENMETRICS):
            return lambda: render(registry, openmetrics=encoder)
        return lambda: encoder(registry)

    def _body(self, render: Callable[[], bytes], content_type: str) -> CachedBody:
        return CachedBody(render, content_type, self._max_age, headers=[("Vary", "Accept")])
