"""The evidence of failed browser journeys: the latest failure's screenshot and page URL per journey.

Workers write screenshots into ``incoming``; after each cycle the runner moves a failed run's files into the
store, replacing that journey's previous ones, and deletes what is left. Disk stays bounded: one failure per
journey and a total cap, the oldest evicted first. The store serves only the files it made, by names it
chose, so no request can reach another file. It lives in a temporary folder removed when the runner stops,
or beside ``--state-file`` (kept, with its index) when one is given.

Usage::

    store = ArtifactStore.open(state_file=None, max_bytes=100 * 2**20)
    store.accept(cycle.results, finished_at)         # after each cycle
    store.listing("test_ui.py::test_book[chromium]")  # {"at": ..., "items": [{"kind", "url"}, ...]} or None
    store.path("4f1c...png")                          # the file to serve, or None
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.report import JourneyResult

URL_PREFIX = "/artifacts/"
DEFAULT_MAX_BYTES = 100 * 2**20
INDEX = "index.json"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One failed run's evidence: when it ran, the page's URL, and the stored files by kind."""

    at: float
    page_url: str
    files: tuple[tuple[str, str], ...]  # (kind, file name in the store)
    size: int


class ArtifactStore:
    """The latest failure's evidence per journey, under one folder, at most ``max_bytes`` in all."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES, keep: bool = False) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.keep = keep
        self.incoming = root / "incoming"
        self._files = root / "files"
        self._evidence: dict[str, Evidence] = {}
        self._lock = threading.Lock()
        self._files.mkdir(parents=True, exist_ok=True)
        self.incoming.mkdir(exist_ok=True)

    @classmethod
    def open(cls, state_file: Path | None, max_bytes: int = DEFAULT_MAX_BYTES) -> ArtifactStore:
        """Beside the state file (kept, index reloaded), else in a temporary folder removed by ``close``."""
        if state_file is None:
            return cls(Path(tempfile.mkdtemp(prefix="synthetic-monitor-artifacts-")), max_bytes)
        store = cls(state_file.with_name(state_file.name + ".artifacts"), max_bytes, keep=True)
        store._load()
        return store

    def accept(self, results: Iterable[JourneyResult], at: float) -> None:
        """Keep each failed run's evidence (replacing the journey's previous); then empty ``incoming``."""
        try:
            with self._lock:
                for result in results:
                    if not result.passed and result.artifacts:
                        self._replace(result.journey, self._take(result.artifacts, at))
                self._evict()
            self._save()
        finally:
            shutil.rmtree(self.incoming, ignore_errors=True)
            self.incoming.mkdir(exist_ok=True)

    def forget_except(self, journeys: Iterable[str]) -> None:
        """Drop the evidence of journeys that are gone."""
        current = set(journeys)
        with self._lock:
            for journey in set(self._evidence) - current:
                self._drop(self._evidence.pop(journey))
        self._save()

    def listing(self, journey: str) -> dict[str, Any] | None:
        """What /api/results shows of a journey's evidence: its time and ``{"kind", "url"}`` items."""
        with self._lock:
            evidence = self._evidence.get(journey)
        if evidence is None:
            return None
        items = [{"kind": kind, "url": URL_PREFIX + name} for kind, name in evidence.files]
        if evidence.page_url:
            items.append({"kind": "page", "url": evidence.page_url})
        return {"at": evidence.at, "items": items}

    def path(self, name: str) -> Path | None:
        """The stored file called ``name``, if the store made it; None for anything else."""
        with self._lock:
            known = any(name == stored for evidence in self._evidence.values() for _, stored in evidence.files)
        return self._files / name if known else None

    def close(self) -> None:
        """Remove everything unless the store is kept beside a state file."""
        if self.keep:
            shutil.rmtree(self.incoming, ignore_errors=True)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def _take(self, artifacts: Iterable[tuple[str, str]], at: float) -> Evidence:
        page_url, files, size = "", [], 0
        for kind, value in artifacts:
            if kind == "page":
                page_url = value
                continue
            source = Path(value)
            if source.parent.resolve() != self.incoming.resolve() or not source.is_file():
                continue  # only what a worker wrote into this store's incoming folder
            name = f"{uuid.uuid4().hex}{source.suffix}"
            shutil.move(source, self._files / name)
            files.append((kind, name))
            size += (self._files / name).stat().st_size
        return Evidence(at, page_url, tuple(files), size)

    def _replace(self, journey: str, evidence: Evidence) -> None:
        previous = self._evidence.pop(journey, None)
        if previous is not None:
            self._drop(previous)
        self._evidence[journey] = evidence

    def _evict(self) -> None:
        total = sum(evidence.size for evidence in self._evidence.values())
        for journey, evidence in sorted(self._evidence.items(), key=lambda pair: pair[1].at):
            if total <= self.max_bytes:
                break
            total -= evidence.size
            self._drop(self._evidence.pop(journey))

    def _drop(self, evidence: Evidence) -> None:
        for _, name in evidence.files:
            (self._files / name).unlink(missing_ok=True)

    def _save(self) -> None:
        if not self.keep:
            return
        with self._lock:
            index = {
                journey: {"at": e.at, "page_url": e.page_url, "files": [list(f) for f in e.files], "size": e.size}
                for journey, e in self._evidence.items()
            }
        descriptor, temporary = tempfile.mkstemp(prefix=".index.", dir=self.root)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(index, handle)
        os.replace(temporary, self.root / INDEX)

    def _load(self) -> None:
        try:
            index = json.loads((self.root / INDEX).read_text())
            loaded = {
                str(journey): Evidence(
                    float(e["at"]), str(e["page_url"]), tuple((str(k), str(n)) for k, n in e["files"]), int(e["size"])
                )
                for journey, e in index.items()
            }
        except (OSError, ValueError, KeyError, TypeError):
            loaded = {}  # no index, or a damaged one: start without evidence rather than refuse to start
        known = {name for evidence in loaded.values() for _, name in evidence.files}
        for stray in self._files.iterdir():
            if stray.name not in known:
                stray.unlink(missing_ok=True)
        self._evidence = {
            journey: evidence
            for journey, evidence in loaded.items()
            if all((self._files / name).is_file() for _, name in evidence.files)
        }


CONTENT_TYPES = {".png": "image/png", ".zip": "application/zip"}


def wsgi_app(store: ArtifactStore) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """``/artifacts/<name>``: a file the store made, else 404; names come from the store, never from the disk."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        name = str(environ.get("PATH_INFO", "")).removeprefix(URL_PREFIX)
        path = store.path(name) if name and "/" not in name else None
        try:
            body = path.read_bytes() if path is not None else None
        except OSError:
            body = None
        if path is None or body is None:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), *HEADERS])
            return [b"no such artifact; /api/results lists each journey's\n"]
        content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body))), *HEADERS])
        return [body]

    return app


HEADERS = [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "private, max-age=3600")]
