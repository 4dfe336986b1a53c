"""The claims of the kernel-rates experiment (docs/claims-kernel-rates.md), against the theory itself.

Trajectories and final distances come from the theory's own integrators
(:func:`repdyn.theory.solve_varying`, :func:`repdyn.theory.final_distance`):
each claim must hold with the rates that generated them and fail on the
inputs the claims page names (rates reversed in time, predictions shuffled
across grid runs, gains reversed). The end-to-end smoke run of the
experiment is in tests/test_experiments_two_point.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from repdyn.experiments.figures._kernel_rates import (
    LOG_RATIO_MAX,
    assumption,
    initial_rates_claims,
    log_ratios,
    scores,
    time_average_claim,
    variation,
    variation_claim,
    worst,
    zero_fit_claim,
)
from repdyn.theory import final_distance, fit, solve, solve_varying, trajectory_r2

T = np.arange(0.0, 3001.0)
RATE_TIMES = np.arange(0.0, 3001.0, 25.0)


def varying_rates(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rates that rise tenfold over a run (eta_h) and fall (eta_y): a network whose kernels change."""
    ramp = RATE_TIMES / RATE_TIMES[-1]
    return 0.001 * (1 + k) * 10 ** ramp, 0.02 * 10 ** (-ramp)


def network(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    eta_h, eta_y = varying_rates(k)
    z0 = [1e-3 * (1 + k), 1e-4, 5e-5]
    return solve_varying(z0, T, eta_h=eta_h, eta_y=eta_y, dx2=1.0, dy2=0.5, rate_times=RATE_TIMES), eta_h, eta_y


def zero_fit_worst(z: np.ndarray, eta_h: np.ndarray, eta_y: np.ndarray) -> float:
    predicted = solve_varying(z[0], T, eta_h=eta_h, eta_y=eta_y, dx2=1.0, dy2=0.5, rate_times=RATE_TIMES)
    return worst(trajectory_r2(z, predicted))


def test_claim_1_holds_with_the_measured_rates_and_fails_with_them_reversed_in_time():
    networks = [network(k) for k in range(5)]
    true = {f"n{k}": zero_fit_worst(z, h, y) for k, (z, h, y) in enumerate(networks)}
    reversed_ = {f"n{k}": zero_fit_worst(z, h[::-1], y[::-1]) for k, (z, h, y) in enumerate(networks)}
    assert min(true.values()) > 0.999
    holds, fails = zero_fit_claim(true), zero_fit_claim(reversed_)
    assert holds.holds and holds.units == 5 and holds.interval is not None
    assert not fails.holds, fails.measured


def test_claim_2_holds_near_the_time_average_and_fails_for_a_wrong_rate():
    # A trajectory of constant rates: the fit recovers them, and their measured
    # series (constant, noisy within 10 %) averages to them.
    rng = np.random.default_rng(0)
    good, wrong = {}, {}
    for k in range(5):
        eta = (0.002 * (k + 1), 0.01)
        z = solve([1e-3, 1e-4, 5e-5], T, eta_h=eta[0], eta_y=eta[1], dx2=1.0, dy2=0.5)
        fitted = fit(z, T, dx2=1.0, dy2=0.5)
        series = [e * (1 + 0.1 * rng.uniform(-1, 1, RATE_TIMES.size)) for e in eta]
        good[f"n{k}"] = [log_ratios(f, s)["mean"] for f, s in zip((fitted.eta_h, fitted.eta_y), series)]
        wrong[f"n{k}"] = [log_ratios(f, 4 * s)["mean"] for f, s in zip((fitted.eta_h, fitted.eta_y), series)]
    assert time_average_claim(good).holds
    claim = time_average_claim(wrong)
    assert not claim.holds and claim.measured == pytest.approx(math.log(4), abs=0.1)
    # Reversing the measured series in time leaves its arithmetic mean (the
    # claim's time average) unchanged: the claim cannot and must not move.
    series = np.array([1.0, 2.0, 4.0])
    assert log_ratios(2.0, series)["mean"] == log_ratios(2.0, series[::-1])["mean"]
    assert log_ratios(2.0, series)["init"] == pytest.approx(math.log(2.0))
    assert LOG_RATIO_MAX == pytest.approx(math.log(2))


def test_claim_3_holds_for_the_theorys_own_final_distances_and_fails_shuffled():
    rng = np.random.default_rng(1)
    n = 25
    h0, y0 = rng.uniform(1e-3, 0.05, n), rng.uniform(1e-4, 0.01, n)
    dx2, dy2 = np.repeat([0.25, 0.5, 1.0, 1.5, 2.25], 5), np.tile([0.0, 0.0625, 0.25, 0.5625, 1.0], 5)
    eta_h, eta_y = rng.uniform(0.001, 0.01, n), rng.uniform(0.005, 0.05, n)
    measured = np.array([float(final_distance(h0[i], y0[i], eta_h=eta_h[i], eta_y=eta_y[i], dx2=dx2[i],
                                              dy2=dy2[i]).h_inf) for i in range(n)])
    predicted = measured * (1 + 0.05 * rng.uniform(-1, 1, n))
    used = np.ones(n, bool)
    assert all(c.holds for c in initial_rates_claims(predicted, measured, dy2, used))
    shuffled = initial_rates_claims(rng.permutation(predicted), measured, dy2, used)
    assert not all(c.holds for c in shuffled)
    assert not shuffled[1].holds, shuffled[1].measured  # the size is off once the runs are mixed up


def test_claim_4_and_the_variation_against_hand_computations():
    # Percentiles by linear interpolation of [1, 10, 100]: q05 = 1.9, q95 = 91.
    assert variation(np.array([1.0, 10.0, 100.0])) == pytest.approx(math.log10(91 / 1.9))
    assert variation(np.full(10, 0.3)) == 0.0
    assert math.isnan(variation(np.array([0.5])))
    small = [[variation(np.geomspace(1e-3, 1e-1, 50)), variation(np.geomspace(0.5, 50.0, 50))]]
    large = [[variation(np.full(50, 1e-3)), variation(np.linspace(1.0, 1.2, 50))]]
    claim = variation_claim(small, large, gains=(0.9, 1.4))
    assert claim.holds and claim.measured == pytest.approx(small[0][1] - large[0][1])
    assert not variation_claim(large, small, gains=(0.9, 1.4)).holds


def test_scores_of_a_record_and_the_rule_naming_the_failing_assumption():
    eta_h, eta_y = 0.004, 0.02
    z = solve([1e-3, 1e-4, 5e-5], T, eta_h=eta_h, eta_y=eta_y, dx2=1.0, dy2=0.5)
    kernel = np.full(T.size, np.nan)
    kernel_h, kernel_y = kernel.copy(), kernel.copy()
    kernel_h[::25], kernel_y[::25] = eta_h, eta_y
    record = {"status": "not_converged", "epochs": T.astype(int), "h": z[:, 0], "y": z[:, 1], "w": z[:, 2],
              "dx2": 1.0, "dy2": 0.5, "kernel_eta_h": kernel_h, "kernel_eta_y": kernel_y,
              "r2_h": 0.95, "r2_y": 0.97, "r2_w": 0.5, "r2_zero_h": 0.99, "r2_zero_y": 0.98, "r2_zero_w": 0.97}
    got = scores(record)
    assert got["fitted"] == 0.5 and got["zero_fit"] == 0.97
    assert got["init_held"] > 0.999999  # the rates of epoch 0 are the true constants
    assert got["no_change"] < 0  # z(0) for all t explains none of the movement
    wrong = scores({**record, "kernel_eta_h": kernel_h * 5})
    assert wrong["init_held"] < 0.9
    assert assumption(0.5, 0.95) == "constant rates"
    assert assumption(0.5, 0.3) == "structure or mapping"
    assert assumption(0.95, -2.0) == "none"
    assert assumption(0.5, float("nan")) == "structure or mapping"
