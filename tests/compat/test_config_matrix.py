"""Every test gets the outcome plain pytest gives it, whatever the pytest configuration, with 0 and 2 workers.

Each project below is a small suite with a configuration that once broke the runner or could: strict
settings, built-in plugins disabled, other import modes, doctests, unittest, hypothesis, asyncio, scoped
fixtures, conftest hooks that reorder and deselect. Plain pytest and ``synthetic-monitor --once`` run it
from its own folder; their outcomes must agree test by test.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.compat.support import differences, install_beside, plain_pytest, runner_once

pytestmark = pytest.mark.slow

MIXED = """
    import warnings
    import pytest

    def test_passes():
        assert True

    def test_fails():
        assert 1 == 2

    def test_skips():
        pytest.skip("not here")

    @pytest.mark.xfail(reason="known")
    def test_xfails():
        assert False

    @pytest.mark.xfail(reason="fixed")
    def test_xpasses():
        pass

    def test_warns_under_error_filter():
        warnings.warn("deprecated", DeprecationWarning)
"""

# Plugins a project needs that the environment does not have: installed beside it, pinned.
PLUGINS = {"asyncio": ("pytest-asyncio==1.5.0",)}

PROJECTS: dict[str, dict[str, str]] = {
    # The first breakage seen: plugins imported before the assertion rewriter, under filterwarnings = error.
    "filterwarnings-error": {
        "pytest.ini": "[pytest]\nfilterwarnings =\n    error\n",
        "test_mixed.py": MIXED,
    },
    # The second: built-in plugins the runner leaned on, switched off in addopts (pyproject.toml).
    "builtin-plugins-off": {
        "pyproject.toml": """
            [tool.pytest.ini_options]
            addopts = ["-p", "no:legacypath", "-p", "no:tmpdir", "-p", "no:cacheprovider", "-p", "no:logging",
                       "-p", "no:warnings", "-p", "no:capture", "-p", "no:junitxml", "-p", "no:doctest",
                       "-p", "no:timeout", "-p", "no:xdist", "-p", "no:randomly", "--strict-config"]
            testpaths = ["tests"]
        """,
        "tests/test_mixed.py": MIXED,
        "elsewhere/test_not_in_testpaths.py": "def test_never_collected():\n    assert False\n",
    },
    "strict-and-importlib": {
        "setup.cfg": """
            [tool:pytest]
            addopts = --strict-markers --strict-config --import-mode=importlib -ra
            xfail_strict = true
            markers =
                critical: journeys that page
        """,
        "a/test_same.py": "import pytest\n\n@pytest.mark.critical\ndef test_in_a():\n    pass\n",
        "b/test_same.py": "import pytest\n\n@pytest.mark.xfail(reason='strict')\ndef test_xpass_fails():\n    pass\n",
    },
    "doctests-and-unittest": {
        "tox.ini": "[pytest]\naddopts = --doctest-modules\n",
        "calc.py": '''
            def add(a, b):
                """
                >>> add(1, 2)
                3
                """
                return a + b

            def sub(a, b):
                """
                >>> sub(3, 1)
                5
                """
                return a - b
        ''',
        "test_unit.py": """
            import unittest

            class TestAccount(unittest.TestCase):
                @classmethod
                def setUpClass(cls):
                    cls.balance = 10

                def test_balance(self):
                    self.assertEqual(self.balance, 10)

                def test_overdraft(self):
                    self.assertGreater(self.balance, 100)

                @unittest.skip("later")
                def test_skipped(self):
                    pass

                @unittest.expectedFailure
                def test_expected_failure(self):
                    self.assertEqual(1, 2)
        """,
    },
    "hypothesis": {
        "pytest.ini": "[pytest]\nfilterwarnings =\n    error\n",
        "test_props.py": """
            from hypothesis import given, settings, strategies as st

            @settings(max_examples=20, database=None)
            @given(st.integers())
            def test_int_roundtrip(n):
                assert int(str(n)) == n

            @settings(max_examples=20, database=None)
            @given(st.integers(min_value=0))
            def test_false_property(n):
                assert n < 5
        """,
    },
    "asyncio": {
        "pytest.ini": "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n",
        "test_async.py": """
            import asyncio
            import pytest

            @pytest.fixture(scope="module")
            async def connection():
                await asyncio.sleep(0)
                yield "connected"

            async def test_async_passes(connection):
                assert connection == "connected"

                await asyncio.sleep(0)

            async def test_async_fails():
                await asyncio.sleep(0)
                assert False
        """,
    },
    "fixtures-conftests-and-hooks": {
        "pytest.ini": "[pytest]\naddopts = -p no:cacheprovider\n",
        "conftest.py": """
            import pytest

            @pytest.fixture(scope="session")
            def session_value():
                yield 41

            def pytest_collection_modifyitems(config, items):
                deselected = [item for item in items if "drop_me" in item.name]
                if deselected:
                    config.hook.pytest_deselected(items=deselected)
                    items[:] = [item for item in items if item not in deselected]
                items.reverse()
        """,
        "pkg/conftest.py": """
            import pytest

            @pytest.fixture
            def session_value(session_value):
                return session_value + 1

            @pytest.fixture(scope="module")
            def broken_module_fixture():
                raise RuntimeError("no database")
        """,
        "pkg/test_scopes.py": """
            import pytest

            def test_overridden_fixture(session_value):
                assert session_value == 42

            def test_drop_me():
                assert False

            def test_module_fixture_error(broken_module_fixture):
                pass

            class TestClassScope:
                @pytest.fixture(scope="class")
                def counter(self):
                    return []

                def test_first(self, counter):
                    counter.append(1)
                    assert 1 in counter

                def test_second(self, counter):
                    counter.append(2)
                    assert 3 in counter
        """,
    },
}


def make(root: Path, files: dict[str, str]) -> Path:
    project = root / "project"
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return project


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_every_test_gets_the_outcome_plain_pytest_gives_it(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, name: str, workers: int
) -> None:
    project = make(tmp_path, PROJECTS[name])
    env = {}
    if name in PLUGINS:
        env["PYTHONPATH"] = install_beside(PLUGINS[name], tmp_path_factory.getbasetemp() / f"plugins-{name}")
    plain = plain_pytest(project, tmp_path / "plain", env=env)
    assert plain.outcomes, plain.output
    ours = runner_once(project, tmp_path / "ours", workers, env=env)
    assert differences(plain.outcomes, ours.outcomes) == {}, ours.output[-3000:]
    assert "Traceback" not in ours.output, ours.output[-3000:]


@pytest.mark.parametrize("addopts", ["-x", "--maxfail=2"])
def test_exitfirst_and_maxfail_stop_where_pytest_stops(tmp_path: Path, addopts: str) -> None:
    tests = "def test_a():\n    pass\n\ndef test_b():\n    assert False\n\n"
    tests += "def test_c():\n    assert False\n\ndef test_d():\n    pass\n"
    project = make(tmp_path, {"pytest.ini": f"[pytest]\naddopts = {addopts}\n", "test_order.py": tests})
    plain = plain_pytest(project, tmp_path / "plain")
    ours = runner_once(project, tmp_path / "ours", workers=0)
    assert "test_order.py::test_d" not in ours.outcomes
    assert differences(plain.outcomes, ours.outcomes) == {}, ours.output


def test_overridden_options_change_no_outcome_are_logged_once_and_write_nothing(tmp_path: Path) -> None:
    addopts = "--lf --sw --pdb -n 2 --dist loadgroup --junitxml=report.xml"
    project = make(tmp_path, {"pytest.ini": f"[pytest]\naddopts = {addopts}\n", "test_mixed.py": MIXED})
    ours = runner_once(project, tmp_path / "ours", workers=0)
    assert sorted(path.name for path in project.iterdir()) == ["pytest.ini", "test_mixed.py"]
    for flag in ("--pdb", "--last-failed", "--stepwise", "-n/--numprocesses", "--junitxml"):
        assert ours.output.count(f"pytest option {flag} is ignored") == 1, ours.output
    plain = plain_pytest(project, tmp_path / "plain", args=("-o", "addopts="))  # as if they were not there
    assert differences(plain.outcomes, ours.outcomes) == {}, ours.output


@pytest.mark.parametrize(
    ("addopts", "flag"),
    [("--collect-only", "--collect-only"), ("--setup-plan", "--setup-plan"), ("--fixtures", "--fixtures")],
)
def test_options_that_would_run_nothing_are_refused_with_one_line(tmp_path: Path, addopts: str, flag: str) -> None:
    files = {"pytest.ini": f"[pytest]\naddopts = {addopts}\n", "test_a.py": "def test_a():\n    pass\n"}
    project = make(tmp_path, files)
    ours = runner_once(project, tmp_path / "ours", workers=0)
    assert ours.returncode == 2
    lines = ours.output.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and lines[0].startswith("synthetic-monitor: error:"), ours.output
