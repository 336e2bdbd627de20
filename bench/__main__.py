"""Run the benchmarks, print their tables and write docs/benchmarks.md.

.venv/bin/python -m bench                  # all of them, about 20 minutes on 2 cores
.venv/bin/python -m bench --only scale     # one or more, comma-separated
.venv/bin/python -m bench --smoke          # tiny sizes, to check they still work (CI does this)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

from bench import (
    blackbox_cost,
    browser_cost,
    cycle_cost,
    detection,
    exposition_cost,
    fidelity,
    journey_features,
    memory,
    metrics_load,
    phase_cost,
    public_suite,
    scale,
    schedule_accuracy,
    uptime_cost,
    verdict_cost,
)
from bench.support import Section
from scripts.stack import REPO_ROOT

BENCHMARKS: dict[str, Callable[[bool], Section]] = {
    "cycle_cost": cycle_cost.run,
    "scale": scale.run,
    "fidelity": fidelity.run,
    "schedule": schedule_accuracy.run,
    "memory": memory.run,
    "metrics_load": metrics_load.run,
    "detection": detection.run,
    "public_suite": public_suite.run,
    "journey_features": journey_features.run,
    "browser_cost": browser_cost.run,
    "verdict_cost": verdict_cost.run,
    "uptime_cost": uptime_cost.run,
    "phase_cost": phase_cost.run,
    "exposition_cost": exposition_cost.run,
    "blackbox_cost": blackbox_cost.run,
}


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {memory_gib:.0f} GiB, {system}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; checks the benchmarks work, measures nothing")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}"
    )
    parser.add_argument(
        "--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md", help="where to write the report"
    )
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    sections = []
    for name in names:
        print(f"running {name}...", file=sys.stderr, flush=True)
        section = BENCHMARKS[name](args.smoke)
        print(section.markdown(), flush=True)
        sections.append(section)
    header = (
        f"# Benchmarks\n\nMeasured {datetime.date.today().isoformat()} on {machine()} by `.venv/bin/python -m bench`"
        f"{' --smoke (tiny sizes: not measurements)' if args.smoke else ''}. Each figure stands beside its baseline "
        "measured in the same run. Reproduce with the same command; these machines are noisy, so compare within "
        "one run.\n\n"
    )
    notes_path = REPO_ROOT / "docs" / "benchmark-notes.md"
    notes = "\n" + notes_path.read_text() if notes_path.exists() and not args.smoke else ""
    args.output.write_text(header + "\n".join(section.markdown() for section in sections) + notes)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
