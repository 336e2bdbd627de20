"""One atomic writer for the report, the state file and the artifacts' index."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.handoff.files import write_atomically


def test_a_file_is_replaced_whole_and_a_failed_write_leaves_the_old_one_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    write_atomically(target, b"old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"

    def fail(source: str, destination: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, b"never")
    assert target.read_bytes() == b"new" and [path.name for path in tmp_path.iterdir()] == ["state.json"]
