# Sourced by scripts/demo and scripts/test: make .venv from the lock (requirements/dev.txt: the dependencies
# and the dev and browser extras, exact versions, hashes checked) with the project installed in it, again
# whenever the lock or pyproject.toml changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "synthetic-monitor needs Python 3.11 or newer as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if [ ! -f .venv/.installed ] || [ requirements/dev.txt -nt .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
  echo "Installing the locked tools and synthetic-monitor into .venv (once; the log is .venv/install.log)..." >&2
  # The project itself has no hash: installed on its own, without its dependencies (all in the lock) and
  # built by the locked setuptools rather than one fetched for the build.
  if ! { .venv/bin/python -m pip install --require-hashes -r requirements/dev.txt \
      && .venv/bin/python -m pip install --no-deps --no-build-isolation -e .; } > .venv/install.log 2>&1; then
    tail -n 30 .venv/install.log >&2
    echo "Installing into .venv failed; the whole log is .venv/install.log" >&2
    exit 1
  fi
  touch .venv/.installed
fi
export PATH="$PWD/.venv/bin:$PATH"
