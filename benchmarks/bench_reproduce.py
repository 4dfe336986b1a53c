"""Calibrated run time of ``repdyn reproduce --profile quick`` from an empty cache.

Run: ``python benchmarks/bench_reproduce.py [--profile quick] [--workers 2]``.

Machines here vary 2-3x in speed from day to day, so a wall-clock time alone
says little. The reference is the plain PyTorch loop of
``bench_trials.py`` (the paper's default network, 1000 epochs, one thread),
timed in a fresh process just before and just after the reproduction; the
result is the reproduction's wall time divided by the mean of the two loop
times. Goal: at most 70 (about 15 minutes where the loop takes 13 s). Also
prints each experiment's wall time from the report. Not a test: it prints
numbers and PASS/FAIL, and never fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 70.0
HERE = Path(__file__).resolve().parent


def _reference_loop_seconds(epochs: int) -> float:
    # Imported by name (not from a file spec) so the spawned child can unpickle its function.
    sys.path.insert(0, str(HERE))
    import bench_trials

    return float(bench_trials._in_child(bench_trials.plain_trial, epochs)["wall"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=1000, help="epochs of the reference loop")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the reproduction here (must not exist yet: the cache must start empty)")
    args = parser.parse_args()

    before = _reference_loop_seconds(args.epochs)
    print(f"reference plain loop ({args.epochs} epochs, 1 thread), before: {before:.1f} s", flush=True)
    if args.out is not None and args.out.exists():
        raise SystemExit(f"--out {args.out} exists; name a new directory (the run must start from an empty cache)")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out if args.out is not None else Path(tmp) / "reproduce"
        command = [str(Path(sys.executable).with_name("repdyn")), "reproduce", "--profile", args.profile,
                   "--out", str(out)]
        if args.workers is not None:
            command += ["--workers", str(args.workers)]
        start = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if completed.returncode != 0:
            print(completed.stdout[-2000:], completed.stderr[-4000:], sep="\n")
            raise SystemExit(f"reproduce failed with exit code {completed.returncode}")
        seconds = {path.parent.name: json.loads(path.read_text()).get("seconds", float("nan"))
                   for path in sorted(out.glob("*/summary.json"))}
        print(completed.stdout.splitlines()[-1])
    after = _reference_loop_seconds(args.epochs)
    print(f"reference plain loop, after: {after:.1f} s")
    reference = (before + after) / 2
    for name, value in seconds.items():
        print(f"  {name:16s} {value:7.1f} s")
    ratio = wall / reference
    verdict = "PASS" if ratio <= GOAL else "FAIL"
    print(f"reproduce --profile {args.profile}: {wall:.0f} s wall = {ratio:.1f} x the reference loop "
          f"(goal <= {GOAL:g}) {verdict}")


if __name__ == "__main__":
    main()
