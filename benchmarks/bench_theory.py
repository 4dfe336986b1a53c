"""Benchmark of the theory engine (issue 2): ``fit`` and batched ``solve``.

1. Fit a 6000-epoch trajectory (rich regime, mild noise) with
   :func:`repdyn.theory.fit`, and in the same run with the straightforward
   approach: a 10 x 10 grid of rate pairs, each integrated with ``solve_ivp``
   and a stiff method on the raw right-hand side, then
   ``scipy.optimize.minimize`` (Nelder-Mead on the log rates) from the best
   grid point with the same solver (rtol 1e-6, atol 1e-10). The baseline runs
   twice: with Radau (the stiff method scipy's documentation recommends) and
   with LSODA (Fortran, several times cheaper per solve on this problem).
   All fitted rate pairs are scored with the same residual, evaluated with a
   tight-tolerance solve.
   Goals: >= 50x faster; residual no worse than the baseline's (within 0.1 %).
2. Solve 1000 trajectories of 6000 epochs in one ``solve`` call on one core.
   Goal: < 2 s.

Times are CPU times of this process (``time.process_time``; one thread), so
that other work on a shared machine does not distort the ratios; wall-clock
times are printed beside them.

Run: ``python benchmarks/bench_theory.py [--quick]`` (``--quick``: 2000 epochs,
a 5 x 5 grid and 200 trajectories; its numbers are indicative only).
"""

from __future__ import annotations

import os

# One core: pin the BLAS/OpenMP pools before numpy is imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import time
from typing import Self

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import minimize

from repdyn.theory import fit, rhs, solve

Z0 = np.array([1e-3, 1e-6, 1e-6])  # small initial weights: plateau, then a drop
ETA_H, ETA_Y, DX2, DY2 = 0.004, 0.004, 1.0, 0.5
NOISE = 0.01  # of each variable's standard deviation
FIT_REPEATS = 5


def raw_rhs(_t: float, z: np.ndarray, eta_h: float, eta_y: float) -> list[float]:
    """The theory's d(h, y, w)/dt as a user would type it (theory.md), plain floats."""
    h, y, w = z
    a = eta_h * DX2
    return [
        -a * w,
        -w * (eta_y * h + a * y / h),
        -0.5 * eta_y * (3 * w - y + DY2) * h - 0.5 * a * (y + w) * w / h,
    ]


def residual(model: np.ndarray, observed: np.ndarray) -> float:
    """The residual both approaches are scored with (and ``fit`` minimises)."""
    return float(np.sum(((model - observed) / observed.std(axis=0)) ** 2))


class Timer:
    """CPU and wall-clock time of a block."""

    def __enter__(self) -> Self:
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def baseline_fit(
    t: np.ndarray, observed: np.ndarray, grid_size: int, method: str
) -> tuple[float, float, int]:
    """Grid of rate pairs, then Nelder-Mead, all with ``method`` on the raw rhs."""
    n_solves = 0

    def cost(log_rates: np.ndarray) -> float:
        nonlocal n_solves
        n_solves += 1
        eta_h, eta_y = np.exp(log_rates)
        sol = solve_ivp(
            raw_rhs,
            (t[0], t[-1]),
            observed[0],
            method=method,
            t_eval=t,
            args=(eta_h, eta_y),
            rtol=1e-6,
            atol=1e-10,
        )
        if not sol.success or sol.y.shape[1] != t.size:
            return np.inf
        return residual(sol.y.T, observed)

    axis = np.log(np.geomspace(1e-4, 3e-2, grid_size))
    grid = np.array([(a, b) for a in axis for b in axis])
    costs = np.array([cost(p) for p in grid])
    opt = minimize(cost, grid[np.argmin(costs)], method="Nelder-Mead")
    eta_h, eta_y = np.exp(opt.x)
    return float(eta_h), float(eta_y), n_solves


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def bench_fit(epochs: int, grid_size: int) -> list[bool]:
    t = np.arange(epochs + 1, dtype=np.float64)
    clean = solve(Z0, t, eta_h=ETA_H, eta_y=ETA_Y, dx2=DX2, dy2=DY2, rtol=1e-12)
    rng = np.random.default_rng(0)
    observed = clean + NOISE * clean.std(axis=0) * rng.standard_normal(clean.shape)
    observed[0] = clean[0]  # a network's initial state is measured exactly
    np.testing.assert_allclose(
        raw_rhs(0, Z0, ETA_H, ETA_Y), rhs(Z0, eta_h=ETA_H, eta_y=ETA_Y, dx2=DX2, dy2=DY2), rtol=1e-12
    )

    def score(eta_h: float, eta_y: float) -> float:
        return residual(solve(observed[0], t, eta_h=eta_h, eta_y=eta_y, dx2=DX2, dy2=DY2, rtol=1e-12), observed)

    fit(observed[:50], t[:50], dx2=DX2, dy2=DY2)  # warm-up: imports and first-call overheads
    # The fit takes milliseconds, so a single run is at the mercy of timer and
    # cache noise; its time is the mean of FIT_REPEATS runs (the baseline's
    # 157 solves already average over many).
    with Timer() as timer:
        for _ in range(FIT_REPEATS):
            result = fit(observed, t, dx2=DX2, dy2=DY2)
    timer.cpu /= FIT_REPEATS
    timer.wall /= FIT_REPEATS
    rss_fit = score(result.eta_h, result.eta_y)
    print(
        f"trajectory: {epochs} epochs, rich regime, true eta_h={ETA_H:g} eta_y={ETA_Y:g}, "
        f"noise {NOISE:.0%} of each variable's std"
    )
    print(
        f"fit            : cpu {timer.cpu:7.3f} s (wall {timer.wall:7.3f} s) {result.n_solves:4d} solve calls   "
        f"eta_h={result.eta_h:.6g} eta_y={result.eta_y:.6g}  residual={rss_fit:.6f}"
    )
    goals = []
    for method in ("Radau", "LSODA"):
        with Timer() as base_timer:
            base_h, base_y, base_solves = baseline_fit(t, observed, grid_size, method)
        rss_base = score(base_h, base_y)
        ratio = base_timer.cpu / timer.cpu
        print(
            f"baseline {method:<6}: cpu {base_timer.cpu:7.3f} s (wall {base_timer.wall:7.3f} s) "
            f"{base_solves:4d} solve_ivp calls  eta_h={base_h:.6g} eta_y={base_y:.6g}  residual={rss_base:.6f}"
        )
        print(
            f"  speed ratio baseline/fit: {ratio:.1f}x (cpu), {base_timer.wall / timer.wall:.1f}x (wall); "
            f"residual ratio fit/baseline: {rss_fit / rss_base:.6f}"
        )
        goals += [ratio >= 50, rss_fit <= rss_base * 1.001]
        print(f"{verdict(goals[-2])}: fit >= 50x faster than the {method} baseline ({ratio:.1f}x)")
        print(
            f"{verdict(goals[-1])}: fit residual no worse than the {method} baseline's within 0.1 % "
            f"({rss_fit:.6f} vs {rss_base:.6f})"
        )
    return goals


def bench_batch(n_traj: int, epochs: int) -> bool:
    rng = np.random.default_rng(1)
    t = np.arange(epochs + 1, dtype=np.float64)
    h0 = rng.uniform(0.01, 1.0, n_traj)
    y0 = rng.uniform(0.0, 0.1, n_traj)
    z0 = np.stack([h0, y0, y0], axis=-1)
    eta_h, eta_y = rng.uniform(1e-3, 3e-3, n_traj), rng.uniform(1e-3, 3e-3, n_traj)
    with Timer() as timer:
        z = solve(z0, t, eta_h=eta_h, eta_y=eta_y, dx2=DX2, dy2=DY2)
    ok = timer.cpu < 2.0 and bool(np.all(np.isfinite(z)))
    print(
        f"batch solve: {n_traj} trajectories x {epochs} epochs in one call: cpu {timer.cpu:.3f} s "
        f"(wall {timer.wall:.3f} s) -> {z.shape}"
    )
    print(
        f"{verdict(ok)}: {n_traj} trajectories of {epochs} epochs solved in < 2 s ({timer.cpu:.3f} s cpu)"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter run; numbers indicative only")
    args = parser.parse_args()
    epochs, grid_size, n_traj = (2000, 5, 200) if args.quick else (6000, 10, 1000)
    if args.quick:
        print("quick run: smaller problem, indicative numbers only")
    start = time.perf_counter()
    results = [*bench_fit(epochs, grid_size), bench_batch(n_traj, epochs)]
    print(
        f"total benchmark time {time.perf_counter() - start:.1f} s; {sum(results)}/{len(results)} goals met"
    )


if __name__ == "__main__":
    main()
