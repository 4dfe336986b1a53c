"""The structure experiments trained with Adam (adam-xor, adam-context, adam-mnist).

End to end at the smoke scale; the Adam settings reach every trial config and
its cache key; the claims are the SGD twins' (same metrics and thresholds), and
a deliberately wrong prediction is reported as not holding.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from repdyn.experiments import RunOptions
from repdyn.experiments.figures import _adam_structure
from repdyn.experiments.figures._adam_structure import PREDICTION_CLAIM, adam_claims, side_by_side
from repdyn.runs.structure import PAPER_VARIANT
from repdyn.experiments.studies import _adam, _context, _mnist, _xor
from repdyn.experiments.studies._mnist import structure_claims
from repdyn.experiments.studies._xor import network_metrics, xor_claims
from repdyn.runs import dataset_trial, two_point_trial
from repdyn.sweep import cache_key

NAMES = ("adam-xor", "adam-context", "adam-mnist")
TWINS = {"adam-xor": "fig6", "adam-context": "fig8", "adam-mnist": "fig9"}
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    from repdyn.experiments import reproduce

    out = tmp_path_factory.mktemp("adam-structure")
    return out, reproduce(list(NAMES), RunOptions(profile="smoke", out=out, executor="local"))


@pytest.mark.parametrize("name", NAMES)
def test_smoke_writes_figures_a_valid_summary_and_the_twins_claims(smoke, name):
    out, outputs = smoke
    summary = json.loads((out / name / "summary.json").read_text())
    assert summary["experiment"] == name and summary["figure"].startswith("Figs 15-16")
    assert summary["optimizer"] == "adam" and summary["sgd_twin"]["experiment"] == TWINS[name]
    claims = summary["claims"]
    assert claims and claims[0]["claim"].startswith(PREDICTION_CLAIM)
    assert all(c["claim"].startswith("With Adam") for c in claims)
    for claim in claims:
        assert isinstance(claim["holds"], bool)
        assert claim["measured"] is None or math.isfinite(claim["measured"])
    rows = summary["side_by_side"]
    assert [r["adam"] for r in rows] == [c["measured"] for c in claims]
    assert [r["threshold"] for r in rows] == [c["threshold"] for c in claims]
    assert all(r["sgd"] is None or math.isfinite(r["sgd"]) for r in rows)
    assert summary["counts"]["trials"] >= 1 and summary["counts"]["sgd_trials"] >= 1
    pngs = [p for p in summary["figures"] if p.endswith(".png")]
    assert pngs and all((out / name / p).stat().st_size > 0 for p in summary["figures"])
    assert all(p.startswith("adam_") for p in summary["figures"])
    assert any(p.endswith(".pdf") for p in summary["figures"])


def test_smoke_lists_the_input_baseline_beside_the_predictions(smoke):
    out, _ = smoke
    xor = json.loads((out / "adam-xor" / "summary.json").read_text())
    assert {"inputs", "pairwise_init", "npoint"} <= set(xor["networks"]["low"]["rdm_pearson"])
    context = json.loads((out / "adam-context" / "summary.json").read_text())
    assert all("inputs" in v for v in context["rdm_comparison"]["networks"].values())
    mnist = json.loads((out / "adam-mnist" / "summary.json").read_text())
    assert {"pixels", "npoint", PAPER_VARIANT} <= set(mnist["comparison"])


def _adam_configs(profile: str) -> dict[str, list]:
    roles_configs = _adam_structure.XOR_SETTINGS[profile].configs()[1]
    return {"xor": roles_configs, "context": _adam_structure.BLOBS_SETTINGS[profile].configs(),
            "mnist": [_adam_structure.MNIST_SETTINGS[profile].config()]}


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_adam_and_its_rate_reach_every_trial_config_and_cache_key(profile):
    configs = _adam_configs(profile)
    sgd = {"xor": _xor.SETTINGS[profile].configs()[1], "context": _context.SETTINGS[profile].configs(),
           "mnist": [_mnist.SETTINGS[profile].config()]}
    for task, group in configs.items():
        assert all(c.arch.optimizer == "adam" for c in group), task
        assert all(c.arch.optimizer == "sgd" for c in sgd[task]), task
        adam_keys = {cache_key(dataset_trial, c) for c in group}
        assert len(adam_keys) == len(group)
        assert adam_keys.isdisjoint(cache_key(dataset_trial, c) for c in sgd[task])
        for c in group:  # the rate alone changes the key
            other = type(c)(**{**c.__dict__, "arch": c.arch.replace(lr=c.arch.lr * 2)})
            assert cache_key(dataset_trial, other) != cache_key(dataset_trial, c)
    if profile == "quick":
        rates = [c.arch.lr for c in configs["xor"][:: _adam_structure.XOR_SETTINGS["quick"].seeds]]
        assert rates == [_adam_structure.XOR_QUICK_RATES[r] for r in _xor.ROLES]
        assert [c.arch.lr for c in configs["context"]] == [_adam_structure.BLOBS_QUICK[r][0] for r in _context.ROLES]
        assert [c.arch.epochs for c in configs["context"]] == [_adam_structure.BLOBS_QUICK[r][1]
                                                              for r in _context.ROLES]
        assert configs["mnist"][0].arch.lr == _adam_structure.MNIST_QUICK_RATE
        assert max(c.arch.units for c in configs["xor"]) == _adam_structure.XOR_QUICK_UNITS
    # The XOR theory's rates are fitted under Adam: the adam experiment's own rate trials (shared cache).
    rate_configs = _adam_structure.XOR_SETTINGS[profile].rate_configs()
    assert [cache_key(two_point_trial, c) for c in rate_configs] == [
        cache_key(two_point_trial, c) for c in _adam.SETTINGS[profile].adam.fit_configs()]
    assert all(c.arch.optimizer == "adam" for c in rate_configs)


def _xor_result(hidden: np.ndarray) -> dict:
    return {"hidden": hidden[None], "hidden0": hidden[None] + 0.1 * np.arange(4)[None, :, None],
            "output0": np.zeros((4, 1)), "tracked_index": 0, "status": "converged"}


def test_a_wrong_xor_prediction_is_reported_as_not_holding():
    merged = network_metrics([_xor_result(XOR_Y.copy())], 1.0, 1.0)
    kept = network_metrics([_xor_result(XOR_X.copy())], 1.0, 1.0)
    one_pair = XOR_X.copy()
    one_pair[3] = one_pair[0]
    single = network_metrics([_xor_result(one_pair)], 1.0, 1.0)
    good = adam_claims(xor_claims({"low": merged, "intermediate": merged, "high": kept, "2 layers": single}), 0)
    assert good[0].claim.startswith(PREDICTION_CLAIM) and good[0].holds
    # The low-init network keeps the input geometry: the rich-limit prediction (merge) is wrong.
    bad = adam_claims(xor_claims({"low": kept, "intermediate": merged, "high": kept, "2 layers": single}), 0)
    assert not bad[0].holds and bad[0].measured == pytest.approx(2.0)
    assert [c.holds for c in bad[1:3]] == [True, True]
    rows = side_by_side(good, bad)
    assert (rows[0]["sgd_holds"], rows[0]["adam_holds"]) == (True, False)


def test_a_shuffled_mnist_prediction_is_reported_as_not_holding(smoke):
    from repdyn.runs.structure import compare_structure, predict_structure
    from repdyn.rsa import rdm

    out, outputs = smoke
    with np.load(out / "adam-mnist" / "representations-mnist.npz") as data:
        x, y, labels, hidden = data["x"], data["y"], data["labels"], data["hidden"]
    network = rdm(hidden.astype(np.float64))
    prediction = predict_structure(x, y, method="exp", eta_ratio=1.0, tau=1.0)
    right = adam_claims(structure_claims(compare_structure(network, prediction, labels)), 0)
    perm = np.random.default_rng(0).permutation(len(x))
    wrong = adam_claims(structure_claims(compare_structure(network, prediction[np.ix_(perm, perm)], labels)), 0)
    assert wrong[0].measured < right[0].measured
    assert not wrong[0].holds and not wrong[1].holds


def test_claims_that_measure_different_things_do_not_pair_up():
    xor = xor_claims({r: network_metrics([_xor_result(XOR_X.copy())], 1.0, 1.0) for r in _xor.ROLES})
    with pytest.raises(ValueError, match="do not measure the same thing"):
        side_by_side(xor[:2], xor[1:3])
    with pytest.raises(ValueError, match="must pair up"):
        side_by_side(xor, xor[:1])
    with pytest.raises(ValueError, match="prediction must index"):
        adam_claims(xor, len(xor))


def test_the_adam_experiment_keeps_the_authors_paper_settings():
    from repdyn.nets import adam_learning_rate

    [config, *_] = _adam.SETTINGS["paper"].adam.fit_configs()
    assert (config.arch.optimizer, config.arch.lr, config.arch.epochs, config.arch.units) == ("adam", 5e-7, 6000, 500)
    assert config.arch.lr == adam_learning_rate("default")


def test_repdyn_list_names_figs_13_to_16():
    from repdyn.experiments import EXPERIMENTS

    figures = {name: exp.figure for name, exp in EXPERIMENTS.items()}
    assert figures["adam"] == "Figs 13-14"
    assert all(figures[name].startswith("Figs 15-16") for name in NAMES)
