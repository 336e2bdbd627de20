"""The evidence of failed browser journeys: the latest failure's screenshot and page URL per journey.

Workers write screenshots into ``incoming``; after each cycle the runner copies a failed run's files into the
store, replacing that journey's previous ones, and deletes what is left. Disk stays bounded: one failure per
journey and a total cap, the oldest evicted first. The store serves only the files it made, by names it
chose, so no request can reach another file; and it never follows a link: a file is taken in, served or kept
across a restart only if it is a regular file of its own (opened with O_NOFOLLOW, one link), so a journey that
plants a link to /etc/passwd among its screenshots gets nothing served. It lives in a temporary folder removed
when the runner stops, or beside ``--state-file`` (kept, with its index) when one is given.

Usage::

    store = ArtifactStore.open(state_file=None, max_bytes=100 * 2**20)
    store.accept(cycle.results, finished_at)         # after each cycle
    store.listing("test_ui.py::test_book[chromium]")  # {"at": ..., "items": [{"kind", "url"}, ...]} or None
    store.read("4f1c...png")                          # the file's bytes to serve, or None
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from runner.handoff.files import write_atomically
from runner.handoff.results import JourneyResult

URL_PREFIX = "/artifacts/"
DEFAULT_MAX_BYTES = 100 * 2**20
INDEX = "index.json"
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO planted in place of a screenshot returns at once (and is refused) instead of waiting.
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_MODE = 0o600


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
    def open(
        cls, state_file: Path | None, max_bytes: int = DEFAULT_MAX_BYTES, parent: Path | None = None
    ) -> ArtifactStore:
        """Beside the state file (kept, index reloaded), else in a temporary folder (in ``parent``: the runner's
        own, see runner.supervisor.scratch) removed by ``close``."""
        if state_file is None:
            return cls(Path(tempfile.mkdtemp(prefix="synthetic-monitor-artifacts-", dir=parent)), max_bytes)
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
            self._empty_incoming()

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

    def read(self, name: str) -> bytes | None:
        """The bytes of the stored file called ``name``, if the store made it and it is still a regular file of its
        own; None for anything else."""
        with self._lock:
            known = any(name == stored for evidence in self._evidence.values() for _, stored in evidence.files)
        if not known:
            return None
        try:
            with _folder(self._files) as files:
                file = _open_regular(files, name)
                if file is None:
                    return None
                with file:
                    return file.read()
        except OSError:
            return None

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
            if source.parent.resolve() != self.incoming.resolve():
                continue  # only what a worker wrote into this store's incoming folder
            name = f"{uuid.uuid4().hex}{source.suffix}"
            copied = self._copy_in(source.name, name)
            if copied is not None:
                files.append((kind, name))
                size += copied
        return Evidence(at, page_url, tuple(files), size)

    def _copy_in(self, source: str, name: str) -> int | None:
        """Copy ``incoming/source`` into a new file of the store's, ``name``, and remove the original; the size
        copied, or None if it is not a regular file of its own (a link, a FIFO, a hard link) or over the cap."""
        try:
            with _folder(self.incoming) as incoming, _folder(self._files) as files:
                try:
                    return _copy_regular(incoming, source, files, name, self.max_bytes)
                finally:
                    with contextlib.suppress(OSError):
                        os.unlink(source, dir_fd=incoming)  # a link itself, never what it points to
        except OSError:  # a link (ELOOP), gone, a full disk
            (self._files / name).unlink(missing_ok=True)
            return None

    def _empty_incoming(self) -> None:
        if self.incoming.is_symlink():  # a journey replaced the folder with a link: remove the link alone
            self.incoming.unlink()
        else:
            shutil.rmtree(self.incoming, ignore_errors=True)
        self.incoming.mkdir(exist_ok=True)

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
        write_atomically(self.root / INDEX, json.dumps(index).encode())

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
        kept = set()
        with os.scandir(self._files) as entries:
            for entry in entries:
                if entry.name in known and _own_regular(entry.stat(follow_symlinks=False)):
                    kept.add(entry.name)
                elif not entry.is_dir(follow_symlinks=False):  # strays, and links planted under a stored name
                    Path(entry.path).unlink(missing_ok=True)
        self._evidence = {
            journey: evidence for journey, evidence in loaded.items() if all(name in kept for _, name in evidence.files)
        }


def _own_regular(status: os.stat_result) -> bool:
    """A regular file with no other name: not a link, a device or a FIFO, nor a hard link to a file elsewhere."""
    return stat.S_ISREG(status.st_mode) and status.st_nlink == 1


@contextlib.contextmanager
def _folder(path: Path) -> Iterator[int]:
    """A descriptor of the folder ``path``, which may not be a link itself."""
    descriptor = os.open(path, FOLDER_FLAGS)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def _open_regular(folder: int, name: str) -> BinaryIO | None:
    """``name`` in ``folder`` open for reading, if a regular file of its own; OSError (ELOOP) for a link."""
    file = os.fdopen(os.open(name, READ_FLAGS, dir_fd=folder), "rb")
    if _own_regular(os.fstat(file.fileno())):
        return file
    file.close()
    return None


def _copy_regular(folder: int, source: str, into: int, name: str, max_bytes: int) -> int | None:
    """Copy ``source`` (a regular file of its own, at most ``max_bytes``) into a new file ``name`` of mode 0600,
    created here: never an existing file or a link. The size copied, or None."""
    file = _open_regular(folder, source)
    if file is None:
        return None
    with file:
        if os.fstat(file.fileno()).st_size > max_bytes:
            return None
        with os.fdopen(os.open(name, CREATE_FLAGS, FILE_MODE, dir_fd=into), "wb") as target:
            shutil.copyfileobj(file, target)
            return target.tell()


CONTENT_TYPES = {".png": "image/png", ".zip": "application/zip"}


def wsgi_app(store: ArtifactStore) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """``/artifacts/<name>``: a file the store made, else 404; names come from the store, never from the disk."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        name = str(environ.get("PATH_INFO", "")).removeprefix(URL_PREFIX)
        body = store.read(name) if name and "/" not in name else None
        if body is None:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"), *HEADERS])
            return [b"no such artifact; /api/results lists each journey's\n"]
        content_type = CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream")
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body))), *HEADERS])
        return [body]

    return app


HEADERS = [("X-Content-Type-Options", "nosniff"), ("Cache-Control", "private, max-age=3600")]
