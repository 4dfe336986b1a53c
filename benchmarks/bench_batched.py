"""The batched engine against the per-trial path, per architecture, measured in one run.

Run: ``python benchmarks/bench_batched.py [--trials 8] [--epochs 20] [--units N] [--all] [--json PATH]``.

For each architecture (the variants and optimisers of Tables 1 and 2 by
default, every registered architecture with ``--all``), at its table width
unless ``--units`` caps it, trains ``--trials`` two-point trials (seeds 0,
1, ...) of float32 networks

(a) one by one on the per-trial engine :func:`repdyn.fast.choose_trainer`
    picks on the CPU (``train_pair_fast`` for a plain-SGD MLP, ``track_pair``
    with autograd for the rest), and
(b) as one batch with :func:`repdyn.fast.train_pairs_batched`, on the engine
    ``choose_trainer(..., batched=True)`` picks; for a plain-SGD MLP also on
    the other one (``trainer="functional"``), the measurement behind that rule.

Each is timed for 2 and for ``2 + --epochs`` epochs and the difference
divided by the epochs and trials is its time per trial-epoch (the fixed cost
of starting a run is left out). One torch/BLAS thread throughout, as a
per-trial worker has. The ratio is the per-trial time over the batched time:
above 1 the batch is faster per trial, below 1 slower (on a CPU it may be:
the batch is for a GPU). Not a test: it prints numbers and never fails.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from pathlib import Path

#: The distinct code paths: each variant with SGD, and Adam (at its documented rate).
CASES = (("default", "sgd"), ("default", "adam"), ("convolution", "sgd"), ("skip", "sgd"),
         ("dropout", "sgd"), ("dropout", "adam"))  # fmt: skip


def _spec(name: str, optimizer: str, units: int | None):
    from repdyn.nets import adam_learning_rate, get_architecture

    spec = get_architecture(name)
    if optimizer == "adam":
        spec = spec.replace(optimizer="adam", lr=adam_learning_rate("default"))
    if units is not None and spec.units > units:
        spec = spec.replace(units=units)
    return spec


def _pair(torch):
    x = torch.tensor([[0.0], [1.0]])
    y = torch.tensor([[0.0], [0.5**0.5]])  # dx2 = 1, dy2 = 0.5: the default two points
    return x, y


def _per_trial(spec, networks, epochs: int) -> float:
    import torch

    from repdyn.fast import choose_trainer, train_pair_fast
    from repdyn.nets import make_optimizer
    from repdyn.track import track_pair

    x, y = _pair(torch)
    start = time.perf_counter()
    for seed, network in enumerate(networks):
        if choose_trainer(spec) == "fast":
            train_pair_fast(network, None, x, y, lr=spec.lr, epochs=epochs)
        else:
            track_pair(network, None, x, y, epochs=epochs, seed=seed,
                       optimizer=lambda params: make_optimizer(spec.optimizer, params, lr=spec.lr))  # fmt: skip
    return time.perf_counter() - start


def _batched(spec, networks, epochs: int, trainer: str | None) -> float:
    import torch

    from repdyn.fast import train_pairs_batched

    x, y = _pair(torch)
    start = time.perf_counter()
    train_pairs_batched(networks, x, y, lr=spec.lr, epochs=epochs, optimizer=spec.optimizer,
                        seeds=list(range(len(networks))), trainer=trainer)  # fmt: skip
    return time.perf_counter() - start


def _per_trial_epoch(run, spec, networks, epochs: int, *args) -> float:
    """Seconds per trial-epoch: the run at 2 + epochs minus the run at 2 epochs (fresh copies each)."""
    short = run(spec, copy.deepcopy(networks), 2, *args)
    long = run(spec, copy.deepcopy(networks), 2 + epochs, *args)
    return max(long - short, 0.0) / epochs / len(networks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--units", type=int, default=None, help="cap on the hidden width (default: the table's)")
    parser.add_argument("--all", action="store_true", help="every registered architecture (SGD)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    from repdyn.fast import choose_trainer, limit_threads
    from repdyn.nets import ARCHITECTURES, build_network

    limit_threads(1)
    cases = [(name, "sgd") for name in ARCHITECTURES] + [CASES[1], CASES[5]] if args.all else list(CASES)
    print(f"{args.trials} trials, {args.epochs} epochs, one thread, {platform.processor() or platform.machine()}")
    header = (f"{'architecture':<20} {'opt':<5} {'per-trial engine':<17} {'batched engine':<15} "
              f"{'per-trial ms':>12} {'batched ms':>11} {'ratio':>7} {'functional ms':>14}")  # fmt: skip
    print(header + "\n" + "-" * len(header))
    rows = []
    for name, optimizer in cases:
        spec = _spec(name, optimizer, args.units)
        networks = [build_network(spec, 1, 1, seed=seed) for seed in range(args.trials)]
        single = _per_trial_epoch(_per_trial, spec, networks, args.epochs)
        engine = choose_trainer(spec, batched=True)
        batched = _per_trial_epoch(_batched, spec, networks, args.epochs, None)
        functional = None
        if engine == "batched":  # the other engine, for the rule choose_trainer follows
            functional = _per_trial_epoch(_batched, spec, networks, args.epochs, "functional")
        row = {"architecture": name, "optimizer": optimizer, "units": spec.units,
               "hidden_layers": spec.hidden_layers, "per_trial_engine": choose_trainer(spec),
               "batched_engine": engine, "per_trial_ms": 1e3 * single, "batched_ms": 1e3 * batched,
               "ratio": single / batched if batched > 0 else float("nan"),
               "functional_ms": None if functional is None else 1e3 * functional}  # fmt: skip
        rows.append(row)
        extra = "" if functional is None else f"{1e3 * functional:14.3f}"
        print(f"{name:<20} {optimizer:<5} {row['per_trial_engine']:<17} {engine:<15} {1e3 * single:12.3f} "
              f"{1e3 * batched:11.3f} {row['ratio']:7.2f} {extra}", flush=True)  # fmt: skip
    print("ms: milliseconds per trial-epoch; ratio: per-trial / batched (> 1: the batch is faster per trial)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"trials": args.trials, "epochs": args.epochs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
