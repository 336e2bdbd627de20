"""Real code no one here wrote: public projects' own test suites agree test by test under the runner.

Each suite is the project's sdist from the package index, fetched by the test (pinned, never vendored), run
from its own folder with its own strict pytest configuration: packaging (``filterwarnings = error``,
``--strict-config``, ``--strict-markers``, ``xfail_strict``, ``-p no:legacypath -p no:tmpdir -p no:logging``,
``--capture=sys``, ``-m 'not property'``) and click (``filterwarnings = error``, ``-m 'not stress'``
deselecting 31,000 tests). Without the index the test skips locally and fails in CI.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.compat.support import Run, differences, install_beside, pip, plain_pytest, require_index, runner_once

pytestmark = pytest.mark.slow
ORDER_DEPENDENT = "tests/test_tags.py::TestSysTags::test_linux_use_manylinux_compatible"


@dataclass(frozen=True)
class Suite:
    """A project's sdist and what its tests need beside it."""

    requirement: str
    test_requirements: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    source: str = "src"


SUITES = {
    # test_version.py alone holds 51,524 of packaging's 64,204 tests; the rest (12,680) keep CI short. One test
    # depends on the test run before it in the same process (an lru_cache it expects cleared), so it passes or
    # fails by where pytest-xdist or the runner's workers deal it; it is left out of both runs.
    "packaging": Suite(
        "packaging==26.4",
        ("pretend==1.0.9", "tomli_w==1.2.0"),
        ("--ignore=tests/test_version.py", "--deselect", ORDER_DEPENDENT),
    ),
    "click": Suite("click==8.5.1"),
}


@dataclass(frozen=True)
class Fetched:
    project: Path
    env: dict[str, str]
    plain: Run


def fetch(suite: Suite, folder: Path) -> tuple[Path, dict[str, str]]:
    """Download and unpack the sdist, install its test requirements beside it; skip (fail in CI) offline."""
    downloads = folder / "downloads"
    done = pip("download", "--no-deps", "--no-binary", ":all:", "-d", str(downloads), suite.requirement)
    require_index(done, suite.requirement)
    paths = [install_beside(suite.test_requirements, folder / "deps")] if suite.test_requirements else []
    (archive,) = downloads.glob("*.tar.gz")
    with tarfile.open(archive) as sdist:
        sdist.extractall(folder, filter="data")
    project = folder / archive.name.removesuffix(".tar.gz")
    return project, {"PYTHONPATH": os.pathsep.join([*paths, str(project / suite.source)])}


@pytest.fixture(scope="module", params=sorted(SUITES))
def fetched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Fetched:
    suite = SUITES[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    project, env = fetch(suite, folder)
    plain = plain_pytest(project, folder / "plain", suite.args, env)
    assert plain.returncode == 0 and len(plain.outcomes) > 1000, plain.output[-3000:]
    return Fetched(project, env, plain)


@pytest.mark.parametrize("workers", [0, 2])
def test_public_suite_agrees_with_plain_pytest_test_by_test(
    fetched: Fetched, workers: int, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    suite = SUITES[fetched.project.name.rsplit("-", 1)[0]]
    ours = runner_once(fetched.project, tmp_path, workers, suite.args, fetched.env)
    assert ours.returncode == 0, ours.output[-3000:]
    assert differences(fetched.plain.outcomes, ours.outcomes) == {}
    observed = sum(outcome != "none" for outcome in fetched.plain.outcomes.values())
    assert len(ours.outcomes) == observed > 1000
