"""What crosses from a cycle's processes to the runner: the board of running journeys, read back as written."""

from __future__ import annotations

import os
from pathlib import Path

from runner.handoff import SLOT_BYTES, RunningBoard, read_running


def test_the_board_names_what_each_worker_runs_even_from_another_process(tmp_path: Path) -> None:
    path = tmp_path / "running"
    board = RunningBoard(path, slots=3)
    board.show(0, "test_a.py::test_one")
    pid = os.fork()
    if pid == 0:  # a worker writes into its slot; the runner reads the file
        board.show(2, "test_b.py::test_caf\u00e9")
        os._exit(0)
    os.waitpid(pid, 0)
    assert read_running(path) == ("test_a.py::test_one", "test_b.py::test_caf\u00e9")
    board.show(0, "")
    assert read_running(path) == ("test_b.py::test_caf\u00e9",)


def test_a_long_id_is_cut_to_its_slot_and_a_missing_board_reads_as_nothing(tmp_path: Path) -> None:
    board = RunningBoard(tmp_path / "running", slots=1)
    board.show(0, "x" * (SLOT_BYTES * 2))
    (shown,) = read_running(tmp_path / "running")
    assert shown == "x" * (SLOT_BYTES - 2)
    assert read_running(tmp_path / "nothing") == ()
