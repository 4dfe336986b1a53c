"""Per-trial speed of the fast two-point path against a plain PyTorch loop.

Run: ``python benchmarks/bench_trials.py [--epochs N] [--quick]``.

Measures, on the paper's default architecture (20 hidden layers x 500 units,
leaky ReLU, gain 1, lr 0.005) and the default two-point data, tracking the
middle layer at every epoch:

1. per-trial wall time, one thread each, of
   (a) a plain PyTorch loop: ``nn.Module``, autograd, ``torch.optim.SGD``,
       h from a forward hook and y, w, loss from the same forward, appended
       as Python floats every epoch (what a user would write), and
   (b) ``repdyn.fast.train_pair_fast``,
   alternating (a, b, a, b) in fresh processes, with the peak memory of each;
   goal: (b) at least 3x faster;
2. trials per second of the fast path with 2 worker processes against 1
   (one thread each); goal: at least 1.8x.

Timings are measured around the training call inside each process, so
process start-up and imports are excluded. Not a test: it prints numbers,
PASS/FAIL per goal, and never fails.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import time

SEED = 0


def _setup(dtype: str = "float32"):
    import torch

    from repdyn.data import two_point
    from repdyn.fast import limit_threads
    from repdyn.nets import build_network, get_architecture

    limit_threads(1)
    spec = get_architecture("default")
    data = two_point()
    # Drawn in float32 and then cast, so a float64 run starts from the same weights.
    network = build_network(spec, 1, 1, seed=SEED).to(getattr(torch, dtype))
    return torch, spec, network, data.x, data.y


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def plain_trial(epochs: int) -> dict:
    """The loop a user would write; returns timing, memory and the last h."""
    torch, spec, network, x, y = _setup()
    optimizer = torch.optim.SGD(network.parameters(), lr=spec.lr)
    captured = {}
    network.get_submodule(network.tracked_layer).register_forward_hook(
        lambda module, inputs, output: captured.__setitem__("h", output)
    )
    hs, ys, ws, losses = [], [], [], []
    dy = y[0] - y[1]
    before = _rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    for epoch in range(epochs + 1):
        pred = network(x)
        loss = 0.5 * (pred - y).pow(2).sum(dim=1).mean()
        with torch.no_grad():
            dh = (captured["h"][0] - captured["h"][1]).flatten()
            dyhat = (pred[0] - pred[1]).flatten()
            hs.append(float(dh @ dh))
            ys.append(float(dyhat @ dyhat))
            ws.append(ys[-1] - float(dy.flatten() @ dyhat))
            losses.append(float(loss))
        if epoch == epochs:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"wall": wall, "cpu": cpu, "rss": _rss_mb(), "rss_before": before, "h": hs, "y": ys}


def fast_trial(epochs: int, defer: int | None = None, dtype: str = "float32") -> dict:
    _, spec, network, x, y = _setup(dtype)
    from repdyn.fast import DEFAULT_DEFER, train_pair_fast

    before = _rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    run = train_pair_fast(
        network, None, x, y, lr=spec.lr, epochs=epochs,
        defer=DEFAULT_DEFER if defer is None else defer,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall": wall, "cpu": cpu, "rss": _rss_mb(), "rss_before": before,
        "h": run.h[:, 0].tolist(), "y": run.y.tolist(),
    }  # fmt: skip


def batched_trial(epochs: int) -> dict:
    _, spec, network, x, y = _setup()
    from repdyn.fast import train_pairs_batched

    before = _rss_mb()
    wall, cpu = time.perf_counter(), time.process_time()
    run = train_pairs_batched([network], x, y, lr=spec.lr, epochs=epochs)[0]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "wall": wall, "cpu": cpu, "rss": _rss_mb(), "rss_before": before,
        "h": run.h[:, 0].tolist(), "y": run.y.tolist(),
    }  # fmt: skip


def _in_child(function, *args) -> dict:
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _worker_init() -> None:
    from repdyn.fast import limit_threads

    limit_threads(1)


def _throughput(workers: int, trials: int, epochs: int) -> tuple[float, float]:
    """Fast-path trials per second with ``workers`` processes (start-up excluded).

    Also returns the mean CPU seconds per trial inside the workers.
    """
    with mp.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
        pool.map(fast_trial, [2] * workers)  # imports and first-call costs, once per worker
        start = time.perf_counter()
        results = pool.map(fast_trial, [epochs] * trials, chunksize=1)
        rate = trials / (time.perf_counter() - start)
    return rate, statistics.mean(r["cpu"] for r in results)


def _max_rel(a: list[float], b: list[float]) -> float:
    scale = max(abs(v) for v in a)
    return max(abs(p - q) for p, q in zip(a, b, strict=True)) / scale


def _runs(results: list[dict]) -> str:
    return ", ".join(f"{r['wall']:.2f}" for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000, help="epochs per trial (1000)")
    parser.add_argument("--quick", action="store_true", help="200 epochs per trial")
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats (2)")
    parser.add_argument("--defer", type=int, default=None, help="fast path's defer")
    args = parser.parse_args()
    epochs = 200 if args.quick else args.epochs

    print(
        f"default architecture (20 x 500, leaky ReLU, lr 0.005), {epochs} epochs, h/y/w every epoch"
    )
    print(
        f"machine: {os.cpu_count()} cores, shared with other work (load average at start "
        f"{os.getloadavg()[0]:.2f}); every timing uses one thread per process"
    )
    plain, fast = [], []
    for _ in range(args.repeats):
        plain.append(_in_child(plain_trial, epochs))
        fast.append(_in_child(fast_trial, epochs, args.defer))
    batched = _in_child(batched_trial, epochs)
    exact = _in_child(fast_trial, epochs, args.defer, "float64")

    t_plain, t_fast = min(r["wall"] for r in plain), min(r["wall"] for r in fast)
    c_plain, c_fast = min(r["cpu"] for r in plain), min(r["cpu"] for r in fast)
    print(f"(a) plain PyTorch loop : {t_plain:8.2f} s/trial wall, best of {_runs(plain)} "
          f"({c_plain:.2f} s CPU)")  # fmt: skip
    print(f"(b) fast path          : {t_fast:8.2f} s/trial wall, best of {_runs(fast)} "
          f"({c_fast:.2f} s CPU)")  # fmt: skip
    print(f"    batched engine, 1 trial on CPU (reference only): {batched['wall']:.2f} s wall")
    for name, runs in (("plain", plain), ("fast", fast), ("batched", [batched])):
        peak = max(r["rss"] for r in runs)
        grown = max(r["rss"] - r["rss_before"] for r in runs)
        print(f"    peak memory {name:8s}: {peak:7.1f} MB RSS ({grown:+.1f} MB during training)")
    print(
        "    float32 error against a float64 run of the fast path (which matches float64 "
        "autograd to ~1e-13): "
        f"plain max|dy|/max|y| = {_max_rel(exact['y'], plain[0]['y']):.1e}, "
        f"max|dh|/max|h| = {_max_rel(exact['h'], plain[0]['h']):.1e}; "
        f"fast {_max_rel(exact['y'], fast[0]['y']):.1e}, {_max_rel(exact['h'], fast[0]['h']):.1e}"
    )
    ratio = t_plain / t_fast
    median_ratio = statistics.median(r["wall"] for r in plain) / statistics.median(
        r["wall"] for r in fast
    )
    verdict = "PASS" if ratio >= 3 else "FAIL"
    print(
        f"{verdict} per-trial speed-up (goal >= 3x): {ratio:.2f}x wall, best against best "
        f"(median {median_ratio:.2f}x; CPU time {c_plain / c_fast:.2f}x)"
    )

    trials = 4
    one, cpu_one = _throughput(1, trials, epochs)
    two, cpu_two = _throughput(2, trials, epochs)
    scaling = two / one
    verdict = "PASS" if scaling >= 1.8 else "FAIL"
    print(f"    fast path throughput: 1 worker {one:.3f} trials/s, 2 workers {two:.3f} trials/s")
    print(
        f"{verdict} 2 workers vs 1 (goal >= 1.8x): {scaling:.2f}x "
        f"(load average at end {os.getloadavg()[0]:.2f}; other work on the 2 cores lowers this)"
    )
    print(
        f"    CPU seconds per trial: {cpu_one:.2f} with 1 worker, {cpu_two:.2f} with 2; with both "
        f"cores free, 2 workers would give about {2 * cpu_one / cpu_two:.2f}x (memory contention "
        "between the workers included, other load excluded)"
    )


if __name__ == "__main__":
    main()
