"""Load a run into pandas and xarray: the trial table and the trajectories.

Trains three small two-point networks (as ``repdyn run two-point --trials 3``
would), then reads the run directory back with :func:`repdyn.load_run` and
with plain xarray. Runs in seconds on a CPU::

    python examples/load_results.py [OUT]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import xarray as xr

import repdyn
from repdyn.experiments import RunOptions, TwoPointConfig, run_two_point
from repdyn.nets import get_architecture

ARCH = get_architecture("default").replace(units=32, hidden_layers=4, epochs=1000)


def main(out: Path) -> None:
    configs = [TwoPointConfig(arch=ARCH, seed=s) for s in range(3)]
    run_two_point(configs, RunOptions(profile="quick", out=out, executor="local", progress=False))

    run = repdyn.load_run(out)
    # pandas: one row per trial, config columns (arch_units, ...) beside fitted rates, R^2 and the verdict.
    trials = run.trials
    columns = ["seed", "arch_units", "status", "eta_h", "eta_y", "r2_h", "quality", "h_final", "h_inf"]
    print(trials[columns].to_string(index=False))
    print("mean eta_h over seeds:", trials.eta_h.mean())

    # xarray: trajectories over (seed, epoch) (the seeds name the trials), with units and long names.
    ds = run.trajectories
    h = ds.h.sel(seed=1)
    print(f"{ds.h.attrs['long_name']} of seed 1: {float(h[0]):.4g} -> {float(h[-1]):.4g}")
    print("largest gap between network and theory (h):", float(abs(ds.h - ds.theory_h).max()))

    # The same file, read by plain xarray without repdyn: strings, attributes and the seed index are there.
    with xr.open_dataset(out / "trials.nc") as plain:
        print("status:", plain.status.values.tolist(), "| epoch units:", plain.epochs.attrs["units"])
        print("architecture of seed 2:", plain.arch.sel(seed=2).item())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
