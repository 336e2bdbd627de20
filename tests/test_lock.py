"""The lock (requirements/*.txt, made by scripts/lock) agrees with pyproject.toml, checked offline.

A dependency added to or removed from pyproject.toml, or a bound that a locked version no longer meets,
fails here until ``scripts/lock`` has been run; so do a pin without a hash and a runtime import that no
runtime dependency provides (the images would start and crash). The images and .venv have the ``browser``
extra too; the dependencies without it must bring in no Playwright, and nothing may import what only the extra
provides except the browser plugin, inside its functions: a suite that never uses a browser loads none of it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = REPO_ROOT / "requirements"
PROJECT = "synthetic-monitor"
RUNTIME_PACKAGES = ("runner", "target_service")
BROWSER_PLUGIN = "runner/journey/browser.py"  # the one file that may import what only the browser extra provides
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
VIA_PROJECT = re.compile(rf"^{PROJECT} \(pyproject\.toml(::[\w.-]+)?\)$")


@dataclass(frozen=True, slots=True)
class Pin:
    """One package of a lock file: its exact version, its hashes, and what needs it (PROJECT for us)."""

    name: str
    version: Version
    hashes: tuple[str, ...]
    needed_by: frozenset[str]


def parse_lock(text: str) -> dict[str, Pin]:
    """pip-compile's output as {canonical name: Pin}."""
    pins: dict[str, Pin] = {}
    entries: list[tuple[str, str, list[str], list[str]]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if match := PIN.match(line):
            entries.append((match[1], match[2], [], []))
        elif entries and stripped.startswith("--hash="):
            entries[-1][2].append(stripped.removeprefix("--hash=").rstrip(" \\"))
        elif entries and stripped.startswith("#") and (needer := _needer(stripped)):
            entries[-1][3].append(needer)
    for name, version, hashes, needers in entries:
        needed_by = frozenset(PROJECT if VIA_PROJECT.match(n) else str(canonicalize_name(n)) for n in needers)
        pins[canonicalize_name(name)] = Pin(str(canonicalize_name(name)), Version(version), tuple(hashes), needed_by)
    return pins


def _needer(comment: str) -> str | None:
    """The package named by a '# via NAME' or '#   NAME' comment line, else None."""
    body = comment.lstrip("#")
    if body.startswith(" via "):
        return body.removeprefix(" via ").strip()
    if body.startswith("   ") and body.strip():
        return body.strip()
    return None


def lock_problems(asked: list[str], pins: dict[str, Pin]) -> list[str]:
    """What keeps ``pins`` from being the lock of the requirements ``asked``, each with what to do."""
    problems: list[str] = []
    wanted: set[str] = set()
    for text in asked:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = str(canonicalize_name(requirement.name))
        wanted.add(name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"pyproject.toml asks for {text!r}, which the lock does not pin: run scripts/lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"pyproject.toml asks for {text!r}, the lock pins {name}=={pin.version}: run scripts/lock")
        elif PROJECT not in pin.needed_by:
            problems.append(f"the lock pins {name} only for another package, not for pyproject.toml: run scripts/lock")
    for pin in pins.values():
        if PROJECT in pin.needed_by and pin.name not in wanted:
            problems.append(
                f"the lock pins {pin.name} for pyproject.toml, which no longer asks for it: run scripts/lock"
            )
        if not pin.needed_by & (set(pins) | {PROJECT}):
            problems.append(f"nothing in the lock needs {pin.name} any more: run scripts/lock")
        if not pin.hashes:
            problems.append(f"the lock has no hash for {pin.name}: run scripts/lock")
    return problems


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def asked_for(project: dict[str, Any], lock: str) -> list[str]:
    """The requirements of pyproject.toml that the lock file ``lock`` must pin."""
    base: list[str] = project["project"]["dependencies"]
    dev: list[str] = project["project"]["optional-dependencies"]["dev"]
    browser: list[str] = project["project"]["optional-dependencies"]["browser"]
    build: list[str] = project["build-system"]["requires"]
    return {"runtime": base + browser, "dev": base + dev + browser, "build": build}[lock]


def names(requirements: Iterable[str]) -> set[str]:
    """The canonical names of ``requirements``."""
    return {str(canonicalize_name(Requirement(text).name)) for text in requirements}


def needed(wanted: Iterable[str], pins: dict[str, Pin]) -> set[str]:
    """The names of ``wanted`` and of every pin they need, directly or through other pins."""
    found = set(wanted)
    while more := {pin.name for pin in pins.values() if pin.needed_by & found} - found:
        found |= more
    return found


def base_distributions() -> set[str]:
    """What installing synthetic-monitor without extras installs: its dependencies and theirs, by the lock."""
    return needed(names(pyproject()["project"]["dependencies"]), read_lock("runtime"))


def read_lock(lock: str) -> dict[str, Pin]:
    return parse_lock((REQUIREMENTS / f"{lock}.txt").read_text())


@pytest.mark.parametrize("lock", ["runtime", "dev", "build"])
def test_each_lock_file_agrees_with_pyproject(lock: str) -> None:
    assert lock_problems(asked_for(pyproject(), lock), read_lock(lock)) == []


def test_the_runtime_lock_has_the_dev_lock_versions() -> None:
    runtime, dev = read_lock("runtime"), read_lock("dev")
    assert {name: pin.version for name, pin in runtime.items()} == {name: dev[name].version for name in runtime}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda deps: [*deps, "left-pad>=1.0"], "asks for 'left-pad>=1.0', which the lock does not pin"),
        (lambda deps: [d for d in deps if not d.startswith("waitress")], "pins waitress for pyproject.toml, which"),
        (lambda deps: [*deps[1:], "pytest>=999"], "asks for 'pytest>=999', the lock pins pytest=="),
        (lambda deps: [*deps, "werkzeug>=3.0"], "pins werkzeug only for another package"),
    ],
    ids=["added", "removed", "bound-raised", "transitive-made-direct"],
)
def test_a_change_to_pyproject_that_the_lock_lacks_is_caught(change: Any, expected: str) -> None:
    asked = change(asked_for(pyproject(), "runtime"))
    problems = lock_problems(asked, read_lock("runtime"))
    assert any(expected in problem for problem in problems), problems


def test_a_pin_without_hash_or_needer_is_caught() -> None:
    pins = read_lock("runtime")
    pins["idna"] = Pin("idna", pins["idna"].version, (), frozenset({"requests"}))
    pins["left-pad"] = Pin("left-pad", Version("1.0"), ("sha256:00",), frozenset({"gone"}))
    problems = lock_problems(asked_for(pyproject(), "runtime"), pins)
    assert "the lock has no hash for idna: run scripts/lock" in problems
    assert "nothing in the lock needs left-pad any more: run scripts/lock" in problems


def test_pytest_playwright_is_an_extra_that_no_dependency_brings_in() -> None:
    project = pyproject()["project"]
    assert "pytest-playwright" not in names(project["dependencies"])
    assert names(project["optional-dependencies"]["browser"]) == {"pytest-playwright"}
    assert {"pytest-playwright", "playwright"}.isdisjoint(base_distributions())


@dataclass(frozen=True, slots=True)
class Import:
    """A top-level module a file imports; deferred inside a function, so that it runs when called, not on import."""

    module: str
    path: str
    deferred: bool


def test_the_runtime_lock_provides_every_module_the_packages_import() -> None:
    runtime = set(read_lock("runtime"))
    missing = {found.module: found.path for found in third_party_imports() if not provided(found.module) & runtime}
    assert missing == {}, f"imported at run time but not in requirements/runtime.txt (pyproject.toml): {missing}"


def test_the_packages_import_what_only_the_browser_extra_provides_only_when_a_browser_is_used() -> None:
    assert extra_import_problems(third_party_imports(), base_distributions()) == []


@pytest.mark.parametrize(
    ("path", "source", "allowed"),
    [
        (BROWSER_PLUGIN, "def launch():\n    from playwright.sync_api import sync_playwright\n", True),
        (BROWSER_PLUGIN, "if TYPE_CHECKING:\n    from playwright.sync_api import Page\n", True),
        (BROWSER_PLUGIN, "from playwright.sync_api import Page\n", False),
        ("runner/journey/plugin.py", "def launch():\n    import playwright\n", False),
        ("runner/journey/plugin.py", "import pytest_playwright\n", False),
    ],
    ids=["deferred-in-plugin", "type-checking", "on-import-in-plugin", "deferred-elsewhere", "on-import-elsewhere"],
)
def test_an_import_of_the_browser_extra_outside_a_function_of_the_browser_plugin_is_caught(
    path: str, source: str, allowed: bool
) -> None:
    problems = extra_import_problems(file_imports(path, source), base_distributions())
    assert (problems == []) is allowed, problems


def extra_import_problems(imports: Iterable[Import], base: set[str]) -> list[str]:
    """Imports of modules that the dependencies without extras do not provide, unless deferred in the plugin."""
    return [
        f"{found.path} imports {found.module}, which no dependency without extras provides: "
        f"import it only inside a function of {BROWSER_PLUGIN}, or add it to the dependencies"
        for found in imports
        if not provided(found.module) & base and not (found.deferred and found.path == BROWSER_PLUGIN)
    ]


def provided(module: str) -> set[str]:
    """The canonical names of the installed distributions that provide the top-level ``module``."""
    return {str(canonicalize_name(name)) for name in packages_distributions().get(module, [])}


def third_party_imports() -> list[Import]:
    """The third-party imports of the packages the images run, type-checking blocks aside."""
    found: list[Import] = []
    for package in RUNTIME_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            found += file_imports(str(path.relative_to(REPO_ROOT)), path.read_text())
    return found


def file_imports(path: str, source: str) -> list[Import]:
    """The third-party imports of one file, ``path`` relative to the repository."""
    return [
        Import(module.partition(".")[0], path, deferred)
        for module, deferred in _imports(ast.parse(source))
        if module.partition(".")[0] not in {*sys.stdlib_module_names, *RUNTIME_PACKAGES, "__future__"}
    ]


def _imports(tree: ast.AST, deferred: bool = False) -> list[tuple[str, bool]]:
    """(module, deferred) for each import under ``tree``, deferred when inside a function."""
    modules: list[tuple[str, bool]] = []
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            modules += _imports(ast.Module(body=node.orelse, type_ignores=[]), deferred)
            continue
        if isinstance(node, ast.Import):
            modules += [(alias.name, deferred) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append((node.module, deferred))
        modules += _imports(node, deferred or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))
    return modules


def test_the_lock_names_no_index_and_is_installed_with_hashes() -> None:
    for lock in REQUIREMENTS.glob("*.txt"):
        text = lock.read_text()
        assert "://" not in text and "--index-url" not in text and "--find-links" not in text, lock.name
    setup = (REPO_ROOT / "scripts" / "setup.sh").read_text()
    assert "pip install --require-hashes -r requirements/dev.txt" in setup
    for dockerfile in ("Dockerfile", "target_service/Dockerfile"):
        text = (REPO_ROOT / dockerfile).read_text()
        assert "pip install --quiet --require-hashes -r /src/requirements/runtime.txt" in text, dockerfile
        assert "pip install --quiet --require-hashes -r /src/requirements/build.txt" in text, dockerfile
