"""Research probe: the encoder's measured tangent kernel as the N-point prediction's kernel.

Run: ``python benchmarks/probe_tangent_structure.py [--profile quick] [--roles low high] [--out results/tk]``.

For the MNIST network of fig9 and the context-task networks of fig8 (the
``profile``'s trials, cached in ``OUT/cache``), the rich-limit N-point
prediction (:func:`repdyn.theory.npoint_distances`) of the probe points'
final squared distances is computed with three kernels and correlated
(Spearman over the upper triangle, all pairs and pairs of different labels)
with the trained network's own squared distances at the tracked layer:

- ``tangent``: the encoder's tangent kernel at the tracked layer of the
  network at initialisation (:func:`repdyn.track.encoder_tangent_kernel`,
  ``probes`` random directions; same seed, same weights as the trial);
- ``rbf``: the default (an RBF kernel of the inputs);
- ``linear``: the inputs' linear kernel;

beside the baselines ``inputs`` (the squared input distances) and ``initial``
(the network's own squared distances at initialisation). Only the ratio of
the rates enters the rich limit's structure up to scale, so every prediction
uses ``eta_h = eta_y``. docs/kernel-rates.md reports the numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    import numpy as np
    import torch

    from repdyn.experiments.studies import _context, _mnist
    from repdyn.nets import build_network
    from repdyn.rsa import rdm
    from repdyn.runs import Execution, dataset_trial, load_dataset, mnist_probe_indices
    from repdyn.runs.structure import compare_structure
    from repdyn.theory import npoint_distances
    from repdyn.track import encoder_tangent_kernel

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=("smoke", "quick", "paper"))
    parser.add_argument("--roles", nargs="*", default=["low", "high"], help="context-task networks (fig8 roles)")
    parser.add_argument("--probes", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path("results/tangent-structure"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    configs = {"mnist": _mnist.SETTINGS[args.profile].config()}
    context = _context.SETTINGS[args.profile]
    for role in args.roles:
        configs[f"context {role}"] = context.configs()[_context.ROLES.index(role)]
    execution = Execution(out=args.out, executor="local")
    results = dict(zip(configs, execution.sweep(dataset_trial, list(configs.values())), strict=True))
    rows = {}
    for name, config in configs.items():
        result = results[name]
        points = load_dataset(config.dataset, grid=config.grid, mnist_dir=config.mnist_dir, mnist_n=config.mnist_n)
        probe = mnist_probe_indices(points) if config.probe == "mnist100" else np.arange(len(points))
        x = points.x[probe]
        inputs = x.reshape(len(probe), -1).numpy().astype(np.float64)
        targets = points.y[probe].numpy().astype(np.float64)
        labels = np.asarray(result["labels"])
        tracked = int(result["tracked_index"])
        network_d = rdm(np.asarray(result["hidden"][tracked], np.float64))
        start = time.perf_counter()
        net = build_network(config.arch, points.in_dim, points.out_dim, seed=config.seed)
        kernel = encoder_tangent_kernel(net, config.layer, x, probes=args.probes, seed=0)
        kernel_seconds = time.perf_counter() - start
        predictions = {
            "tangent": npoint_distances(inputs, targets, eta_h=1.0, eta_y=1.0, kernel=kernel),
            "rbf": npoint_distances(inputs, targets, eta_h=1.0, eta_y=1.0),
            "linear": npoint_distances(inputs, targets, eta_h=1.0, eta_y=1.0, kernel="linear"),
            "inputs": rdm(inputs),
            "initial": rdm(np.asarray(result["hidden0"][tracked], np.float64)),
        }
        rows[name] = {
            "points": len(probe), "layer": config.layer, "status": result["status"],
            "final_loss": float(result["final_loss"]), "kernel_seconds": kernel_seconds,
            **{key: compare_structure(network_d, value, labels) for key, value in predictions.items()},
        }
        print(name, json.dumps({k: (v if not isinstance(v, dict) else {m: round(s, 3) for m, s in v.items()})
                                for k, v in rows[name].items()}), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tangent_structure.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
