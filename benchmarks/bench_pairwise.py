"""Benchmark of the whole-dataset predictions (issue 5): chunked pairwise matrices.

Run: ``python benchmarks/bench_pairwise.py [--n N] [--quick]``.

Data shaped like the MNIST experiment: N points with 784 inputs in [0, 1],
one-hot targets over 10 classes, 100 hidden units and 10 outputs at small
initial weights. Measured in one run:

1. ``rich_limit_distances`` and ``pairwise_final_distances`` on all
   N (N - 1) / 2 pairs (12.5 million for N = 5,000): wall time, CPU time and
   peak memory traced by ``tracemalloc`` (numpy reports its buffers to it),
   beside the process's resident high-water mark. Goal: < 10 s and < 2 GiB each.
2. Baselines, measured on fewer points and extrapolated to N (printed as
   such): (a) plain full broadcasting, ``((X[:, None] - X[None]) ** 2).sum(-1)``
   for each of the four difference matrices, then ``final_distance`` on the whole
   (N, N) arrays, whose time and memory grow as N^2; (b) a Python loop calling
   ``final_distance`` once per pair, whose time grows with the number of pairs.
3. Exponential weighing ``E A E`` at N (two dense (N, N) products) and the
   triangle count: exact at a smaller N (cost ~ N^3, extrapolated) and
   sampled at N.

Not a test: it prints numbers and PASS/FAIL against the goals, never fails.
The machine is shared; wall times vary with its load, CPU times less so.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from repdyn.theory import (
    exponential_weighing,
    final_distance,
    pairwise_final_distances,
    rich_limit_distances,
    triangle_violations,
)

GOAL_SECONDS = 10.0
GOAL_BYTES = 2 * 2**30
RATE_H, RATE_Y = 0.004, 0.002


def dataset(n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 784))
    Y = np.eye(10)[rng.integers(0, 10, n)]
    H0 = 0.05 * rng.normal(size=(n, 100))
    Yhat0 = 0.1 + 0.01 * rng.normal(size=(n, 10))
    return X, Y, H0, Yhat0


def measure(f: Callable[[], Any]) -> tuple[Any, float, float, int]:
    """(result, wall seconds, CPU seconds, traced peak bytes) of one call."""
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    result = f()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, wall, cpu, peak


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def gib(b: float) -> str:
    return f"{b / 2**30:.2f} GiB"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def naive_broadcast(X, Y, H0, Yhat0):
    def sq(a):
        return ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)

    dx2, dy2, h0, y0 = sq(X), sq(Y), sq(H0), sq(Yhat0)
    regular = (dx2 > 0) & (h0 > 0)
    out = final_distance(
        np.where(regular, h0, 1.0), y0, eta_h=RATE_H, eta_y=RATE_Y, dx2=np.where(regular, dx2, 1.0), dy2=dy2
    ).h_inf
    return np.where(regular, out, 0.0)


def naive_loop(X, Y, H0, Yhat0):
    n = len(X)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            dx2 = float(np.sum((X[i] - X[j]) ** 2))
            dy2 = float(np.sum((Y[i] - Y[j]) ** 2))
            h0 = float(np.sum((H0[i] - H0[j]) ** 2))
            y0 = float(np.sum((Yhat0[i] - Yhat0[j]) ** 2))
            out[i, j] = out[j, i] = final_distance(h0, y0, eta_h=RATE_H, eta_y=RATE_Y, dx2=dx2, dy2=dy2).h_inf
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="points (default 5000)")
    parser.add_argument(
        "--quick", action="store_true", help="smaller baselines and triangle counts"
    )
    args = parser.parse_args()
    n = args.n
    pairs = n * (n - 1) // 2
    X, Y, H0, Yhat0 = dataset(n)
    print(
        f"N = {n} points, {pairs:,} pairs; inputs 784, targets 10 (one-hot), hidden 100, outputs 10"
    )
    print(f"goal per matrix: < {GOAL_SECONDS:.0f} s wall and < {gib(GOAL_BYTES)} peak")

    rss0 = maxrss_bytes()
    A, wall, cpu, peak = measure(lambda: rich_limit_distances(X, Y, eta_h=RATE_H, eta_y=RATE_Y))
    print(
        f"rich_limit_distances     : {wall:6.2f} s wall, {cpu:6.2f} s CPU, peak {gib(peak)} traced "
        f"-> {verdict(wall < GOAL_SECONDS and peak < GOAL_BYTES)}"
    )
    H, wall_full, cpu, peak_full = measure(
        lambda: pairwise_final_distances(X, Y, H0, Yhat0, eta_h=RATE_H, eta_y=RATE_Y)
    )
    print(
        f"pairwise_final_distances : {wall_full:6.2f} s wall, {cpu:6.2f} s CPU, peak {gib(peak_full)} traced "
        f"-> {verdict(wall_full < GOAL_SECONDS and peak_full < GOAL_BYTES)}"
    )
    print(
        f"process resident high-water mark: {gib(maxrss_bytes())} (before the two calls: {gib(rss0)})"
    )
    fraction_rich = np.mean(np.abs(H - A) <= 0.1 * A)
    print(
        f"(pairs whose h_inf is within 10 % of the rich limit at this initial scale: {fraction_rich:.2f})"
    )

    # Baselines on fewer points, extrapolated.
    nb = 150 if args.quick else 300
    sub = tuple(a[:nb] for a in (X, Y, H0, Yhat0))
    _, wall_b, _, peak_b = measure(lambda: naive_broadcast(*sub))
    factor = (n / nb) ** 2
    print(
        f"baseline (a) full broadcasting at N = {nb}: {wall_b:.2f} s, peak {gib(peak_b)}; "
        f"x (N/{nb})^2 = {factor:.0f} -> ~{wall_b * factor:.0f} s and ~{gib(peak_b * factor)} at N = {n}"
    )
    nl = 40 if args.quick else 80
    sub = tuple(a[:nl] for a in (X, Y, H0, Yhat0))
    ref, wall_l, _, _ = measure(lambda: naive_loop(*sub))
    loop_pairs = nl * (nl - 1) // 2
    per_pair = wall_l / loop_pairs
    print(
        f"baseline (b) Python loop over pairs at N = {nl} ({loop_pairs} pairs): {wall_l:.2f} s; "
        f"x {pairs / loop_pairs:.0f} -> ~{per_pair * pairs:.0f} s at N = {n}"
    )
    chunked = pairwise_final_distances(*sub, eta_h=RATE_H, eta_y=RATE_Y)
    agree = np.abs(chunked - ref).max() / np.abs(ref).max()
    print(f"chunked result vs the loop at N = {nl}: max relative difference {agree:.1e}")
    print(
        f"speed-up of the chunked h_inf matrix: {wall_b * factor / wall_full:.1f}x over (a), "
        f"{per_pair * pairs / wall_full:.0f}x over (b); memory {peak_b * factor / peak_full:.1f}x below (a)"
    )

    # Exponential weighing and triangle counts.
    w, wall, cpu, peak = measure(lambda: exponential_weighing(A, count_violations=False))
    print(
        f"exponential_weighing at N = {n} (tau = {w.tau:.3g}, underflow {w.underflow:.2f}): "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU, peak {gib(peak)}"
    )
    nt = 300 if args.quick else 600
    small = np.sqrt(A[:nt, :nt])
    count, wall, _, _ = measure(lambda: triangle_violations(small))
    print(
        f"triangle_violations exact at N = {nt}: {wall:.2f} s ({count.violations:,} of {count.total:,}, "
        f"{count.fraction:.4f}); x (N/{nt})^3 -> ~{wall * (n / nt) ** 3:.0f} s at N = {n}"
    )
    samples = 200_000 if args.quick else 1_000_000
    count, wall, _, _ = measure(lambda: triangle_violations(np.sqrt(A), sample=samples))
    print(
        f"triangle_violations sampled at N = {n}, {samples:,} triangles: {wall:.2f} s, fraction {count.fraction:.4f}"
    )


if __name__ == "__main__":
    main()
