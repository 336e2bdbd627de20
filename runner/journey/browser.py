"""Browser journeys: pytest-playwright's ``page`` fixture with the system's Chromium, traced, with evidence.

Registered through the ``pytest11`` entry point ``synthetic_monitor_browser``; it acts only where a journey asks
for a browser. pytest-playwright is optional, the ``browser`` extra: ``pip install 'synthetic-monitor[browser]'``.

- Without pytest-playwright (or under ``-p no:playwright``) no Playwright module is imported, and stand-ins for
  its fixtures (``page``, ``context``, ``browser`` ...) fail a browser journey's setup with one line saying what
  to install. A suite's or another plugin's fixture of the same name is used instead of the stand-in.
- The browser is the system's Chromium (env ``SYNTHETIC_CHROMIUM``, else ``chromium``, ``chromium-browser``,
  ``google-chrome`` ... on PATH), so no browser download is needed; as root it runs with ``--no-sandbox``.
  These settings go onto pytest-playwright's ``browser_type_launch_args`` value as it is made, so they apply
  whatever order plugins load in, and a journey suite that sets its own ``executable_path`` or ``channel``
  keeps it. Without any Chromium, a browser journey fails with one line saying so.
- The page's requests to the service under observation (``target_url``'s origin) carry the journey run's
  trace context, a span id per request, like the ``http`` fixture's.
- Each page's Core Web Vitals (LCP, FCP, CLS, TTFB, INP) are measured in the browser (``runner.journey.vitals``).
- Under the runner (``--synthetic-artifacts DIR``), a browser journey whose call fails leaves a screenshot
  (PNG) and the page's URL; the runner keeps the latest failure's and serves them.
"""

from __future__ import annotations

import inspect
import os
import shutil
import tempfile
import types
import uuid
from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit

import pytest
from _pytest.fixtures import getfixturemarker
from opentelemetry.trace import SpanKind

from runner.journey import tracing, vitals

CHROMIUM_ENV = "SYNTHETIC_CHROMIUM"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
ARTIFACTS_OPTION = "--synthetic-artifacts"
MAX_TEMP_CHARS = 60  # Chromium's socket goes in $TMPDIR/.org.chromium.Chromium.XXXXXX/SingletonSocket
SHORT_TEMP = "/tmp"  # noqa: S108  (only for Chromium's socket, when TMPDIR is too deep for one)
ARTIFACTS_KEY = pytest.StashKey[list[tuple[str, str]]]()  # (kind, path or URL) of the current attempt
NO_CHROMIUM = (
    "no Chromium for this browser journey: install one (Debian: apt-get install chromium) or set "
    f"{CHROMIUM_ENV}=/path/to/chromium"
)

NO_BROWSER_EXTRA = "browser journeys need the browser extra: pip install 'synthetic-monitor[browser]'"
STAND_INS = "synthetic_monitor_no_browser_extra"
# pytest-playwright's fixtures that a journey or its conftest asks for, with pytest-playwright's scopes: a suite's
# session fixture asking for a function-scoped stand-in would fail with a scope mismatch instead of the one line.
# Its generic names (base_url, device, output_path) are left to the plugins and suites that use them otherwise.
PLAYWRIGHT_FIXTURES: dict[str, Literal["session", "function"]] = {
    "page": "function",
    "context": "function",
    "new_context": "function",
    "browser": "session",
    "browser_type": "session",
    "launch_browser": "session",
    "playwright": "session",
    "browser_name": "session",
    "browser_channel": "session",
    "is_chromium": "session",
    "is_firefox": "session",
    "is_webkit": "session",
    "browser_type_launch_args": "session",
    "browser_context_args": "session",
    "connect_options": "session",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        ARTIFACTS_OPTION,
        default=None,
        help="synthetic-monitor: folder for the screenshots of failed browser journeys (set by the runner)",
    )


# Last, so that the fixtures of plugins registered in other plugins' pytest_configure are seen.
@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Without pytest-playwright, stand-ins for its fixtures that fail a browser journey saying what to install."""
    if config.pluginmanager.has_plugin("playwright"):
        return
    # Not get_plugins(): that makes a set, and a plugin may be unhashable (the runner's options are). Conftests
    # aside: their fixtures win over any plugin's anyway, and only in their own folder, where others need the line.
    plugins = [
        plugin
        for name, plugin in config.pluginmanager.list_name_plugin()
        if plugin is not None and not name.endswith("conftest.py")
    ]
    provided = provided_by_plugins(plugins, PLAYWRIGHT_FIXTURES)
    # A module, not a class: pytest would call a class's fixtures as methods, and warns of session-scoped ones.
    stand_ins = types.ModuleType(STAND_INS, "Stand-ins for pytest-playwright's fixtures: the browser extra is missing.")
    for name, scope in PLAYWRIGHT_FIXTURES.items():
        if name not in provided:
            setattr(stand_ins, name, _stand_in(scope))
    config.pluginmanager.register(stand_ins, STAND_INS)


def provided_by_plugins(plugins: Iterable[object], names: Iterable[str]) -> set[str]:
    """Which of ``names`` one of ``plugins`` defines as a fixture (pytest-playwright-asyncio's ``page``, ...).

    A stand-in registered after such a plugin would win over its fixture, so none is made for these names.
    """
    return {
        name
        for plugin in plugins
        for name in names
        # getattr_static: looking must not run a plugin's properties
        if getfixturemarker(inspect.getattr_static(plugin, name, None)) is not None
    }


def _stand_in(scope: Literal["session", "function"]) -> object:
    """A fixture that fails the test asking for it with the one line that says what to install."""

    def needs_the_browser_extra() -> NoReturn:
        pytest.fail(NO_BROWSER_EXTRA, pytrace=False)

    return pytest.fixture(needs_the_browser_extra, scope=scope)


def find_chromium(env: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    """``SYNTHETIC_CHROMIUM`` if it names an executable, else the first Chromium on PATH, else None."""
    given = env.get(CHROMIUM_ENV, "").strip()
    if given:
        return given if os.access(given, os.X_OK) else None
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def launch_settings(given: dict[str, Any], env: dict[str, str] | os._Environ[str] = os.environ) -> dict[str, Any]:
    """pytest-playwright's launch arguments with the system's Chromium (``SYNTHETIC_CHROMIUM`` as given, even
    when it names nothing, so that the launch fails and says so); without one, Playwright's own browser."""
    settings = dict(given)
    if "executable_path" not in settings and "channel" not in settings:
        chromium = env.get(CHROMIUM_ENV, "").strip() or find_chromium(env)
        if chromium:
            settings["executable_path"] = chromium
    args = list(settings.get("args") or [])
    if os.geteuid() == 0 and "--no-sandbox" not in args:
        args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
    if "--disable-dev-shm-usage" not in args:
        args.append("--disable-dev-shm-usage")  # containers give /dev/shm 64 MiB, too little for a renderer
    settings["args"] = args
    temp = tempfile.gettempdir()
    if "env" not in settings and len(temp) > MAX_TEMP_CHARS and os.access(SHORT_TEMP, os.W_OK):
        # Chromium makes its singleton socket in TMPDIR; under a deep folder (the cycle's, inside a deep TMPDIR)
        # the path passes the 108 bytes a socket's may have and the browser dies at launch.
        settings["env"] = {**os.environ, "TMPDIR": SHORT_TEMP}
    return settings


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    value = yield
    if fixturedef.argname == "browser_type_launch_args" and isinstance(value, dict):
        if (request.getfixturevalue("browser_name") or "chromium") == "chromium":
            settings = launch_settings(value)
            value.clear()  # the cached value is this very dict: change it in place
            value.update(settings)
    elif fixturedef.argname == "context" and hasattr(value, "route"):
        origin = _origin(str(request.getfixturevalue("target_url")))
        value.route(lambda url: _origin(url) == origin, _traced)
        vitals.observe(value, request.node)
    return value


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _traced(route: Any) -> None:
    """Let a page's request to the service go on with the journey run's trace context, in a span of its own."""
    request = route.request
    headers = dict(request.headers)
    with tracing.span(f"{request.method} {urlsplit(request.url).path or '/'}", SpanKind.CLIENT) as span:
        span.set_attribute("http.request.method", request.method)
        tracing.inject(headers)
        route.continue_(headers=headers)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[ARTIFACTS_KEY] = []  # every attempt starts without evidence
    vitals.start(item)  # and without Web Vitals


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "setup" and report.failed and call.excinfo is not None:
        problem = missing_browser(str(call.excinfo.value))
        if problem:
            report.longrepr = problem  # one line instead of Playwright's advice to download a browser
    folder = item.config.getoption(ARTIFACTS_OPTION, None)
    page = getattr(item, "funcargs", {}).get("page")
    if folder and report.when == "call" and report.failed and page is not None:
        item.stash[ARTIFACTS_KEY] = _evidence(page, Path(folder))
    if report.when == "call":
        vitals.collect(item, report)  # before teardown closes the pages
    return report


def missing_browser(error: str, env: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """The one line for a browser journey that could not start for want of the extra or a browser, else ''."""
    if error == NO_BROWSER_EXTRA:
        return NO_BROWSER_EXTRA  # the stand-in's: the line alone, as the runner shows a missing Chromium's
    if "executable doesn't exist" not in error.lower():
        return ""
    given = env.get(CHROMIUM_ENV, "").strip()
    return f"{CHROMIUM_ENV}={given}: no such executable" if given else NO_CHROMIUM


def _evidence(page: Any, folder: Path) -> list[tuple[str, str]]:
    """A screenshot of the page as the failure left it, and its URL; what cannot be had is left out."""
    found: list[tuple[str, str]] = []
    try:
        found.append(("page", str(page.url)))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4().hex}.png"
        page.screenshot(path=str(path), timeout=5000)
        found.append(("screenshot", str(path)))
    except Exception:  # noqa: S110  (a closed page or a crashed browser: the failure itself is reported)
        pass
    return found


def artifacts(item: pytest.Item) -> list[tuple[str, str]]:
    """The evidence the journey's current attempt left: ``[("page", url), ("screenshot", path)]`` or []."""
    return item.stash.get(ARTIFACTS_KEY, [])
