"""The seeds of one data-set network batched against the per-trial path, measured in one run.

Run: ``python benchmarks/bench_batched_datasets.py [--seeds 3] [--epochs 20] [--units 100] [--json PATH]``.

For each of the XOR networks of Table 2 (the data-set experiment with
several seeds; width capped at ``--units``, float32, full batch) and Adam,
trains ``--seeds`` seeds on the four XOR points

(a) one by one with :func:`repdyn.track.train_tracking_pair` (autograd), and
(b) as one batch with :func:`repdyn.fast.train_tracking_pairs_batched`.

Each is timed for 2 and for ``2 + --epochs`` epochs; the difference divided
by the epochs and seeds is its time per seed-epoch (the start of a run left
out). One torch/BLAS thread throughout, as a per-trial worker has. The ratio
is the per-trial time over the batched time: above 1 the batch is faster per
seed, below 1 slower (on a CPU it may be: the batch is for a GPU). Not a
test: it prints numbers and never fails.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

CASES = (("xor low", "sgd"), ("xor 2 layers", "sgd"), ("xor intermediate", "adam"))


def _networks(spec, seeds: int):
    from repdyn.nets import build_network

    return [build_network(spec, 2, 1, seed=seed) for seed in range(seeds)]


def _timed(run, epochs: int) -> float:
    start = time.perf_counter()
    run(epochs)
    return time.perf_counter() - start


def _per_seed_epoch(run, epochs: int, seeds: int) -> float:
    short, long = _timed(run, 2), _timed(run, 2 + epochs)
    return max(long - short, 1e-9) / (epochs * seeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    import torch

    from repdyn.data import xor
    from repdyn.fast import limit_threads, train_tracking_pairs_batched
    from repdyn.nets import adam_learning_rate, get_architecture, make_optimizer
    from repdyn.track import train_tracking_pair

    limit_threads(1)
    data = xor()
    rows = []
    for name, optimizer in CASES:
        spec = get_architecture(name).replace(units=min(get_architecture(name).units, args.units))
        if optimizer == "adam":
            spec = spec.replace(optimizer="adam", lr=adam_learning_rate("default"))
        layer = "hidden.0" if spec.hidden_layers == 1 else f"hidden.{spec.hidden_layers // 2}"

        def one_by_one(epochs: int, spec=spec, layer=layer) -> None:
            for seed, network in enumerate(_networks(spec, args.seeds)):
                train_tracking_pair(network, layer, data.x, data.y, (0, 1), epochs=epochs, batch_size=4,
                                    seed=seed, shuffle=False,
                                    optimizer=lambda p: make_optimizer(spec.optimizer, p, lr=spec.lr))  # fmt: skip

        def batched(epochs: int, spec=spec, layer=layer) -> None:
            train_tracking_pairs_batched(_networks(spec, args.seeds), layer, data.x, data.y, (0, 1), lr=spec.lr,
                                         epochs=epochs, seeds=list(range(args.seeds)), optimizer=spec.optimizer)  # fmt: skip

        per_trial = _per_seed_epoch(one_by_one, args.epochs, args.seeds)
        together = _per_seed_epoch(batched, args.epochs, args.seeds)
        rows.append({"network": name, "optimizer": optimizer, "units": spec.units, "hidden_layers": spec.hidden_layers,
                     "per_trial_us": 1e6 * per_trial, "batched_us": 1e6 * together, "ratio": per_trial / together})  # fmt: skip
        print(f"{name:>18} {optimizer:4} {spec.units:4} x {spec.hidden_layers:2}: per trial "
              f"{1e6 * per_trial:8.1f} us/seed-epoch, batched {1e6 * together:8.1f}, ratio {per_trial / together:5.2f}",
              flush=True)  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                         "torch": torch.__version__, "seeds": args.seeds, "epochs": args.epochs,
                                         "rows": rows}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
