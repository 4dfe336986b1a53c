"""Benchmark of the solver of issue 21 against the one it replaced, in the same run.

``solve`` now integrates ``(s, g1, g2)`` in each pair's own units, chooses DOP853
or LSODA from the eigenvalues of the Jacobian and checks its result. The old
``solve`` (repdyn 0.3: ``(s, p)`` with ``|g|^2`` from the conserved quantity,
DOP853 unless a rough relaxation-rate estimate times the span exceeded 200,
then LSODA with a finite-difference Jacobian) is kept below, as it was, as the
baseline. Both run on the paper's ranges (rates 1e-4 to 1e-1, h0 from 1e-4 to
10, y0 from 1e-6 to 1, dx2 and dy2 from 0.3 to 2, 6000 epochs):

1. **batch**: 1000 pairs in one call (as ``bench_theory.py``'s batch);
2. **fit triples**: 40 batches of 3 pairs, the base rates and two perturbed
   ones, as every step of ``fit`` solves them (fig5 fits one per trial);
3. **single pairs**: 40 pairs one by one (a trial's fitted theory curve).

Goal, fixed before the first run: the new solver at most 1.25 times the old
one's CPU time on each. Each case is timed ``REPEATS`` times, old and new
alternating, and the minimum is kept (the machine is shared). Beside the
times, the largest error of each against a tight LSODA reference
(rtol 1e-13, the realising vectors in the problem's units) on the single
pairs and on the case of issue 21, relative to each variable's scale.

Run: ``python benchmarks/bench_solver.py [--quick]`` (``--quick``: 200 pairs,
10 triples and 10 single pairs, 2 repeats; indicative only).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from _theory_oracles import stiff_reference  # noqa: E402

from repdyn.theory import final_distance, solve  # noqa: E402

REPEATS = 5
GOAL = 1.25


# -- the old solver (repdyn 0.3), kept as the baseline --------------------------------------------------------

def old_relaxation_rate(z0, *, eta_h, eta_y, dx2, dy2):
    h0, y0, w0 = z0[..., 0], z0[..., 1], z0[..., 2]
    a = eta_h * dx2
    k = eta_y / a
    c = y0 / h0 - k * h0
    h_inf = final_distance(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2).h_inf
    rates = []
    for h, sp in ((h0, y0 - w0), (h_inf, dy2)):
        diag = 0.5 * a * np.abs(c + 3 * k * h) + 0.5 * eta_y * h
        rates.append(diag + 0.5 * np.sqrt(a * eta_y * np.abs(dy2 - 2 * sp)))
    return np.maximum(*rates)


def old_solve(z0, t, *, eta_h, eta_y, dx2, dy2, rtol=1e-10):
    z0 = np.asarray(z0, dtype=np.float64)
    h0, y0, w0, eta_h, eta_y, dx2, dy2 = np.broadcast_arrays(
        z0[..., 0], z0[..., 1], z0[..., 2], *(np.asarray(v, dtype=np.float64) for v in (eta_h, eta_y, dx2, dy2)))
    batch_shape = h0.shape
    h0, y0, w0, eta_h, eta_y, dx2, dy2 = (np.ravel(v) for v in (h0, y0, w0, eta_h, eta_y, dx2, dy2))
    a = eta_h * dx2
    k = eta_y / a
    c = y0 / h0 - k * h0
    s0 = np.sqrt(h0)
    p0 = (y0 - w0) / s0
    n = h0.size
    h_inf = final_distance(h0, y0, eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2).h_inf
    r_scale = np.maximum(np.abs(c) + k * np.maximum(h0, h_inf), y0 / h0)
    s_scale = np.sqrt(np.maximum(h0, h_inf))
    p_scale = np.maximum(np.abs(p0), np.sqrt(dy2 * r_scale))
    p_scale = np.where(p_scale > 0, p_scale, 1.0)
    atol = 1e-3 * rtol * np.concatenate([s_scale, p_scale])
    fastest = old_relaxation_rate(np.stack([h0, y0, w0], -1), eta_h=eta_h, eta_y=eta_y, dx2=dx2, dy2=dy2)
    method = "LSODA" if float(np.max(fastest)) * (t[-1] - t[0]) > 200.0 else "DOP853"

    def field(_t, state):
        s, p = state[:n], state[n:]
        r = c + k * s * s
        return np.concatenate([0.5 * a * (p - s * r), 0.5 * eta_y * s * (dy2 - s * p)])

    sol = solve_ivp(field, (t[0], t[-1]), np.concatenate([s0, p0]), method=method, t_eval=t, rtol=rtol, atol=atol)
    s, p = sol.y[:n], sol.y[n:]
    h = s * s
    y = np.maximum(h * (c[:, None] + k[:, None] * h), 0.0)
    w = y - s * p
    return np.stack([h, y, w], axis=-1).reshape(*batch_shape, t.size, 3)


# -- problems --------------------------------------------------------------------------------------------------

def paper_pairs(rng, n):
    """n initial states and constants over the paper's ranges."""
    h0 = 10 ** rng.uniform(-4, 1, n)
    y0 = 10 ** rng.uniform(-6, 0, n)
    dy2 = rng.uniform(0.3, 2.0, n)
    w0 = y0 - rng.uniform(-1, 1, n) * np.sqrt(dy2 * y0)
    args = {"eta_h": 10 ** rng.uniform(-4, -1, n), "eta_y": 10 ** rng.uniform(-4, -1, n),
            "dx2": rng.uniform(0.3, 2.0, n), "dy2": dy2}
    return np.stack([h0, y0, w0], -1), args


def cpu(f) -> float:
    start = time.process_time()
    f()
    return time.process_time() - start


def compare(name: str, old, new, repeats: int) -> bool:
    old(), new()  # warm-up: imports and first-call overheads
    times = {"old": [], "new": []}
    for _ in range(repeats):
        times["old"].append(cpu(old))
        times["new"].append(cpu(new))
    t_old, t_new = min(times["old"]), min(times["new"])
    ratio = t_new / t_old
    ok = ratio <= GOAL
    print(f"{name:34s} old {t_old:7.3f} s   new {t_new:7.3f} s   new/old {ratio:5.2f}   "
          f"{'PASS' if ok else 'FAIL'} (goal <= {GOAL})")
    return ok


def scaled_error(z, ref, dy2) -> float:
    return float(max(np.max(np.abs(z[:, 0] - ref[:, 0])) / np.max(ref[:, 0]),
                     np.max(np.abs(z[:, 1:] - ref[:, 1:])) / max(np.max(ref[:, 1]), dy2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller problems; numbers indicative only")
    options = parser.parse_args()
    n_batch, n_fit, n_single, repeats = (200, 10, 10, 2) if options.quick else (1000, 40, 40, REPEATS)
    t = np.arange(6001.0)
    rng = np.random.default_rng(2024)
    start = time.perf_counter()
    goals = []

    z0, args = paper_pairs(rng, n_batch)
    goals.append(compare(f"batch: {n_batch} pairs in one call", lambda: old_solve(z0, t, **args),
                         lambda: solve(z0, t, **args), repeats))

    z0, args = paper_pairs(rng, n_fit)
    step = np.exp(1e-6)  # fit's forward difference in log rate
    triples = [(np.broadcast_to(z0[i], (3, 3)),
                {"eta_h": args["eta_h"][i] * np.array([1.0, step, 1.0]),
                 "eta_y": args["eta_y"][i] * np.array([1.0, 1.0, step]),
                 "dx2": args["dx2"][i], "dy2": args["dy2"][i]}) for i in range(n_fit)]
    goals.append(compare(f"fit triples: {n_fit} calls of 3 pairs",
                         lambda: [old_solve(z, t, **a) for z, a in triples],
                         lambda: [solve(z, t, **a) for z, a in triples], repeats))

    z0, args = paper_pairs(rng, n_single)
    singles = [(z0[i], {k: v[i] for k, v in args.items()}) for i in range(n_single)]
    goals.append(compare(f"single pairs: {n_single} calls",
                         lambda: [old_solve(z, t, **a) for z, a in singles],
                         lambda: [solve(z, t, **a) for z, a in singles], repeats))

    errors = {"old": [], "new": []}
    for z, a in singles:
        ref = stiff_reference(z, t, **a, method="LSODA")
        errors["old"].append(scaled_error(old_solve(z, t, **a), ref, a["dy2"]))
        errors["new"].append(scaled_error(solve(z, t, **a), ref, a["dy2"]))
    print(f"largest error on the single pairs, of each variable's scale: old {max(errors['old']):.1e}, "
          f"new {max(errors['new']):.1e} (stated tolerance 1e-6)")
    issue = (np.array([0.313, 0.00165, 0.00165]),
             {"eta_h": 1.24e-06, "eta_y": 2.24, "dx2": 0.0262, "dy2": 0.0106})
    t_issue = np.arange(101.0)
    ref = stiff_reference(*issue[:1], t_issue, **issue[1], method="LSODA")
    old_z, new_z = old_solve(issue[0], t_issue, **issue[1]), solve(issue[0], t_issue, **issue[1])
    print(f"issue 21's case (y at t = 70; reference {ref[70, 1]:.5f}): old {old_z[70, 1]:.5f} "
          f"(error {scaled_error(old_z, ref, 0.0106):.1e}), new {new_z[70, 1]:.5f} "
          f"(error {scaled_error(new_z, ref, 0.0106):.1e})")
    print(f"total {time.perf_counter() - start:.0f} s; {sum(goals)}/{len(goals)} speed goals met")


if __name__ == "__main__":
    main()
