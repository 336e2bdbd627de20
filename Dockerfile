# The synthetic monitor: the runner with the journeys and their fixtures. From the repository root:
#   docker build -t synthetic-monitor .
# With no registry, scripts/container-build builds it on a base made from Debian's packages (BASE_IMAGE).
# It runs as user 10001 and works on a read-only root filesystem: a cycle's temporary files go to /tmp,
# which must then be writable (docker run --read-only --tmpfs /tmp). A folder mounted over /app/journeys
# replaces the built-in journeys. Browser journeys use the image's Chromium. More in docs/containers.md.
ARG BASE_IMAGE=python:3.11-slim

# The virtual environment, from the lock (hashes checked): requirements/runtime.txt is the dependencies and
# the browser extra (pytest-playwright), so the image runs browser journeys. Then the project, built with the
# locked setuptools and installed without its dependencies, all in the lock. target_service/Dockerfile has the
# same stage, so the second build takes it from the cache.
FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY requirements/runtime.txt requirements/build.txt /src/requirements/
# pip-cert: a CA bundle for an index reached through a TLS-intercepting proxy (--secret id=pip-cert,src=FILE).
# A secret is mounted for this step only, so no layer keeps it; without one pip trusts its own CAs.
RUN --mount=type=secret,id=pip-cert \
    if [ -s /run/secrets/pip-cert ]; then export PIP_CERT=/run/secrets/pip-cert; fi \
    && python3 -m venv /opt/venv \
    && python3 -m venv /opt/build \
    && /opt/venv/bin/pip install --quiet --require-hashes -r /src/requirements/runtime.txt \
    && /opt/build/bin/pip install --quiet --require-hashes -r /src/requirements/build.txt
COPY pyproject.toml README.md /src/
COPY runner/ /src/runner/
COPY target_service/ /src/target_service/
RUN /opt/build/bin/pip wheel --quiet --no-deps --no-build-isolation --wheel-dir /src/dist /src \
    && /opt/venv/bin/pip install --quiet --no-deps --no-index /src/dist/*.whl

FROM ${BASE_IMAGE}
# Browser journeys run on Debian's Chromium (Playwright's driver needs libatomic1); an empty
# BROWSER_PACKAGES makes an image without a browser, for suites with none. pytest-playwright is installed either
# way; PYTEST_ADDOPTS="-p no:playwright" keeps it out of the journeys' pytest runs.
ARG BROWSER_PACKAGES="chromium libatomic1"
RUN if [ -n "$BROWSER_PACKAGES" ]; then \
      apt-get update -q \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $BROWSER_PACKAGES \
      && rm -rf /var/lib/apt/lists/*; \
    fi
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN useradd --uid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin monitor
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY conftest.py ./
COPY journeys/ ./journeys/
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "__import__('urllib.request').request.urlopen('http://127.0.0.1:8000/healthz',timeout=2)"]
CMD ["synthetic-monitor", "--host", "0.0.0.0", "--port", "8000"]
