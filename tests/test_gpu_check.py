"""benchmarks/gpu_check.py end to end at its tiny CPU scale: the script a GPU session runs works.

Every phase must run and report: equality of every architecture (and every
variant with Adam) against the per-trial engine within the tolerance, a timed
batch for every architecture of the paper profile's two-point trials with the
extrapolation built from them, and fig5 reproduced through the command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from repdyn.nets import ARCHITECTURES

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_check_runs_end_to_end_on_the_cpu(tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--scale", "tiny",
         "--out", str(out), "--work", str(work), "--workers", "2"],
        capture_output=True, text=True, env=env, timeout=1200,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "gpu_check.json").read_text())

    equality = report["equality"]
    assert {row["case"] for row in equality} == set(ARCHITECTURES) | {
        f"{v}, adam" for v in ("mlp", "convolution", "skip", "dropout")}  # fmt: skip
    assert all(row["passed"] and row["worst_relative_error"] <= 1e-9 for row in equality)
    assert {row["trainer"] for row in equality} == {"batched", "functional"}

    throughput = report["throughput"]
    timed = {row["architecture"] for row in throughput["architectures"]}
    assert {"default", "convolution", "skip", "dropout", "narrow", "shallow"} <= timed
    assert all(row["epoch_ms"] > 0 and row["floor_ms"] > 0 for row in throughput["architectures"])
    fig5, everything = throughput["fig5"], throughput["paper_two_point"]
    assert fig5["trials"] == 15 * 75  # 15 networks x (50 rate trials + 25 grid points)
    # fig5 and the whole profile are timed by two calibrations (noisy on a loaded machine);
    # the bandwidth floor is a model, so fig5's part of it must lie within the whole.
    assert fig5["training_seconds"] > 0 and everything["training_seconds"] > 0
    assert 0 < fig5["floor_seconds"] <= everything["floor_seconds"]
    assert fig5["trials"] < everything["trials"] and everything["fits"] >= fig5["fits"] > 0

    reproduced = report["fig5"]
    assert reproduced["ran"] and reproduced["finished"], reproduced.get("log_tail")
    assert reproduced["stored_trials"] == 5  # smoke: one rate trial and a 2 x 2 grid
    assert (out / "fig5_summary.json").exists() and (out / "fig5_final_distance.png").exists()
    text = (out / "gpu_check.md").read_text()
    for heading in ("## Equality in float64", "## Throughput per architecture", "## Extrapolation", "## fig5"):
        assert heading in text
    assert len(list(out.iterdir())) <= 8, "the device tool brings back at most 8 files"
