"""Shards: every journey to exactly one of N runners, evenly, the same everywhere; bad values are one line."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import requests

from runner.errors import ConfigError
from runner.settings.shard import POD_INDEX_ENV, Shard, parse_shard
from tests.processes import REPO_ROOT, metric, scrape, start_runner, wait_for

IDS = [f"journeys/test_{group}.py::test_{case}[{param}]" for group in range(20) for case in range(50) for param in "ab"]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_every_journey_belongs_to_exactly_one_shard(count: int) -> None:
    shards = [Shard(index, count) for index in range(1, count + 1)]
    for journey in IDS:
        assert sum(shard.owns(journey) for shard in shards) == 1, journey


@pytest.mark.parametrize("count", [2, 3, 7])
def test_shards_share_the_journeys_evenly(count: int) -> None:
    sizes = collections.Counter(
        index for journey in IDS for index in range(1, count + 1) if Shard(index, count).owns(journey)
    )
    expected = len(IDS) / count
    # 2,000 ids: a well-mixed hash keeps every shard within 10% of its share (a plain crc32 of similar ids may not).
    assert all(abs(size - expected) < 0.1 * expected for size in sizes.values()), sizes


def test_the_owner_is_fixed_by_the_id_alone_not_by_the_process() -> None:
    # Pinned: a change to the hash (say, Python's randomised hash()) would move journeys between runners.
    pinned = {
        "test_health.py::test_health": (6, 1),
        "test_reservations.py::test_book": (1, 2),
        "a/b.py::TestX::test_y[1-2]": (7, 1),
        "ünïcode.py::test_é": (5, 2),
    }
    for journey, (of_seven, of_three) in pinned.items():
        assert [k for k in range(1, 8) if Shard(k, 7).owns(journey)] == [of_seven], journey
        assert [k for k in range(1, 4) if Shard(k, 3).owns(journey)] == [of_three], journey
    code = (
        "from runner.settings.shard import Shard; "
        "print([Shard(k, 7).owns('test_health.py::test_health') for k in (6, 5)])"
    )
    for seed in ("1", "2"):
        output = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert output.strip() == "[True, False]"


@pytest.mark.parametrize(
    ("value", "env", "hostname", "expected"),
    [
        ("2/3", {}, "vm", Shard(2, 3)),
        ("1/1", {}, "vm", Shard(1, 1)),
        ("ordinal/3", {POD_INDEX_ENV: "0"}, "vm", Shard(1, 3)),
        ("ordinal/3", {POD_INDEX_ENV: "2"}, "vm", Shard(3, 3)),
        ("ordinal/4", {}, "synthetic-monitor-eu-west-3", Shard(4, 4)),
        ("ordinal/4", {POD_INDEX_ENV: "1"}, "synthetic-monitor-3", Shard(2, 4)),  # the label wins over the name
    ],
)
def test_a_statefulset_pods_ordinal_plus_one_is_its_shard(
    value: str, env: dict[str, str], hostname: str, expected: Shard
) -> None:
    assert parse_shard(value, "--shard", env, hostname) == expected


@pytest.mark.parametrize(
    ("value", "env", "hostname", "message"),
    [
        ("0/3", {}, "vm", "--shard must be K/N with 1 <= K <= N"),
        ("4/3", {}, "vm", "got '4/3'"),
        ("1/0", {}, "vm", "got '1/0'"),
        ("x", {}, "vm", "got 'x'"),
        ("2", {}, "vm", "got '2'"),
        ("-1/3", {}, "vm", "got '-1/3'"),
        ("1/3/4", {}, "vm", "got '1/3/4'"),
        ("ordinal/3", {}, "vm", "no pod ordinal: set env SYNTHETIC_POD_INDEX"),
        ("ordinal/3", {POD_INDEX_ENV: "3"}, "vm", "ordinal 3 needs at least 4 shards"),
        ("ordinal/3", {POD_INDEX_ENV: "one"}, "vm", "must be a pod ordinal"),
    ],
)
def test_a_bad_shard_is_one_line_naming_the_option_and_the_value(
    value: str, env: dict[str, str], hostname: str, message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_shard(value, "--shard", env, hostname)
    assert message in str(error.value) and "--shard" in str(error.value)
    assert "\n" not in str(error.value)


JOURNEYS = {
    **{f"test_{n}.py": f"def test_{n}():\n    pass\n" for n in range(12)},
    "test_broken.py": "def (:\n",
}


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    folder = tmp_path / "journeys"
    folder.mkdir()
    for name, source in JOURNEYS.items():
        (folder / name).write_text(textwrap.dedent(source))
    return folder


def once(folder: Path, shard: str, tmp_path: Path) -> tuple[int, str]:
    metrics = tmp_path / f"metrics-{shard.replace('/', 'of')}.prom"
    result = subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(folder), "--shard", shard],
        cwd=REPO_ROOT,
        env={**os.environ, "SYNTHETIC_METRICS_FILE": str(metrics)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, metrics.read_text() if metrics.exists() else ""


@pytest.mark.slow
def test_three_runners_run_every_journey_once_and_each_reports_the_broken_file(suite: Path, tmp_path: Path) -> None:
    seen: list[str] = []
    for index in (1, 2, 3):
        code, text = once(suite, f"{index}/3", tmp_path)
        assert code == 1  # the broken file fails every shard's cycle
        assert "synthetic_collection_errors 1.0" in text, f"shard {index}/3 did not report the broken file"
        assert f'synthetic_shard_info{{shard="{index}/3"}} 1.0' in text
        seen += [line.split('"')[1] for line in text.splitlines() if line.startswith("synthetic_journey_success{")]
    assert sorted(seen) == sorted(f"test_{n}.py::test_{n}" for n in range(12))


@pytest.mark.slow
def test_a_shard_without_journeys_is_healthy_and_has_no_journey_series(tmp_path: Path) -> None:
    folder = tmp_path / "journeys"
    folder.mkdir()
    (folder / "test_only.py").write_text("def test_only():\n    pass\n")
    owner = next(k for k in range(1, 4) if Shard(k, 3).owns("test_only.py::test_only"))
    other = owner % 3 + 1
    code, text = once(folder, f"{other}/3", tmp_path)
    assert code == 0
    assert "synthetic_journey_success{" not in text and "synthetic_journeys 0.0" in text
    code, text = once(folder, f"{owner}/3", tmp_path)
    assert code == 0 and 'synthetic_journey_success{journey="test_only.py::test_only"} 1.0' in text


@pytest.mark.slow
def test_location_labels_every_synthetic_series_and_shows_on_the_page(suite: Path, tmp_path: Path) -> None:
    process, url = start_runner(
        tmp_path, "--interval", "1", "--journeys", str(suite), "--location", "eu-west", "--shard", "2/3"
    )
    try:
        completed = {"status": "completed", "location": "eu-west"}
        wait_for(lambda: (metric(scrape(url), "synthetic_runs_total", **completed) or 0) >= 1, 60, "a cycle")
        samples = scrape(url)
        synthetic = [(name, dict(labels)) for name, labels in samples if name.startswith("synthetic_")]
        assert synthetic and all(labels.get("location") == "eu-west" for _, labels in synthetic)
        assert all("location" not in dict(labels) for name, labels in samples if name.startswith("process_"))
        assert "From eu-west, shard 2/3." in requests.get(f"{url}/", timeout=5).text
        results = requests.get(f"{url}/api/results", timeout=5).json()
        assert (results["location"], results["shard"]) == ("eu-west", "2/3")
    finally:
        process.stop()
