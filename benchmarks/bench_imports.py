"""Start-up time of the command line and of ``import repdyn.theory``.

Run: ``python benchmarks/bench_imports.py [--repeats 5]``.

Each command runs in a fresh interpreter, best of ``--repeats``; the baseline
is a bare ``python -c pass`` measured in the same run, so the printed ratio
says how much repdyn adds to an interpreter's own start-up on this machine.
Goals (absolute, from the issue that set them): ``repdyn --help`` and
``repdyn list`` under 1 s, ``import repdyn.theory`` under 0.5 s. Not a test:
it prints numbers and PASS/FAIL, and never fails.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPDYN = str(Path(sys.executable).with_name("repdyn"))
CASES = (
    ("python -c pass (baseline)", [sys.executable, "-c", "pass"], None),
    ("import repdyn.theory", [sys.executable, "-c", "import repdyn.theory"], 0.5),
    ("repdyn --help", [REPDYN, "--help"], 1.0),
    ("repdyn list", [REPDYN, "list"], 1.0),
)


def best_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    baseline = None
    for label, command, goal in CASES:
        seconds = best_seconds(command, args.repeats)
        baseline = seconds if baseline is None else baseline
        verdict = "" if goal is None else (" PASS" if seconds < goal else " FAIL") + f" (goal < {goal:g} s)"
        print(f"{label:28s} {seconds:6.3f} s  {seconds / baseline:5.1f} x baseline{verdict}")


if __name__ == "__main__":
    main()
