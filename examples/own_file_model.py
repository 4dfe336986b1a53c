"""A model of your own file, through the command line: seeds, cache, table, figures and files as built-in ones.

``examples/models/residual_mlp.py`` holds a residual MLP with layer norm and
a factory ``make``. The same two commands a user types::

    repdyn run two-point --model examples/models/residual_mlp.py:make --trials 3 --lr 0.05 --epochs 600
    repdyn atlas --model examples/models/residual_mlp.py:make --dataset points.npz --pairs 30 --lr 0.05 --epochs 20

run here (as ``python -m repdyn``), and what they wrote is read back with
:func:`repdyn.load_run` and xarray. Runs in about 30 s on a CPU::

    python examples/own_file_model.py [OUT]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

import repdyn

MODEL = Path(__file__).resolve().parent / "models" / "residual_mlp.py"


def repdyn_command(*args: str) -> int:
    """Run ``repdyn ARGS`` and show what it prints; its exit status (0 done, 1 done but a fit failed)."""
    print("$ repdyn", " ".join(args))
    done = subprocess.run([sys.executable, "-m", "repdyn", *args], capture_output=True, text=True)
    print(done.stdout, end="")
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    return done.returncode


def main(out: Path) -> None:
    status = repdyn_command("run", "two-point", "--model", f"{MODEL}:make", "--trials", "3", "--lr", "0.05",
                            "--epochs", "600", "--executor", "local", "--out", str(out / "two-point"))
    run = repdyn.load_run(out / "two-point")
    print(f"exit status {status}; trials read back:")
    print(run.trials[["seed", "status", "eta_h", "eta_y", "r2_h", "h_final", "h_inf"]].to_string(index=False))

    # Points of two classes, named by strings, in an .npz file (repdyn maps the names to integers).
    rng = np.random.default_rng(0)
    labels = np.repeat(["left", "right"], 60)
    x = rng.normal(size=(120, 4)) + np.where(labels == "left", -1.0, 1.0)[:, None]
    np.savez(out / "points.npz", x=x, y=labels)
    repdyn_command("atlas", "--model", f"{MODEL}:make", "--dataset", str(out / "points.npz"), "--pairs", "30",
                   "--lr", "0.05", "--epochs", "20", "--out", str(out / "atlas"))
    with xr.open_dataset(out / "atlas" / "atlas.nc") as atlas:
        print(f"atlas.nc: layers {atlas.layer.values.tolist()}, eta_h in {atlas.eta_h.attrs['units']}, "
              f"{atlas.attrs['steps_per_epoch']} steps per epoch")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
