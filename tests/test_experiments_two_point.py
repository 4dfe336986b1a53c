"""Tests for the two-point experiments (fig2, fig3, fig5, fig10, fig11, adam).

One module-scoped run of every experiment at profile "smoke" checks the
outputs end to end and that a rerun only redraws. The claim computations are
checked against the theory itself: trajectories and final distances that the
theory generates (by integrating the ODE, not through the code under test)
must make a claim hold with the true rates and fail with a deliberately wrong one.
"""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from repdyn.experiments import RunOptions, reproduce
from repdyn.experiments._metrics import spearman
from repdyn.experiments.figures._adam import fit_worse_claim
from repdyn.experiments.figures._fig2 import match_claims
from repdyn.experiments.figures._fig3 import init_claims, plateau_fraction, progress_epochs
from repdyn.experiments.figures._fig10 import depth_claims
from repdyn.experiments.figures._fig11 import loss_claims
from repdyn.experiments.studies._final_distance import (
    FinalDistanceSettings,
    distance_claims,
    distance_metrics,
    grid_threshold,
    predict,
)
from repdyn.runs import TwoPointConfig
from repdyn.nets import get_architecture
from repdyn.experiments._two_point import GRID_SCALES, NETWORK_SCALES, TwoPointScale, min_r2, theory_r2
from repdyn.theory import solve

torch.set_num_threads(1)

NAMES = ["fig2", "fig3", "fig11", "fig5", "fig10", "random-features", "adam"]
CLAIM_KEYS = {"claim", "metric", "measured", "relation", "threshold", "holds", "interval", "unit", "units", "seeds",
              "inconclusive"}


def _cache_state(cache: Path) -> dict[str, float]:
    return {str(p.relative_to(cache)): p.stat().st_mtime_ns for p in cache.rglob("*.npz")}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("smoke")
    options = RunOptions(profile="smoke", out=out, executor="local", progress=False)
    first = reproduce(NAMES, options)
    summaries = {n: json.loads((out / n / "summary.json").read_text()) for n in NAMES}
    cache_before = _cache_state(out / "cache")
    second = reproduce(NAMES, options)
    return {"out": out, "first": first, "second": second, "summaries": summaries,
            "cache_before": cache_before, "cache_after": _cache_state(out / "cache")}


@pytest.mark.parametrize("name", NAMES)
def test_smoke_writes_figures_and_a_valid_summary(smoke_run: dict, name: str) -> None:
    out: Path = smoke_run["out"]
    output = smoke_run["first"][name]
    pngs = [p for p in output.figures if p.suffix == ".png"]
    assert pngs, "every experiment draws at least one figure"
    for png in pngs:
        assert png.stat().st_size > 1000
        assert png.with_suffix(".pdf").is_file()
    summary = smoke_run["summaries"][name]
    assert summary["experiment"] == name and summary["profile"] == "smoke"
    assert summary["claims"], "every experiment checks at least one claim"
    for claim in summary["claims"]:
        assert set(claim) == CLAIM_KEYS
        assert isinstance(claim["holds"], bool)
        measured = claim["measured"]
        if measured is None:  # NaN: a claim that could not be measured never holds
            assert claim["holds"] is False
        else:
            ok = {">=": measured >= claim["threshold"], "<=": measured <= claim["threshold"],
                  ">": measured > claim["threshold"], "<": measured < claim["threshold"]}[claim["relation"]]
            assert claim["holds"] is ok
        assert isinstance(claim["inconclusive"], bool)
        assert claim["interval"] is None or (len(claim["interval"]) == 2 and claim["unit"])
    counts = summary["counts"]
    statuses = {k: v for k, v in counts.items() if not k.endswith("trials") and "without" not in k}
    trials = sum(v for k, v in counts.items() if k.endswith("trials"))
    assert sum(statuses.values()) == trials, "every trial is counted under exactly one status"
    report = (out / "report.md").read_text()
    assert report.count(f"| {name} |") >= len(summary["claims"])
    assert "XOR low: gain 0.85, lr 0.015, 3000 epochs" in report and "L // 2" in report


def test_the_html_report_embeds_every_figure(smoke_run: dict) -> None:
    # Moved on its own, report.html must keep its figures: each PNG embedded, no link to a file.
    out: Path = smoke_run["out"]
    page = (out / "report.html").read_text()
    sources = re.findall(r"src='([^']*)'", page)
    pngs = sorted(out.glob("*/*.png"))
    assert pngs and len(sources) == len(pngs)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    embedded = sorted(base64.b64decode(s.split(",", 1)[1]) for s in sources)
    assert embedded == sorted(p.read_bytes() for p in pngs)


def test_load_run_reads_the_reproduction_and_each_experiment(smoke_run: dict) -> None:
    import repdyn

    out: Path = smoke_run["out"]
    run = repdyn.load_run(out)
    assert sorted(run.runs) == sorted(NAMES) and run.summary == {}
    claims = run.claims
    assert list(claims.columns) == ["experiment", "claim", "metric", "measured", "relation", "threshold", "holds"]
    expected = [(name, c.claim, c.holds) for name in NAMES for c in smoke_run["first"][name].claims]
    assert sorted(zip(claims["experiment"], claims["claim"], claims["holds"])) == sorted(expected)
    with pytest.raises(ValueError, match="use run.runs\\[name\\]"):
        run.trials  # noqa: B018
    fig2 = run.runs["fig2"]
    assert fig2.summary["experiment"] == "fig2" and fig2.tables == ["trials", "claims"]
    assert {"seed", "arch", "status", "eta_h", "r2_h", "quality"} <= set(fig2.trials.columns)
    assert fig2.trials["quality"].tolist() == [t.get("quality") or "" for t in fig2.summary["trials"]]
    fig5 = run.runs["fig5"]
    assert set(fig5.tables) == {"fit_trials", "grid_trials", "claims"}
    grid = fig5.table("grid_trials")
    assert grid["trial"].tolist() == list(range(len(grid))) and len(grid) > 1


def test_rerun_reuses_the_cache(smoke_run: dict) -> None:
    assert smoke_run["cache_before"], "the first run stored its trials"
    assert smoke_run["cache_after"] == smoke_run["cache_before"], "a rerun recomputed (rewrote) a trial"
    for name in NAMES:
        first = [c.measured for c in smoke_run["first"][name].claims]
        second = [c.measured for c in smoke_run["second"][name].claims]
        np.testing.assert_array_equal(first, second)


def test_shared_trials_are_computed_once(smoke_run: dict) -> None:
    # fig11 covers fig2's networks, and fig5's rate trials are fig2's default
    # trial: both must have hit the same cache entries.
    from repdyn.experiments.figures._fig2 import SETTINGS as FIG2
    from repdyn.experiments.figures._fig11 import SETTINGS as FIG11
    from repdyn.experiments.studies._final_distance import SETTINGS as FIG5
    from repdyn.runs import two_point_trial
    from repdyn.sweep import cache_key

    fig2 = {cache_key(two_point_trial, c) for c in FIG2["smoke"].configs()}
    assert fig2 <= {cache_key(two_point_trial, c) for c in FIG11["smoke"].configs()}
    assert {cache_key(two_point_trial, c) for c in FIG5["smoke"].fit_configs()} <= fig2
    n_distinct = len(smoke_run["cache_before"])
    all_configs = set()
    from repdyn.experiments.figures import _fig3, _fig10, _random_features
    from repdyn.experiments.studies import _adam

    for settings in (FIG2["smoke"], FIG11["smoke"], _fig3.SETTINGS["smoke"], _fig10.SETTINGS["smoke"],
                     _adam.SETTINGS["smoke"].sgd, _random_features.SETTINGS["smoke"]):
        all_configs |= {cache_key(two_point_trial, c) for c in settings.configs()}
    for fd in (FIG5["smoke"], _adam.SETTINGS["smoke"].adam):
        all_configs |= {cache_key(two_point_trial, c) for c in fd.fit_configs() + fd.grid_configs()}
    assert n_distinct == len(all_configs)


def test_random_features_shares_fig3s_trials_where_the_scales_coincide() -> None:
    from repdyn.experiments.figures import _fig3, _random_features
    from repdyn.runs import two_point_trial
    from repdyn.sweep import cache_key

    for profile in ("smoke", "paper"):
        fig3 = {cache_key(two_point_trial, c) for c in _fig3.SETTINGS[profile].configs()}
        ours = {cache_key(two_point_trial, c) for c in _random_features.SETTINGS[profile].configs()}
        assert fig3 <= ours, profile


# --- claims against the theory ----------------------------------------------------------------

ETA_H, ETA_Y = 1e-3, 4e-2


def _theory_trial(h0: float, y0: float, *, dx2: float = 1.0, dy2: float = 0.5, epochs: int = 6000) -> dict:
    """A 'trial' whose h, y, w are the theory's own solution (the true rates are ETA_H, ETA_Y)."""
    t = np.arange(epochs + 1, dtype=float)
    w0 = y0 - math.sqrt(dy2 * y0)  # output difference aligned with the target difference
    z = solve([h0, y0, w0], t, eta_h=ETA_H, eta_y=ETA_Y, dx2=dx2, dy2=dy2)
    return {"epochs": t, "h": z[:, 0], "y": z[:, 1], "w": z[:, 2], "dx2": dx2, "dy2": dy2,
            "h0": h0, "y0": y0, "status": "converged"}


def test_match_claims_hold_with_true_rates_and_fail_with_a_wrong_rate() -> None:
    trials = {"rich": _theory_trial(1e-4, 1e-9), "other": _theory_trial(0.2, 1e-3)}
    true = {name: min(theory_r2(t, ETA_H, ETA_Y).values()) for name, t in trials.items()}
    assert all(c.holds for c in match_claims(true))
    wrong = dict(true, rich=min(theory_r2(trials["rich"], ETA_H * 30, ETA_Y).values()))
    claims = match_claims(wrong)
    assert not claims[0].holds and claims[0].measured == pytest.approx(0.5)
    assert not match_claims({"a": float("nan"), "b": 1.0})[0].holds, "a network without a fit is a miss"


def test_min_r2_is_nan_without_a_fit() -> None:
    assert math.isnan(min_r2({"r2_h": 0.99, "r2_y": None, "r2_w": 0.9}))
    assert min_r2({"r2_h": 0.99, "r2_y": 0.95, "r2_w": 0.9}) == 0.9


def test_plateau_fraction_tells_plateau_from_exponential() -> None:
    rich, lazy = _theory_trial(1e-4, 1e-9), _theory_trial(2.0, 2.0)
    t = rich["epochs"]
    assert plateau_fraction(rich["h"], t) >= 0.5
    assert plateau_fraction(lazy["h"], t) <= 0.1
    assert plateau_fraction(np.exp(-t / 300), t) == pytest.approx(math.log(10 / 9) / math.log(10), abs=0.01)
    assert all(math.isnan(v) for v in progress_epochs(np.ones_like(t), t)), "a flat curve never moves"


def test_init_claims_follow_the_gain_and_fail_when_reversed() -> None:
    gains = [1.4, 0.9, 1.1, 1.3]  # any order
    by_gain = {0.9: 0.7, 1.1: 0.4, 1.3: 0.2, 1.4: 0.05}
    r2 = {0.9: 0.98, 1.1: 0.97, 1.3: 0.95, 1.4: 0.5}
    claims = init_claims(gains, [by_gain[g] for g in gains], [by_gain[g] for g in gains], [r2[g] for g in gains])
    assert all(c.holds for c in claims)
    growing = init_claims(gains, [1 - by_gain[g] for g in gains], [0.7] * 4, [r2[g] for g in gains])
    assert not growing[0].holds and not growing[1].holds and not growing[2].holds
    swapped_r2 = {0.9: 0.5, 1.1: 0.97, 1.3: 0.95, 1.4: 0.98}
    swapped = init_claims(gains, [by_gain[g] for g in gains], [0.7] * 4, [swapped_r2[g] for g in gains])
    assert not swapped[4].holds and not swapped[5].holds


def _grid(dx_norms=(0.5, 1.0, 1.5), dy_norms=(0.0, 0.5, 1.0), seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """Grid trials with small random initial states; measured h = the theory integrated to its end."""
    rng = np.random.default_rng(seed)
    pairs = [(dx, dy) for dx in dx_norms for dy in dy_norms]
    h0, y0 = rng.uniform(1e-4, 1e-3, len(pairs)), rng.uniform(1e-9, 1e-8, len(pairs))
    dx2, dy2 = np.array([p[0] ** 2 for p in pairs]), np.array([p[1] ** 2 for p in pairs])
    z0 = np.stack([h0, y0, y0 - np.sqrt(dy2 * y0)], axis=-1)
    # Long enough for identical targets, whose h relaxes at the slow rate eta_h dx2 |C|.
    measured = solve(z0, [0.0, 2e6], eta_h=ETA_H, eta_y=ETA_Y, dx2=dx2, dy2=dy2)[:, -1, 0]
    trials = [{"h0": h0[i], "y0": y0[i], "dx2": dx2[i], "dy2": dy2[i], "status": "converged"}
              for i in range(len(pairs))]
    return trials, measured


def test_final_distance_claims_hold_with_true_rates_and_fail_with_a_wrong_ratio() -> None:
    trials, measured = _grid()
    dy2 = np.array([t["dy2"] for t in trials])
    use = np.ones(len(trials), dtype=bool)
    h0 = np.array([t["h0"] for t in trials])
    baseline = distance_metrics(h0, measured, dy2, use)
    good = distance_metrics(predict(trials, ETA_H, ETA_Y)[0], measured, dy2, use)
    assert good["pearson"] > 0.999 and good["median_relative_error"] < 1e-3
    assert all(c.holds for c in distance_claims(good, baseline))
    bad = distance_metrics(predict(trials, ETA_H * 10, ETA_Y)[0], measured, dy2, use)
    claims = distance_claims(bad, baseline)
    assert not claims[1].holds, "a wrong rate ratio must put the predictions off the diagonal"
    none_used = distance_metrics(predict(trials, ETA_H, ETA_Y)[0], measured, dy2, ~use)
    assert not any(c.holds for c in distance_claims(none_used, baseline)), "no converged trial: nothing holds"


def test_baselines_on_hand_made_trials() -> None:
    # Four converged trials whose representations did not move: final h = h0.
    trials = [{"h0": h, "y0": 0.0, "dx2": 1.0, "dy2": dy2, "status": "converged"}
              for h, dy2 in ((0.5, 0.25), (1.0, 0.25), (2.0, 1.0), (4.0, 1.0))]
    measured = np.array([0.5, 1.0, 2.0, 4.0])
    dy2, use = np.array([t["dy2"] for t in trials]), np.ones(4, dtype=bool)
    h_inf, a_low = predict(trials, 1.0, 4.0)
    # A_low = sqrt(dx2 dy2 eta_h / eta_y), by hand: sqrt(dy2 / 4).
    np.testing.assert_allclose(a_low, [0.25, 0.25, 0.5, 0.5])
    h0_metrics = distance_metrics(np.array([t["h0"] for t in trials]), measured, dy2, use)
    assert h0_metrics["median_relative_error"] == 0.0 and h0_metrics["pearson"] == pytest.approx(1.0)
    a_low_metrics = distance_metrics(a_low, measured, dy2, use)
    # |A_low - h| / h: 0.5, 0.75, 0.75, 0.875 -> median 0.75.
    assert a_low_metrics["median_relative_error"] == pytest.approx(0.75)
    theory = distance_metrics(h_inf, measured, dy2, use)
    better = distance_claims(theory, h0_metrics)[2]
    assert not better.holds, "nothing beats a baseline with zero error"


def test_unconverged_grid_trials_are_not_used_but_counted() -> None:
    from repdyn.experiments.studies._final_distance import usable

    results = [{"status": "converged"}, {"status": "not_converged"}, {"status": "diverged"}, {"status": "error"}]
    np.testing.assert_array_equal(usable(results), [True, False, False, False])
    assert np.isnan(predict([{"status": "error"}], ETA_H, ETA_Y)[0][0])


def test_depth_claims() -> None:
    layers = np.arange(1, 21)
    eta_h, eta_y, error = 1e-3 * layers, 1.0 / layers, 1.0 / layers
    assert all(c.holds for c in depth_claims(eta_h, eta_y, error))
    flipped = depth_claims(eta_h[::-1], eta_y[::-1], error[::-1])
    assert not any(c.holds for c in flipped)
    assert math.isnan(spearman([1, 2, 3], [1.0, np.nan, 2.0]))
    decaying = 0.7 ** (2 * layers)
    assert depth_claims(eta_h, eta_y, error, decaying)[0].holds
    assert not depth_claims(eta_h, eta_y, error, decaying[::-1])[0].holds


def test_depth_decay_recovers_alpha_of_eq_14() -> None:
    from repdyn.experiments.figures._fig10 import depth_decay

    layers = np.arange(1, 21)
    fit = depth_decay(3.0 * 0.8 ** (2 * layers))
    assert fit["alpha"] == pytest.approx(0.8, rel=1e-12) and fit["c"] == pytest.approx(3.0, rel=1e-10)
    assert fit["r2_log"] == pytest.approx(1.0)
    assert math.isnan(depth_decay([np.nan, 1.0, -1.0])["alpha"])


def test_sampled_final_distances_collapse_onto_a_low_at_small_scale() -> None:
    from repdyn.experiments.figures._random_features import relative_spread, sample_final_distances
    from repdyn.theory import final_distance

    a_low = float(final_distance(1.0, 0.0, eta_h=ETA_H, eta_y=ETA_Y, dx2=1.0, dy2=0.5).a_low)
    spreads = []
    for scale in (1e-6, 1e-3, 1e-1, 10.0):
        h_inf = sample_final_distances(scale, scale**2, 100, ETA_H, ETA_Y, 1.0, 0.5, samples=3000, seed=1)
        spreads.append(relative_spread(h_inf))
        if scale == 1e-6:
            np.testing.assert_allclose(h_inf, a_low, rtol=1e-4)  # rich: every draw lands on A_low
        if scale == 10.0:
            # lazy: h_inf ~ A_high ~ h0 = dx2 ||J_f||^2, whose relative spread is sqrt(2 / width)
            assert relative_spread(h_inf) == pytest.approx(math.sqrt(2 / 100), rel=0.15)
    assert spreads == sorted(spreads)
    assert np.isnan(sample_final_distances(0.0, 1.0, 10, ETA_H, ETA_Y, 1.0, 0.5, samples=5)).all()


def test_spread_claims_follow_the_gain_and_fail_when_reversed() -> None:
    from repdyn.experiments.figures._random_features import spread_claims

    gains = [0.8, 0.85, 0.9, 1.1, 1.3, 1.4]
    growing = [0.01, 0.02, 0.05, 0.1, 0.3, 0.5]
    assert all(c.holds for c in spread_claims(gains, growing, growing))
    reversed_claims = spread_claims(gains, growing[::-1], growing)
    assert not reversed_claims[0].holds and reversed_claims[1].holds
    assert not spread_claims(gains, [np.nan, *growing[1:]], growing)[0].holds


def test_adam_and_loss_claims() -> None:
    assert fit_worse_claim(0.99, 0.6).holds
    assert not fit_worse_claim(0.6, 0.99).holds
    assert not fit_worse_claim(0.99, float("nan")).holds
    assert loss_claims({"a": 0.95, "b": 0.99})[0].holds
    assert not loss_claims({"a": 0.95, "b": 0.5})[0].holds


# --- configs and training ---------------------------------------------------------------------

def test_configs_validate() -> None:
    with pytest.raises(ValueError, match="fit"):
        TwoPointConfig(all_layers=True, fit=False)
    with pytest.raises(TypeError, match="stop_when_converged"):
        TwoPointConfig(stop_when_converged=1)
    with pytest.raises(ValueError, match="max_units"):
        TwoPointScale(max_units=0)
    with pytest.raises(ValueError, match="dx_norms"):
        FinalDistanceSettings(networks=("default",), fit_trials=1, dx_norms=(0.0,), dy_norms=(0.0,),
                              scale=GRID_SCALES["smoke"])
    assert GRID_SCALES["quick"].arch("narrow").units == 50 and GRID_SCALES["quick"].arch("default").units == 100
    assert GRID_SCALES["paper"].arch("default").units == 500
    # The headline experiments run Table 1 exactly in quick.
    for name in ("default", "narrow", "convolution", "dropout"):
        assert NETWORK_SCALES["quick"].arch(name) == get_architecture(name)
    assert grid_threshold(1.0) == pytest.approx(2 * grid_threshold(0.5))
    assert grid_threshold(0.0) == grid_threshold(0.0625) > 0


def test_configs_follow_the_device_option() -> None:
    from repdyn.experiments.figures import _fig2, _fig10
    from repdyn.experiments.studies import _adam, _final_distance

    configs = (_fig2.SETTINGS["paper"].configs("cuda") + _fig10.SETTINGS["paper"].configs("cuda")
               + _final_distance.SETTINGS["quick"].grid_configs("cuda")
               + _adam.SETTINGS["quick"].adam.fit_configs("cuda"))
    assert {c.device for c in configs} == {"cuda"}
    assert {c.device for c in _final_distance.SETTINGS["quick"].fit_configs()} == {"cpu"}


def test_train_pair_fast_path_matches_autograd(monkeypatch) -> None:
    import repdyn.fast
    from repdyn.data import two_point
    from repdyn.runs import train_pair
    from repdyn.nets import build_network, get_architecture, make_optimizer
    from repdyn.track import track_pair

    spec = get_architecture("default").replace(units=16, hidden_layers=3, epochs=60)
    assert repdyn.fast.choose_trainer(spec) == "fast"
    calls = []
    real = repdyn.fast.train_pair_fast

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(repdyn.fast, "train_pair_fast", spy)
    data = two_point()
    run, trained = train_pair(spec, data.x, data.y, seed=3)
    assert calls == [trained], "train_pair did not take the fast path"
    net = build_network(spec, 1, 1, seed=3)
    ref = track_pair(net, net.tracked_layer, data.x, data.y, epochs=60,
                     optimizer=lambda p: make_optimizer("sgd", p, lr=spec.lr))
    np.testing.assert_allclose(run.h, ref.h, rtol=1e-4)
    np.testing.assert_allclose(run.loss, ref.loss, rtol=1e-4)


def test_train_pair_takes_autograd_where_there_is_no_fast_path(monkeypatch) -> None:
    import repdyn.fast
    from repdyn.data import two_point
    from repdyn.runs import train_pair

    def refuse(*args, **kwargs):
        raise AssertionError("the fast path has no Adam or dropout")

    monkeypatch.setattr(repdyn.fast, "train_pair_fast", refuse)
    data = two_point()
    for spec in (get_architecture("default").replace(units=8, hidden_layers=2, epochs=5, optimizer="adam"),
                 get_architecture("dropout").replace(units=8, hidden_layers=2, epochs=5)):
        assert repdyn.fast.choose_trainer(spec) == "autograd"
        run, _ = train_pair(spec, data.x, data.y, seed=0)
        assert run.stop_epoch == 5


def test_early_stop_records_the_state_reached() -> None:
    from repdyn.runs import two_point_trial

    spec = GRID_SCALES["smoke"].arch("shallow").replace(epochs=3000, lr=0.05)
    result = two_point_trial(TwoPointConfig(arch=spec, dx2=1.0, dy2=0.5, loss_threshold=0.05, fit=False,
                                            stop_when_converged=True))
    assert result["status"] == "converged" and 0 < result["stop_epoch"] < 3000
    assert result["h_final"] == pytest.approx(result["h"][result["stop_epoch"]])
    assert math.isnan(result["eta_h"])


def test_beyond_rich_trials_are_selected_by_the_prediction_and_the_claim_compares_with_a_low() -> None:
    from repdyn.experiments.studies._final_distance import beyond_rich, error_ratio

    a_low = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    h_inf = np.array([1.1, 0.85, 1.5, 2.0, 0.5, 1.25])  # |h_inf - A_low| / A_low: 0.1, 0.15, 0.5, 1, 0.5, 0.25
    np.testing.assert_array_equal(beyond_rich(h_inf, a_low), [False, False, True, True, True, True])
    assert not beyond_rich(np.array([np.nan]), np.array([1.0]))[0]
    keep = beyond_rich(h_inf, a_low)
    # Networks that end where the theory says: A_low is off by the full difference, the theory by 5 %.
    measured = h_inf * 1.05
    assert error_ratio(h_inf[keep], a_low[keep], measured[keep]) < 0.2
    # Networks that end at A_low after all: the ratio is far above 1 and the claim would fail.
    assert error_ratio(h_inf[keep], a_low[keep], a_low[keep] * 1.05) > 1
    assert np.isnan(error_ratio(h_inf[:2], a_low[:2], measured[:2])), "fewer than 3 trials: not measurable"
