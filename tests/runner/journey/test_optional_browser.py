"""The browser extra: without it no Playwright loads, and a browser journey fails saying what to install.

Installed, pytest-playwright acts in every pytest run of its environment, so a user's suite that never uses a
browser must not get it with synthetic-monitor. ``-p no:playwright`` stands for the extra being absent here, as
.venv has it (the lock's dev.txt).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import types
from importlib.metadata import requires
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from runner.journey.browser import NO_BROWSER_EXTRA, missing_browser, provided_by_plugins
from tests.processes import REPO_ROOT, journeys, require_module

WITHOUT_EXTRA = ("-p", "no:playwright")
PLAYWRIGHT_DISTRIBUTIONS = {"pytest-playwright", "playwright"}
# pytest.ini makes the folder the rootdir, so its conftest.py has the rootdir's (empty) node id, as plugins do.
SUITE = {
    "pytest.ini": "[pytest]\n",
    "conftest.py": """
        import pytest

        @pytest.fixture(scope="session")
        def signed_in(browser):
            return browser
    """,
    "test_booking.py": """
        def test_guest_books_a_table(page):
            page.goto("http://127.0.0.1:9/book")

        def test_member_sees_their_bookings(signed_in):
            pass

        def test_the_sum_is_right():
            assert 1 + 1 == 2
    """,
}
OWN_PAGE = """
    import pytest

    @pytest.fixture
    def page():
        return "the suite's page"
"""
USES_PAGE = """
    def test_the_page_is_the_suites(page):
        assert page == "the suite's page"
"""
# Runs pytest in this process and prints, last, which Playwright modules that imported.
PROBE = (
    "import sys, pytest; code = pytest.main(sys.argv[1:]); "
    "print(sorted({name.partition('.')[0] for name in sys.modules} & {'playwright', 'pytest_playwright'})); "
    "sys.exit(code)"
)


def run_pytest(folder: Path, *args: str, probe: bool = False) -> subprocess.CompletedProcess[str]:
    """Plain pytest with this environment's plugins in ``folder``, in a process of its own."""
    command = ["-c", PROBE] if probe else ["-m", "pytest"]
    return subprocess.run(
        [sys.executable, *command, "-p", "no:cacheprovider", "-p", "no:randomly", "-rA", *args],
        cwd=folder,  # what pytest runs when no path is given, and where -p finds a suite's own plugin module
        capture_output=True,
        text=True,
        timeout=120,
    )


def setup_errors(output: str) -> dict[str, list[str]]:
    """{test: the lines pytest printed for its error at setup}, from the ERRORS section of ``output``."""
    errors: dict[str, list[str]] = {}
    lines: list[str] | None = None
    for line in output.splitlines():
        if header := re.fullmatch(r"_+ ERROR at setup of (\S+) _+", line):
            lines = errors.setdefault(header[1], [])
        elif line.startswith("="):
            lines = None
        elif lines is not None and line.strip():
            lines.append(line)
    return errors


def test_without_the_extra_browser_journeys_fail_in_one_line_and_the_others_pass(tmp_path: Path) -> None:
    done = run_pytest(journeys(tmp_path, SUITE), *WITHOUT_EXTRA)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "PASSED test_booking.py::test_the_sum_is_right" in done.stdout
    # A suite's session fixture asking for a browser gets the same line, not a scope mismatch.
    assert setup_errors(done.stdout) == {
        "test_guest_books_a_table": [NO_BROWSER_EXTRA],
        "test_member_sees_their_bookings": [NO_BROWSER_EXTRA],
    }, done.stdout


@pytest.mark.parametrize(
    ("module", "args"),
    [("conftest.py", ()), ("own_plugin.py", ("-p", "own_plugin"))],
    ids=["conftest", "plugin"],
)
def test_a_suites_own_page_fixture_is_used_instead_of_the_stand_in(
    tmp_path: Path, module: str, args: tuple[str, ...]
) -> None:
    folder = journeys(tmp_path, {"pytest.ini": "[pytest]\n", module: OWN_PAGE, "test_page.py": USES_PAGE})
    done = run_pytest(folder, *WITHOUT_EXTRA, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASSED test_page.py::test_the_page_is_the_suites" in done.stdout


def test_a_folders_own_page_fixture_leaves_the_stand_in_to_the_other_folders(tmp_path: Path) -> None:
    for name in ("own", "other"):
        (tmp_path / "journeys" / name).mkdir(parents=True)
    files = {
        "own/conftest.py": OWN_PAGE,
        "own/test_page.py": USES_PAGE,
        "other/test_booking.py": SUITE["test_booking.py"],
    }
    folder = journeys(tmp_path, {"pytest.ini": "[pytest]\n", **files})
    # Named on the command line, own/conftest.py is loaded before the stand-ins are made.
    done = run_pytest(folder, "own", "other", *WITHOUT_EXTRA)
    assert "PASSED own/test_page.py::test_the_page_is_the_suites" in done.stdout, done.stdout
    assert setup_errors(done.stdout)["test_guest_books_a_table"] == [NO_BROWSER_EXTRA], done.stdout


@pytest.mark.parametrize(
    ("args", "loaded"),
    [(WITHOUT_EXTRA, "[]"), ((), "['playwright', 'pytest_playwright']")],
    ids=["without-extra", "with-extra"],
)
def test_without_the_extra_a_suite_that_uses_no_browser_imports_no_playwright(
    tmp_path: Path, args: tuple[str, ...], loaded: str
) -> None:
    if not args:  # the probe's control: with the extra, it sees Playwright
        require_module("pytest_playwright", "the browser extra (pip install -e '.[browser]')")
    folder = journeys(tmp_path, {"pytest.ini": "[pytest]\n", "test_sum.py": "def test_sum():\n    assert 1 + 1 == 2\n"})
    done = run_pytest(folder, *args, probe=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == loaded, done.stdout


@pytest.mark.slow
def test_under_the_runner_a_browser_journey_without_the_extra_is_one_error_line(tmp_path: Path) -> None:
    folder = journeys(tmp_path, SUITE)
    done = subprocess.run(
        [sys.executable, "-m", "runner", "--once", "--journeys", str(folder)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTEST_ADDOPTS": " ".join(WITHOUT_EXTRA)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    table = [line.strip() for line in done.stdout.splitlines() if not line.startswith("{")]
    # page is function-scoped: an error; signed_in needs the session-scoped browser, whose failure blocks it.
    assert [line for line in table if "browser extra" in line] == [
        f"error: {NO_BROWSER_EXTRA}",
        f"blocked: fixture 'browser' (session) failed: {NO_BROWSER_EXTRA}",
    ], table
    assert any(line.startswith("passed") and line.endswith("test_the_sum_is_right") for line in table), table


def test_the_installed_package_asks_for_playwright_only_with_the_browser_extra() -> None:
    asked = [Requirement(text) for text in requires("synthetic-monitor") or []]
    playwright = [found for found in asked if canonicalize_name(found.name) in PLAYWRIGHT_DISTRIBUTIONS]
    with_extras = {
        extra
        for found in playwright
        for extra in ("", "dev", "browser")
        if found.marker is None or found.marker.evaluate({"extra": extra})
    }
    assert with_extras == {"browser"}, f"{playwright}: if pyproject.toml says otherwise, run scripts/setup.sh"


def test_the_stand_in_says_what_to_install_in_one_line() -> None:
    assert missing_browser(NO_BROWSER_EXTRA, {}) == NO_BROWSER_EXTRA
    assert "\n" not in NO_BROWSER_EXTRA and "pip install 'synthetic-monitor[browser]'" in NO_BROWSER_EXTRA


class PluginWithProperty:
    """A plugin object whose attribute is a property that must not run."""

    @property
    def context(self) -> object:
        raise AssertionError("looking for fixtures ran a plugin's property")


def test_only_fixtures_that_no_plugin_provides_get_a_stand_in() -> None:
    plugin = types.ModuleType("async_browser")
    plugin.page = pytest.fixture(lambda: "the plugin's page")  # type: ignore[attr-defined]
    plugin.browser = "not a fixture"  # type: ignore[attr-defined]
    found = provided_by_plugins([plugin, PluginWithProperty()], ["page", "browser", "context"])
    assert found == {"page"}
