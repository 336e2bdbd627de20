"""The evidence store: the latest failure per journey, a total cap, only its own files, gone at stop."""

from __future__ import annotations

from pathlib import Path

from runner.artifacts import ArtifactStore
from runner.report import JourneyResult

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
    path = store.path(name)
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")
    assert list(store.incoming.iterdir()) == []  # what the cycle left is gone


def test_only_files_the_store_made_are_served(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    (tmp_path / "secret.txt").write_text("no")
    store.accept([failed(store, "a.py::test_a")], at=1.0)
    for name in ("../../secret.txt", "..", "index.json", "files", "/etc/passwd", "%2e%2e/secret.txt", ""):
        assert store.path(name) is None, name
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
    assert second != first and store.path(first.removeprefix("/artifacts/")) is None
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
    assert again.path(url.removeprefix("/artifacts/")) is not None
    assert not (again.root / "files" / "stray.png").exists()
