"""Research probe: do the measured kernel rates set the theory's shape but not its clock?

Run (after ``probe_kernel_rates.py``): ``python benchmarks/probe_kernel_clock.py [--probe results/kernel-probe]``.

For every network the probe recorded, reads its run (``<network>.npz``, the
``PairTracking.to_dict`` of the run) and compares, against the measured
trajectory (worst R^2 over h, y, w):

- the zero-fit theory (``solve_varying`` with the kernel rates);
- the same with both rates divided by one constant ``c`` (one fitted
  parameter: a change of the time scale only), ``c`` chosen on a grid of 61
  values between 1/10 and 100 (log-spaced) to maximise the worst R^2;
- the final distance ``h_inf`` from the kernel rates at initialisation and
  from their time average (only the ratio of the rates enters it), beside the
  measured final ``h``, the no-change baseline ``h0`` and the fitted theory's
  ``h_inf``.

Exploratory numbers for docs/kernel-rates.md; prints a table and writes
``clock.json`` beside the probe's files.
"""

from __future__ import annotations

import argparse
import json
import pathlib


def main() -> None:
    import numpy as np

    from repdyn.theory import SolverError, VARIABLES, final_distance, r2, solve_varying

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", type=pathlib.Path, default=pathlib.Path("results/kernel-probe"))
    args = parser.parse_args()
    rows = json.loads((args.probe / "summary.json").read_text())
    out = []
    print(f"{'network':>17} {'zero-fit':>8} {'c':>6} {'rescaled':>8} {'fitted':>7} | {'h_final':>8} {'h0':>8} "
          f"{'h_inf fit':>9} {'k init':>8} {'k mean':>8}")
    for row in rows:
        data = np.load(args.probe / f"{row['network'].replace(' ', '_')}.npz")
        z = np.stack([data["h"][:, 0], data["y"], data["w"]], axis=-1)
        t = data["epochs"].astype(float)
        k = np.isfinite(data["kernel_eta_h"][:, 0])
        eta_h, eta_y, times = data["kernel_eta_h"][k, 0], data["kernel_eta_y"][k, 0], t[k]
        dx2, dy2 = float(data["dx2"]), float(data["dy2"])
        magnitude = np.abs(z).max(axis=0)
        magnitude[2] = max(magnitude[2], magnitude[1])

        def worst(scale: float) -> float:
            try:
                pred = solve_varying(z[0], t, eta_h=eta_h / scale, eta_y=eta_y / scale, dx2=dx2, dy2=dy2,
                                     rate_times=times, rtol=1e-8)  # fmt: skip
            except (SolverError, ValueError):
                return float("-inf")
            scores = [r2(z[:, i], pred[:, i], atol=1e-6 * magnitude[i]) for i in range(len(VARIABLES))]
            finite = [s for s in scores if np.isfinite(s)]
            return float(min(finite)) if finite else float("-inf")

        grid = np.logspace(-1, 2, 61)
        scores = np.array([worst(c) for c in grid])
        best = int(np.argmax(scores))
        h0, y0 = z[0, 0], z[0, 1]
        entry = {
            "network": row["network"], "zero_fit": worst(1.0), "c": float(grid[best]), "rescaled": float(scores[best]),
            "fitted": row["worst_r2"]["fitted"], "h_final": float(z[-1, 0]), "h0": float(h0),
            "h_inf_fitted": row["h_inf"]["fitted"],
            "h_inf_kernel_init": float(final_distance(h0, y0, eta_h=eta_h[0], eta_y=eta_y[0], dx2=dx2, dy2=dy2).h_inf),
            "h_inf_kernel_mean": float(final_distance(h0, y0, eta_h=eta_h.mean(), eta_y=eta_y.mean(), dx2=dx2, dy2=dy2).h_inf),
            "ratio_mean_over_fitted": float((eta_h.mean() / eta_y.mean()) / (row["fitted"]["eta_h"] / row["fitted"]["eta_y"])),
        }  # fmt: skip
        out.append(entry)
        print(f"{entry['network']:>17} {entry['zero_fit']:8.3f} {entry['c']:6.2f} {entry['rescaled']:8.3f} "
              f"{entry['fitted']:7.3f} | {entry['h_final']:8.4f} {entry['h0']:8.2e} {entry['h_inf_fitted']:9.4f} "
              f"{entry['h_inf_kernel_init']:8.4f} {entry['h_inf_kernel_mean']:8.4f}", flush=True)  # fmt: skip
    (args.probe / "clock.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
