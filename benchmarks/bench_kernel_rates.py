"""Cost of recording the kernel rates, against tracking without them, in one run.

Run: ``python benchmarks/bench_kernel_rates.py [--epochs N] [--every K] [--probes M] [--repeats R]``.

Trains the paper's default network at its Table 1 width (20 hidden layers x
500 leaky-ReLU units, gain 1, lr 0.005, SGD, float32) on the default
two-point data with :func:`repdyn.track.track_pair`, tracking the middle
layer at every epoch, (a) without kernel rates and (b) with
``kernel_every=K`` (default :data:`repdyn.track.KERNEL_EVERY`), alternating
a, b, a, b, ... in this process with one thread, from the same initial
weights. Prints each wall time, the ratio of the medians (b / a) and
PASS/FAIL against the goal: at most 1.25 (25 % over tracking without them).
Also checks that (b) trained exactly as (a) did (the same h, y, w bit for
bit). Not a test: it prints numbers and never fails.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

GOAL = 1.25


def main() -> None:
    import numpy as np
    import torch

    from repdyn.data import two_point
    from repdyn.fast import limit_threads
    from repdyn.nets import build_network, get_architecture
    from repdyn.track import KERNEL_EVERY, KERNEL_PROBES, track_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--every", type=int, default=KERNEL_EVERY)
    parser.add_argument("--probes", type=int, default=KERNEL_PROBES)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    limit_threads(1)
    spec = get_architecture("default")
    data = two_point()

    def run(kernel_every: int | None):
        network = build_network(spec, 1, 1, seed=0)
        start = time.perf_counter()
        result = track_pair(
            network, None, data.x, data.y,
            optimizer=functools.partial(torch.optim.SGD, lr=spec.lr), epochs=args.epochs,
            kernel_every=kernel_every, kernel_probes=args.probes,
        )  # fmt: skip
        return time.perf_counter() - start, result

    run(None)  # warm-up: allocations, first-call costs
    plain, kernel = [], []
    for _ in range(args.repeats):
        seconds, a = run(None)
        plain.append(seconds)
        seconds, b = run(args.every)
        kernel.append(seconds)
    same = all(np.array_equal(getattr(a, v), getattr(b, v), equal_nan=True) for v in ("h", "y", "w", "loss"))
    records = int(np.isfinite(b.kernel_eta_h[:, 0]).sum())
    ratio = statistics.median(kernel) / statistics.median(plain)
    print(
        f"default network {spec.hidden_layers} x {spec.units}, {args.epochs} epochs, one thread; "
        f"kernel rates every {args.every} epochs ({records} kernel records), {args.probes} probes"
    )
    print("(a) track_pair without kernel rates: " + ", ".join(f"{s:.2f} s" for s in plain))
    print("(b) track_pair with kernel rates:    " + ", ".join(f"{s:.2f} s" for s in kernel))
    print(f"per kernel record: {(statistics.median(kernel) - statistics.median(plain)) / records * 1e3:.1f} ms; "
          f"per epoch without: {statistics.median(plain) / args.epochs * 1e3:.2f} ms")
    print(f"training unchanged by the measurement (h, y, w, loss bit for bit): {same}")
    print(f"ratio b / a = {ratio:.3f}  goal <= {GOAL}: {'PASS' if ratio <= GOAL else 'FAIL'}")


if __name__ == "__main__":
    main()
