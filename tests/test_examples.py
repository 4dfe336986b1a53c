"""Every script in examples/ runs to the end and prints what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: What each example must print (a regular expression per line of interest).
EXPECTED = {
    "own_model.py": [r"run: converged", r"attn\[0\] +eta_h=", r"baseline h0", r"FitResult\(eta_h="],
    "seed_sweep.py": [r"median relative error on seeds \[4, 5, 6, 7\]: theory [\d.]+, baseline h0"],
    "load_results.py": [r"mean eta_h over seeds", r"status: \[", r"epoch units: optimisation steps",
                        r"architecture of seed 2: default"],
    "token_transformer.py": [r"dx2 = \d+ \(one-hot\)", r"pool: eta_h=\S+ eta_y=\S+ \(1 / step\), R2 h=",
                             r"atlas: squared distance of the outputs of the model's 'embed'",
                             r"encoder +good fits: same [\d.]+, different [\d.]+; final distance Spearman: theory "],
    "image_cnn.py": [r"'one' -> 0, 'two' -> 1, 'zero' -> 2", r"reached the model as images: \(300, 1, 28, 28\)",
                     r"rates in 1 / optimisation step", r"block2 +good fits"],
    "own_file_model.py": [r"\$ repdyn run two-point --model \S+residual_mlp.py:make", r"trials read back",
                          r"blocks.2 +\S+ +\S+", r"eta_h in 1 / optimisation step, 4 steps per epoch"],
}


def test_every_example_is_tested():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs(name, tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for pattern in EXPECTED[name]:
        assert re.search(pattern, done.stdout), f"{name} did not print {pattern!r}:\n{done.stdout}"
