"""The layout's rules, checked on the running code: the runner's process never imports pytest, and every
module of runner/ is named in docs/architecture.md. (The import layers are import-linter's contracts in
pyproject.toml, run by scripts/test.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.processes import REPO_ROOT, free_port, journeys

# Serve, wait for a completed cycle, then look at what this (the runner's) process has imported.
WATCH = """
import json, os, signal, sys, threading, time, urllib.request
from runner.__main__ import main

def watch():
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
        except OSError:
            continue
        if 'synthetic_runs_total{status="completed"} 1.0' in body or 'status="completed"} 2.0' in body:
            break
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest", "pluggy"))
    with open(sys.argv[2], "w") as out:
        json.dump(loaded, out)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=watch, daemon=True).start()
sys.exit(main(["--port", sys.argv[1], "--interval", "1", "--journeys", sys.argv[3]]))
"""


def test_the_runners_process_serves_and_runs_cycles_without_importing_pytest(tmp_path: Path) -> None:
    folder = journeys(tmp_path, {"test_ok.py": "def test_ok():\n    pass\n"})
    seen = tmp_path / "modules.json"

    done = subprocess.run(
        [sys.executable, "-c", WATCH, str(free_port()), str(seen), str(folder)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"cycle completed"' in done.stdout, done.stdout
    assert json.loads(seen.read_text()) == []


def test_every_runner_module_is_named_in_the_architecture_doc() -> None:
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()
    modules = sorted(
        str(path.relative_to(REPO_ROOT / "runner"))
        for path in (REPO_ROOT / "runner").rglob("*.py")
        if path.name != "__init__.py" or path.parent.name == "handoff"
    )
    missing = [module for module in modules if f"`{module}`" not in text]
    assert missing == [], f"docs/architecture.md does not name {missing}"


def test_no_import_circle_in_runner_lazy_imports_included() -> None:
    import grimp  # noqa: PLC0415  (import-linter's graph builder, a dev dependency)

    graph = grimp.build_graph("runner")  # every import statement, those inside functions too
    circles = sorted(
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if importer < imported and graph.chain_exists(importer=imported, imported=importer)
    )
    assert circles == []
