"""What the demo adds on top of the journey plugin (``runner.journey.plugin``, installed with the package).

The plugin gives every journeys folder ``target_url``, ``http``, ``step`` and the ``labels`` marker. The demo
adds a short ``--target-url`` option for its own journeys (the plugin's is ``--synthetic-target-url``, named so
that it cannot clash with a suite's own options)::

    pytest journeys --target-url http://127.0.0.1:8080
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--target-url", default=None, help="the demo's shorthand for --synthetic-target-url")


@pytest.fixture(scope="session")
def target_url(pytestconfig: pytest.Config, target_url: str) -> str:
    """The plugin's target URL, unless the demo's --target-url names another."""
    given = pytestconfig.getoption("--target-url")
    return str(given).rstrip("/") if given else target_url
