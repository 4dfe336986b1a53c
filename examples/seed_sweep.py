"""A sweep over seeds, and an out-of-sample prediction of the final representational distance.

Eight networks of one architecture, differing only in their initial weights,
learn the same two points. The theory's rates are fitted on four of them and
averaged; for the other four the final distance is predicted from each one's
initial state alone and compared with what the network reached, beside the
baseline that nothing moves (final h = h0). Runs in under a minute on a CPU::

    python examples/seed_sweep.py [OUT]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from repdyn.runs import TwoPointConfig, two_point_trial
from repdyn.nets import get_architecture
from repdyn.sweep import results_frame, run_sweep
from repdyn.theory import final_distance

#: The Table 1 default network, narrower and shallower so that 8 trials take seconds.
ARCH = get_architecture("default").replace(units=32, hidden_layers=4, epochs=1500)
FIT_SEEDS, TEST_SEEDS = range(4), range(4, 8)


def main(out: Path) -> None:
    configs = [TwoPointConfig(arch=ARCH, seed=s) for s in (*FIT_SEEDS, *TEST_SEEDS)]
    # Cached: a second run of this script loads the trials instead of training them.
    results = run_sweep(two_point_trial, configs, store=out / "cache", executor="local",
                        progress=False)
    table = results_frame(results, configs)
    print(table[["seed", "status", "eta_h", "eta_y", "r2_h", "h0", "h_final"]].to_string(index=False))

    fit = table[table.seed.isin(FIT_SEEDS)]
    test = table[table.seed.isin(TEST_SEEDS)]
    eta_h, eta_y = fit.eta_h.mean(), fit.eta_y.mean()
    predicted = final_distance(test.h0.to_numpy(), test.y0.to_numpy(), eta_h=eta_h, eta_y=eta_y,
                               dx2=test.result_dx2.to_numpy(), dy2=test.result_dy2.to_numpy()).h_inf
    measured = test.h_final.to_numpy()
    theory_error = np.abs(predicted - measured) / measured
    baseline_error = np.abs(test.h0.to_numpy() - measured) / measured
    print(f"rates averaged over seeds {list(FIT_SEEDS)}: eta_h={eta_h:.3g}, eta_y={eta_y:.3g}")
    for seed, p, m, h0 in zip(test.seed, predicted, measured, test.h0):
        print(f"seed {seed}: final h measured {m:.4g}, theory {p:.4g}, baseline h0 {h0:.4g}")
    print(f"median relative error on seeds {list(TEST_SEEDS)}: theory {np.median(theory_error):.3f}, "
          f"baseline h0 {np.median(baseline_error):.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
