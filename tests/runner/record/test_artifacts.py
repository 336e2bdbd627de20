"""The evidence store: the latest failure per journey, a total cap, only its own files (never through a link), gone at
stop."""

from __future__ import annotations

import os
from pathlib import Path

from runner.handoff.results import JourneyResult
from runner.record.artifacts import ArtifactStore, wsgi_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 1000


def failed(
    store: ArtifactStore, journey: str, url: str = "http://127.0.0.1:8080/book", size: int = 1000
) -> JourneyResult:
    shot = store.incoming / f"{journey.replace('/', '_')}-{size}.png"
    shot.write_bytes(PNG[:8] + b"\0" * size)
    artifacts = (("page", url), ("screenshot", str(shot)))
    return JourneyResult(journey, False, 1.0, "assertion", "boom", artifacts=artifacts)


def served(store: ArtifactStore, journey: str) -> list[str]:
    listing = store.listing(journey)
    assert listing is not None
    return [item["url"] for item in listing["items"] if item["kind"] == "screenshot"]


def test_a_failed_runs_screenshot_and_page_url_are_kept_and_served_by_name(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    store.accept([failed(store, "a.py::test_book[chromium]")], at=100.0)
    listing = store.listing("a.py::test_book[chromium]")
    assert listing is not None and listing["at"] == 100.0
    kinds = {item["kind"]: item["url"] for item in listing["items"]}
    assert kinds["page"] == "http://127.0.0.1:8080/book"
    name = kinds["screenshot"].removeprefix("/artifacts/")
    body = store.read(name)
    assert body is not None and body.startswith(b"\x89PNG")
    assert (store.root / "files" / name).stat().st_mode & 0o777 == 0o600
    assert list(store.incoming.iterdir()) == []  # what the cycle left is gone


def test_only_files_the_store_made_are_served(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    (tmp_path / "secret.txt").write_text("no")
    store.accept([failed(store, "a.py::test_a")], at=1.0)
    for name in ("../../secret.txt", "..", "index.json", "files", "/etc/passwd", "%2e%2e/secret.txt", ""):
        assert store.read(name) is None, name
    outside = JourneyResult(
        "b.py::test_b", False, 1.0, "error", "x", artifacts=(("screenshot", str(tmp_path / "secret.txt")),)
    )
    store.accept([outside], at=2.0)
    listing = store.listing("b.py::test_b")
    assert listing is not None and listing["items"] == []  # a path outside incoming is never taken in
    assert (tmp_path / "secret.txt").exists()


def test_a_passing_run_keeps_the_evidence_until_the_journey_fails_again(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    store.accept([failed(store, "a.py::test_a")], at=1.0)
    (first,) = served(store, "a.py::test_a")
    store.accept([JourneyResult("a.py::test_a", True, 0.5)], at=2.0)
    assert served(store, "a.py::test_a") == [first]
    store.accept([failed(store, "a.py::test_a")], at=3.0)
    (second,) = served(store, "a.py::test_a")
    assert second != first and store.read(first.removeprefix("/artifacts/")) is None
    assert len(list((store.root / "files").iterdir())) == 1  # the replaced file is deleted


def test_over_the_cap_the_oldest_failures_go_first(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store", max_bytes=2500)
    for at, journey in enumerate(("a.py::test_1", "a.py::test_2", "a.py::test_3")):
        store.accept([failed(store, journey)], at=float(at))
    assert store.listing("a.py::test_1") is None
    assert store.listing("a.py::test_2") is not None and store.listing("a.py::test_3") is not None
    assert sum(f.stat().st_size for f in (store.root / "files").iterdir()) <= 2500


def test_gone_journeys_lose_their_evidence(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    store.accept([failed(store, "a.py::test_a"), failed(store, "a.py::test_b")], at=1.0)
    store.forget_except(["a.py::test_b"])
    assert store.listing("a.py::test_a") is None and store.listing("a.py::test_b") is not None
    assert len(list((store.root / "files").iterdir())) == 1


def test_without_a_state_file_nothing_is_left_after_close(tmp_path: Path) -> None:
    store = ArtifactStore.open(None)
    store.accept([failed(store, "a.py::test_a")], at=1.0)
    root = store.root
    assert root.exists()
    store.close()
    assert not root.exists()


def test_with_a_state_file_the_evidence_outlives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    store = ArtifactStore.open(state)
    store.accept([failed(store, "a.py::test_a")], at=5.0)
    (url,) = served(store, "a.py::test_a")
    (store.root / "files" / "stray.png").write_bytes(b"left by a crash")
    store.close()
    again = ArtifactStore.open(state)
    assert served(again, "a.py::test_a") == [url]
    assert again.read(url.removeprefix("/artifacts/")) is not None
    assert not (again.root / "files" / "stray.png").exists()


def reported(journey: str, path: Path) -> JourneyResult:
    return JourneyResult(journey, False, 1.0, "assertion", "boom", artifacts=(("screenshot", str(path)),))


def test_links_fifos_and_hard_links_among_the_screenshots_are_never_taken_in(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    os.symlink(secret, store.incoming / "link.png")
    os.symlink(tmp_path, store.incoming / "folder.png")
    os.mkfifo(store.incoming / "fifo.png")
    os.link(secret, store.incoming / "hard.png")
    names = ("link.png", "folder.png", "fifo.png", "hard.png")
    store.accept([reported(f"a.py::test_{n}", store.incoming / n) for n in names], at=1.0)
    for name in names:
        listing = store.listing(f"a.py::test_{name}")
        assert listing is not None and listing["items"] == [], name
    assert list((store.root / "files").iterdir()) == []
    assert list(store.incoming.iterdir()) == []  # the links themselves are gone
    assert secret.read_text() == "root:x:0:0" and tmp_path.is_dir()  # what they pointed to is untouched


def test_an_incoming_folder_replaced_by_a_link_gives_nothing_and_is_restored(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "shot.png").write_bytes(PNG)
    store.incoming.rmdir()
    os.symlink(elsewhere, store.incoming)
    store.accept([reported("a.py::test_a", store.incoming / "shot.png")], at=1.0)
    listing = store.listing("a.py::test_a")
    assert listing is not None and listing["items"] == []
    assert (elsewhere / "shot.png").read_bytes() == PNG
    assert store.incoming.is_dir() and not store.incoming.is_symlink()


def test_a_stored_file_replaced_by_a_link_is_not_served_and_is_dropped_at_the_next_start(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    store = ArtifactStore.open(state)
    store.accept([failed(store, "a.py::test_a"), failed(store, "a.py::test_b")], at=5.0)
    (linked,) = served(store, "a.py::test_a")
    stored = store.root / "files" / linked.removeprefix("/artifacts/")
    stored.unlink()
    os.symlink(secret, stored)
    assert store.read(stored.name) is None
    store.close()
    again = ArtifactStore.open(state)
    assert again.listing("a.py::test_a") is None and again.read(stored.name) is None
    assert not os.path.lexists(stored)  # the planted link is removed, its target kept
    assert secret.read_text() == "root:x:0:0"
    (kept,) = served(again, "a.py::test_b")
    assert again.read(kept.removeprefix("/artifacts/")) is not None


def test_the_artifacts_route_serves_a_stored_screenshot_and_nothing_through_a_link(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    store.accept([failed(store, "a.py::test_a")], at=1.0)
    (url,) = served(store, "a.py::test_a")
    app = wsgi_app(store)
    statuses: list[str] = []

    def get(path: str) -> bytes:
        return b"".join(app({"PATH_INFO": path}, lambda status, headers: statuses.append(status)))

    assert get(url).startswith(b"\x89PNG") and statuses[-1] == "200 OK"
    stored = store.root / "files" / url.removeprefix("/artifacts/")
    stored.unlink()
    os.symlink(secret, stored)
    assert b"root" not in get(url) and statuses[-1] == "404 Not Found"
