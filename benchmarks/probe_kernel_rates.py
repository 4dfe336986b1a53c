"""Research probe: what are the fitted constant rates in terms of measurable quantities?

Run: ``python benchmarks/probe_kernel_rates.py [--networks default tanh ...] [--width 100]
[--epochs 6000] [--every 25] [--seed 0] [--lr-scale 1] [--out results/kernel-probe]``.

``--lr-scale s`` trains at ``s`` times the table's learning rate for ``1/s``
times its epochs (and records kernels every ``every/s`` epochs): the same
gradient flow, followed with smaller steps.

Trains Table 1 networks (at width ``min(table, --width)``, their depth, gain,
learning rate, SGD, float32, the two default points, tracked layer ``L // 2``,
eval-mode measurement) with :func:`repdyn.track.track_pair` and
``kernel_every``, fits the theory's constant rates to each run
(:func:`repdyn.theory.fit`), and prints, per network,

- the fitted rates beside measured ones: the kernel rates at initialisation,
  their arithmetic time average (uniform over the kernel records), geometric
  mean, median, and the same for the step rates (common mode included), and
  the theory's normalisation ``lr / 2``;
- the diagnostics: ``|cos(v, dh)|`` and the isotropy of ``D_f`` along ``v``
  (medians over the run, and at initialisation);
- R^2 (worst over h, y, w) of: the fitted theory, the zero-fit theory with the
  measured rates (``solve_varying``), the zero-fit theory with the rates at
  initialisation held constant, the zero-fit theory with the measured step
  rates where they stay positive, hybrids with one rate fitted and the other
  measured, and the no-change baseline.

Writes ``summary.json`` and one ``<network>.npz`` (the run's ``to_dict``) to
``--out``. Not a test and not a claim: exploratory numbers for
docs/kernel-rates.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import pathlib
import time


def worst_r2(observed, predicted) -> tuple[float, dict[str, float]]:
    import numpy as np

    from repdyn.theory import VARIABLES, r2

    if predicted is None or not np.all(np.isfinite(predicted)):
        return float("nan"), {}
    magnitude = np.abs(observed).max(axis=0)
    magnitude[2] = max(magnitude[2], magnitude[1])  # w's precision is that of y's terms
    scores = {v: float(r2(observed[:, i], predicted[:, i], atol=1e-6 * magnitude[i])) for i, v in enumerate(VARIABLES)}
    finite = [s for s in scores.values() if np.isfinite(s)]
    return (min(finite) if finite else float("nan")), scores


def main() -> None:
    import numpy as np
    import torch

    from repdyn.data import two_point
    from repdyn.fast import limit_threads
    from repdyn.nets import TABLE1, build_network, get_architecture
    from repdyn.theory import SolverError, final_distance, fit, solve, solve_varying
    from repdyn.track import track_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="*", default=list(TABLE1))
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=None, help="default: the table's (6000)")
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--probes", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr-scale", type=float, default=1.0)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("results/kernel-probe"))
    args = parser.parse_args()
    limit_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    data = two_point()
    rows = []
    for name in args.networks:
        spec = get_architecture(name)
        spec = dataclasses.replace(spec, units=min(spec.units, args.width), lr=spec.lr * args.lr_scale)
        epochs = round((args.epochs or spec.epochs) / args.lr_scale)
        every = max(1, round(args.every / args.lr_scale))
        network = build_network(spec, 1, 1, seed=args.seed)
        start = time.perf_counter()
        run = track_pair(network, None, data.x, data.y, optimizer=functools.partial(torch.optim.SGD, lr=spec.lr),
                         epochs=epochs, kernel_every=every, kernel_probes=args.probes)  # fmt: skip
        seconds = time.perf_counter() - start
        np.savez(args.out / f"{spec.name.replace(' ', '_')}.npz",
                 **{k: np.asarray(v) for k, v in run.to_dict().items() if v is not None})  # fmt: skip
        inputs = run.theory_inputs()
        observed, t = inputs["observed"], inputs["t"]
        fitted = fit(**inputs)
        rows_k = np.flatnonzero(np.isfinite(run.kernel_eta_h[:, 0]))
        series = {name_: getattr(run, name_)[rows_k, 0] for name_ in
                  ("kernel_eta_h", "kernel_eta_y", "step_eta_h", "step_eta_y", "kernel_cos", "kernel_isotropy")}  # fmt: skip
        z0 = observed[0]
        consts = {"dx2": run.dx2, "dy2": run.dy2}

        def attempt(function):
            try:
                return function()
            except (SolverError, ValueError) as exc:
                print(f"  [{spec.name}] {exc}")
                return None

        zero = attempt(lambda: solve_varying(**run.zero_fit_inputs()))
        init = attempt(lambda: solve(z0, t, eta_h=series["kernel_eta_h"][0], eta_y=series["kernel_eta_y"][0], **consts))
        times = run.epochs[rows_k].astype(float)
        positive = (series["step_eta_h"] > 0) & (series["step_eta_y"] > 0)
        step = attempt(lambda: solve_varying(z0, t, eta_h=series["step_eta_h"][positive], eta_y=series["step_eta_y"][positive],
                                             rate_times=times[positive], **consts)) if positive.sum() >= 2 else None  # fmt: skip
        fitted_h = attempt(lambda: solve_varying(z0, t, eta_h=np.full(times.size, fitted.eta_h), eta_y=series["kernel_eta_y"],
                                                 rate_times=times, **consts))  # fmt: skip
        fitted_y = attempt(lambda: solve_varying(z0, t, eta_h=series["kernel_eta_h"], eta_y=np.full(times.size, fitted.eta_y),
                                                 rate_times=times, **consts))  # fmt: skip
        no_change = np.broadcast_to(z0, observed.shape)
        scores = {label: worst_r2(observed, z)[0] for label, z in (
            ("fitted", fitted.predicted), ("zero_fit", zero), ("init_const", init), ("step_varying", step),
            ("fit_eta_h_measured_eta_y", fitted_h), ("measured_eta_h_fit_eta_y", fitted_y), ("no_change", no_change))}  # fmt: skip
        zero_parts = worst_r2(observed, zero)[1]

        def summary(values):
            finite = values[np.isfinite(values)]
            pos = finite[finite > 0]
            return {"init": float(values[0]), "mean": float(finite.mean()), "median": float(np.median(finite)),
                    "gmean": float(np.exp(np.log(pos).mean())) if pos.size else float("nan"),
                    "q05": float(np.quantile(finite, 0.05)), "q95": float(np.quantile(finite, 0.95)),
                    "frac_negative": float((finite < 0).mean())}  # fmt: skip

        row = {
            "network": spec.name, "units": spec.units, "layers": spec.hidden_layers, "lr": spec.lr,
            "epochs": epochs, "seconds": seconds, "kernel_records": int(rows_k.size),
            "h0": float(z0[0]), "h_final": float(observed[-1, 0]), "y_final": float(observed[-1, 1]),
            "fitted": {"eta_h": float(fitted.eta_h), "eta_y": float(fitted.eta_y), "r2": fitted.r2},
            "measured": {k: summary(v) for k, v in series.items()},
            "abs_cos": summary(np.abs(series["kernel_cos"])),
            "worst_r2": scores, "zero_fit_r2": zero_parts,
            "h_inf": {
                "fitted": float(fitted.h_inf),
                "kernel_init": float(final_distance(z0[0], z0[1], eta_h=series["kernel_eta_h"][0],
                                                    eta_y=series["kernel_eta_y"][0], **consts).h_inf),
                "kernel_mean": float(final_distance(z0[0], z0[1], eta_h=series["kernel_eta_h"].mean(),
                                                    eta_y=series["kernel_eta_y"].mean(), **consts).h_inf),
            },
        }  # fmt: skip
        rows.append(row)
        m = row["measured"]
        print(
            f"{spec.name:>17} {spec.units:>3}x{spec.hidden_layers:<2} {seconds:6.1f}s | eta_h fit {fitted.eta_h:.3g} "
            f"init {m['kernel_eta_h']['init']:.3g} mean {m['kernel_eta_h']['mean']:.3g} gmean {m['kernel_eta_h']['gmean']:.3g} "
            f"step-mean {m['step_eta_h']['mean']:.3g} lr/2 {spec.lr / 2:.3g} | eta_y fit {fitted.eta_y:.3g} "
            f"init {m['kernel_eta_y']['init']:.3g} mean {m['kernel_eta_y']['mean']:.3g} gmean {m['kernel_eta_y']['gmean']:.3g} "
            f"step-mean {m['step_eta_y']['mean']:.3g}",
            flush=True,
        )
        print(
            f"{'':>17} worst R2: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
            + f" | |cos| med {row['abs_cos']['median']:.2f} init {row['abs_cos']['init']:.3f}"
            f" | iso med {m['kernel_isotropy']['median']:.2f} | h_inf fit {row['h_inf']['fitted']:.3g}"
            f" kinit {row['h_inf']['kernel_init']:.3g} kmean {row['h_inf']['kernel_mean']:.3g} h_final {row['h_final']:.3g}",
            flush=True,
        )
    (args.out / "summary.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
