"""The images, built by scripts/container-build once per test process (the tests using them are slow).

``--dist loadgroup`` would keep these tests on one xdist worker, but pytest-xdist 3.8 groups nothing under
pytest 9.2 (pytest-dev/pytest-xdist#1386), so under ``-n 2`` both workers may build: the script's lock makes
the second wait for the first and find every layer cached.
"""

from __future__ import annotations

import pytest

from tests.container.podman import IMAGES, build_images, image_id, require_container_tools


@pytest.fixture(scope="session")
def images() -> dict[str, str]:
    """Build the four images (quick when nothing changed); {repository: image id} of their :dev tags."""
    require_container_tools()
    result = build_images()
    assert result.returncode == 0, f"scripts/container-build failed:\n{result.stdout}{result.stderr}"
    return {image: image_id(f"{image}:dev") for image in IMAGES}
