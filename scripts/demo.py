"""The demo: start the Reservations Service on loopback and run the journeys against it.

Run through ``scripts/demo``, which sets up ``.venv`` first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Start the target, run the journeys once against it, and keep it serving until Ctrl-C."""
    log_dir = REPO_ROOT / ".demo"
    log_dir.mkdir(exist_ok=True)
    log_path = log_dir / "target.log"
    with log_path.open("wb") as log:
        target = subprocess.Popen(
            [sys.executable, "-m", "target_service", "--port", "0"], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        url = _wait_for_url(log_path, target)
        print(f"Reservations Service: {url} (faults: seed; logs in {log_path})", flush=True)
        subprocess.run([sys.executable, "-m", "pytest", "journeys", "-v"], env={**os.environ, "TARGET_URL": url})
        print("Press Ctrl-C to stop.", flush=True)
        target.wait()
    except KeyboardInterrupt:
        pass
    finally:
        target.terminate()
        target.wait(10)
    return 0


def _wait_for_url(log_path: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        match = re.search(r"listening on (\S+)", log_path.read_text())
        if match:
            return match.group(1)
        if process.poll() is not None:
            raise SystemExit(f"the target service exited early; see {log_path}")
        time.sleep(0.05)
    raise SystemExit(f"the target service did not start within 20 s; see {log_path}")


if __name__ == "__main__":
    sys.exit(main())
