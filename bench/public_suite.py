"""8. A public suite: packaging's own tests (12,680 quick ones) under the runner, against plain pytest and xdist.

The sdist is fetched from the package index (pinned) with its test requirements installed beside it. Each
command runs from its folder with its own strict configuration, and again from a copy of its tests beside an
empty `pytest.ini` (as a new user's suite would be): `pytest` against `synthetic-monitor --once --workers 0`,
the same with each test's result written (`--junitxml` against `--metrics-file`), and `pytest -n 2`
(pytest-xdist) against `--workers 2`, each pair in turn.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from bench.support import Section, median, spread
from scripts.stack import REPO_ROOT

SDIST = "packaging==26.4"
TEST_REQUIREMENTS = ("pretend==1.0.9", "tomli_w==1.2.0")
# test_version.py alone holds 51,524 of the 64,204 tests; the rest is "about 10,000 quick tests". One test
# passes only when the test before it in the same process cleared an lru_cache: it fails at random under
# pytest -n 2 (and could under --workers 2), so it is left out of every run.
ORDER_DEPENDENT = "tests/test_tags.py::TestSysTags::test_linux_use_manylinux_compatible"
# Another depends on the same caches and failed once in a plain copy of the tests under plain pytest.
CACHE_DEPENDENT = "tests/test_tags.py::TestSysTags::test_skip_manylinux_2014"
SELECTION = ("--ignore=tests/test_version.py", "--deselect", ORDER_DEPENDENT, "--deselect", CACHE_DEPENDENT)
# Without its configuration, its opt-in property tests (hypothesis, minutes) would run too: left out as it does.
EMPTY_SELECTION = (*SELECTION, "-m", "not property")
SMOKE_SELECTION = ("tests/test_tags.py",)
PLAIN_LIMIT, XDIST_LIMIT = 1.10, 0.90


def fetch(folder: Path) -> tuple[Path, dict[str, str]]:
    """The unpacked sdist and the environment its tests need."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "download", "--no-deps", "--no-binary", ":all:", "-d", str(folder), SDIST], check=True)
    deps = folder / "deps"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(deps), *TEST_REQUIREMENTS], check=True)
    (archive,) = folder.glob("*.tar.gz")
    with tarfile.open(archive) as sdist:
        sdist.extractall(folder, filter="data")
    project = folder / archive.name.removesuffix(".tar.gz")
    # The runner measured is this checkout's, whichever is installed (run from its folder, `python -m runner`
    # would otherwise find the installed one: an A/B from a second checkout measured the same code twice).
    paths = [str(deps), str(project / "src"), str(REPO_ROOT)]
    return project, {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def timed(argv: list[str], project: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return elapsed


def plain_copy(project: Path) -> Path:
    """The project's tests copied beside an empty ``pytest.ini``: none of its configuration applies."""
    folder = project.parent / "plain"
    shutil.copytree(project / "tests", folder / "tests")
    (folder / "pytest.ini").write_text("[pytest]\n")
    return folder


def run(smoke: bool) -> Section:
    reps, selection = (1, SMOKE_SELECTION) if smoke else (3, SELECTION)
    plain_selection = SMOKE_SELECTION if smoke else EMPTY_SELECTION
    pytest = [sys.executable, "-m", "pytest", "-q", *selection]
    plain_pytest = [sys.executable, "-m", "pytest", "-q", *plain_selection]
    runner = [sys.executable, "-m", "runner", "--once", "--journeys", ".", "--max-journeys", "100000"]
    written = ["--junitxml", "results.xml"], ["--metrics-file", "synthetic.prom"]
    pairs = [
        (configuration, name, [*baseline, *theirs], [*runner, *ours, "--workers", "0", "--", *chosen])
        for configuration, baseline, chosen in (("own", pytest, selection), ("empty", plain_pytest, plain_selection))
        for name, theirs, ours in (("pytest", [], []), ("pytest --junitxml", *written))
    ]
    pairs.append(("own", "pytest -n 2", [*pytest, "-n", "2"], [*runner, "--workers", "2", "--", *selection]))
    rows, ratios = [], []
    with tempfile.TemporaryDirectory() as tmp:
        project, env = fetch(Path(tmp))
        folders = {"own": project, "empty": plain_copy(project)}
        for configuration, name, baseline, ours in pairs:
            theirs_times, our_times = [], []
            for _ in range(reps):  # in turn, so a drift of the machine's speed hits both alike
                theirs_times.append(timed(baseline, folders[configuration], env))
                our_times.append(timed(ours, folders[configuration], env))
            ratio = median([o / t for o, t in zip(our_times, theirs_times, strict=True)])
            ratios.append(ratio)
            ours_name = "runner" + (" --metrics-file" if "--junitxml" in name else "")
            rows.append(
                [
                    "2" if "-n 2" in name else "0",
                    "its own" if configuration == "own" else "an empty `pytest.ini`",
                    f"{name} / {ours_name}",
                    spread(theirs_times, digits=2),
                    spread(our_times, digits=2),
                    f"{ratio:.2f}",
                ]
            )
    plain_ratios = ratios[:4]
    verdicts = (
        []
        if smoke
        else [
            f"`--workers 0` against plain pytest, with and without writing results, either configuration: "
            f"{min(plain_ratios):.2f} to {max(plain_ratios):.2f} times its wall time (target: at most "
            f"{PLAIN_LIMIT:.2f}): " + ("met" if max(plain_ratios) <= PLAIN_LIMIT else "missed"),
            f"`--workers 2` against `pytest -n 2`: {ratios[4]:.2f} times its wall time (target: at most "
            f"{XDIST_LIMIT:.2f}): " + ("met" if ratios[4] <= XDIST_LIMIT else "missed"),
        ]
    )
    return Section(
        "8. A public suite",
        f"The sdist of {SDIST}, its own tests minus `tests/test_version.py` and two order-dependent tests "
        "(12,677 quick tests; all pass), run from its folder with its own configuration (`filterwarnings = "
        "error`, `--strict-config`, `-p no:legacypath -p no:tmpdir`, ...) and from a copy of its tests beside an "
        'empty `pytest.ini` (with `-m "not property"`, as its own configuration has); with each test\'s result '
        "written, pytest's `--junitxml` against the runner's "
        "`--metrics-file`. Wall seconds of the whole command, start-up included, median (min-max) of "
        f"{reps} runs taken in turn; the ratio is the median of the paired ratios.",
        ["workers", "configuration", "baseline / ours", "baseline s", "runner --once s", "runner / baseline"],
        rows,
        verdicts,
    )
