"""The command line's rules (issue 21), one test per rule: atomic writes, one message for every failure a
user can cause, ambiguous and degenerate inputs refused, bounded work, exits of bad model code, --host.

The fuzzer (tests/test_cli_fuzz.py) checks the same rules on drawn command lines; these tests pin each rule
to an input whose right answer is known.
"""

from __future__ import annotations

import errno
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from repdyn import checks
from repdyn.cli import app
from repdyn.runs import (
    MAX_RUN_SECONDS,
    Execution,
    atomic_path,
    format_seconds,
    require_time,
    write_figure,
    write_json,
    write_text,
)

runner = CliRunner()
SIMULATE = ["theory", "simulate", "--h0", "0.3", "--y0", "0.2", "--eta-h", "0.01", "--eta-y", "0.02", "--epochs", "5"]


def _one_error(result, code=2):
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert result.output.count("Error:") == 1, result.output
    return result.output


# -- atomic writes ------------------------------------------------------------------------------------------

def test_atomic_path_replaces_the_file_whole_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "table.csv"
    write_text(target, "old\n")
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".csv" and tmp != target
        tmp.write_text("new\n")
        assert target.read_text() == "old\n"  # not visible before the block ends
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"a": 2, "trunc')
        raise RuntimeError("disk full halfway")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def test_a_long_file_name_gets_a_temporary_name_the_file_system_takes(tmp_path):
    target = tmp_path / ("n" * 250 + ".csv")
    write_text(target, "x\n")
    assert target.read_text() == "x\n"


def test_a_figure_that_fails_to_draw_leaves_no_empty_png(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2])
    with pytest.raises(ValueError):
        write_figure(fig, tmp_path / "plot.png", dpi=-5)  # matplotlib refuses a negative resolution mid-write
    plt.close(fig)
    assert list(tmp_path.iterdir()) == []


def test_simulate_on_a_full_disk_is_one_message_and_no_partial_file(tmp_path, monkeypatch):
    from pathlib import Path

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", full)
    out = _one_error(runner.invoke(app, [*SIMULATE, "--out", str(tmp_path / "sim.csv")]))
    assert "disk is full" in out
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_is_one_line_and_exit_130(monkeypatch):
    import repdyn.theory as theory

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(theory, "solve", interrupted)
    result = runner.invoke(app, SIMULATE)
    assert result.exit_code == 130 and "interrupted" in result.output and "Traceback" not in result.output


def test_demo_and_predict_write_their_index_last(tmp_path, monkeypatch):
    """A run that fails midway never leaves the old index beside new files."""
    out = tmp_path / "p"
    assert runner.invoke(app, ["predict", "--dataset", "xor", "--out", str(out)]).exit_code == 0
    import repdyn.runs.structure as structure

    def broken(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(out / "figure.png"))

    monkeypatch.setattr(structure, "draw_prediction", broken)
    _one_error(runner.invoke(app, ["predict", "--dataset", "xor", "--out", str(out)]))
    assert not (out / "prediction.json").exists()
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


# -- ambiguous and degenerate inputs ------------------------------------------------------------------------

def test_a_trajectory_with_both_z_and_h_y_w_is_refused(tmp_path):
    t = np.arange(5.0)
    z = np.tile([0.3, 0.2, 0.1], (5, 1))
    np.savez(tmp_path / "both.npz", epoch=t, z=z, h=z[:, 0] * 2, y=z[:, 1], w=z[:, 2])
    out = _one_error(runner.invoke(app, ["theory", "fit", str(tmp_path / "both.npz"), "--dx2", "1", "--dy2", "0.5"]))
    assert "both an array z" in out


@pytest.mark.parametrize(("arrays", "named"), [
    ({"x": np.zeros((6, 0)), "y": np.ones((6, 1))}, "no values per point"),
    ({"x": np.ones((6, 2)), "y": np.arange(6.0)[:, None]}, "identical inputs"),
    ({"x": np.arange(12.0).reshape(6, 2), "y": np.ones((6, 1))}, "identical targets"),
])
def test_predict_refuses_points_whose_prediction_means_nothing(arrays, named, tmp_path):
    np.savez(tmp_path / "points.npz", **arrays)
    out = tmp_path / "out"
    message = _one_error(runner.invoke(app, ["predict", "--dataset", str(tmp_path / "points.npz"), "--out", str(out)]))
    assert named in message and "--dataset" in message
    assert not out.exists()


@pytest.mark.parametrize("hidden", [np.ones((4, 3)), np.ones(18), np.ones((3, 6))])
def test_compare_refuses_representations_that_are_not_one_row_per_point(hidden, tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "reps.npz", x=rng.normal(size=(6, 2)), y=rng.normal(size=(6, 1)), hidden=hidden)
    message = _one_error(runner.invoke(app, ["predict", "--compare", str(tmp_path / "reps.npz"), "--out",
                                             str(tmp_path / "out")]))
    assert "'hidden' has shape" in message and "6 points" in message


@pytest.mark.parametrize("value", [True, "0.01", -0.01, [1]])
def test_rates_from_refuses_values_that_are_not_positive_numbers(value, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text(json.dumps({"trials": [{"eta_h": value, "eta_y": 0.02}]}))
    message = _one_error(runner.invoke(app, ["predict", "--dataset", "xor", "--rates-from", str(tmp_path / "run"),
                                             "--out", str(tmp_path / "out")]))
    assert "eta_h" in message and "--rates-from" in message


def test_rates_from_skips_trials_without_a_fit(tmp_path):
    (tmp_path / "run").mkdir()
    trials = [{"eta_h": None, "eta_y": None}, {"eta_h": 0.02, "eta_y": 0.01, "quality": "good"}]
    (tmp_path / "run" / "summary.json").write_text(json.dumps({"trials": trials}))
    result = runner.invoke(app, ["predict", "--dataset", "xor", "--rates-from", str(tmp_path / "run"), "--out",
                                 str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out" / "prediction.json").read_text())["eta_ratio"] == pytest.approx(2.0)


def test_a_prediction_beyond_float32_is_an_error_not_inf(tmp_path):
    rng = np.random.default_rng(0)
    # A_ij = sqrt(dx2 * dy2) reaches about 1e60 here: float64 holds it, float32 (predicted.npy) does not.
    np.savez(tmp_path / "big.npz", x=rng.normal(size=(8, 2)) * 1e30, y=rng.normal(size=(8, 1)) * 1e30)
    out = tmp_path / "out"
    message = _one_error(runner.invoke(app, ["predict", "--dataset", str(tmp_path / "big.npz"), "--method",
                                             "pairwise", "--out", str(out)]))
    assert "float32" in message
    assert not (out / "predicted.npy").exists()


# -- bounded work --------------------------------------------------------------------------------------------

def test_require_time_refuses_beyond_a_week_and_says_how_long():
    require_time("trials", MAX_RUN_SECONDS, "x", "lower it")
    with pytest.raises(checks.ArgumentValueError) as info:
        require_time("trials", 30 * 86400.0, "1000 trials", "lower --trials")
    assert info.value.parameter == "trials" and "30 days" in str(info.value)
    assert format_seconds(90) == "1.5 min" and format_seconds(5400) == "1.5 h"


def test_unbounded_trials_are_refused_before_any_work(tmp_path):
    out = tmp_path / "out"
    message = _one_error(runner.invoke(app, ["run", "two-point", "--trials", str(10**9), "--executor", "local",
                                             "--out", str(out)]))
    assert "--trials" in message
    assert not out.exists()


def test_unbounded_permutations_are_refused_naming_the_option(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    np.savez(tmp_path / "reps.npz", x=x, y=rng.normal(size=(200, 1)), hidden=np.tanh(x))
    message = _one_error(runner.invoke(app, ["predict", "--compare", str(tmp_path / "reps.npz"), "--permutations",
                                             str(10**15), "--out", str(tmp_path / "out")]))
    assert "--permutations" in message and "10000" in message.replace(",", "")


def test_permutations_beyond_the_points_permutations_are_exhaustive_and_quick(tmp_path):
    """Four points have 24 orders: the most --permutations tries each once, so it is no long wait."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 2))
    np.savez(tmp_path / "reps.npz", x=x, y=rng.normal(size=(4, 1)), hidden=np.tanh(x))
    result = runner.invoke(app, ["predict", "--compare", str(tmp_path / "reps.npz"), "--permutations", "10000",
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("dx2", ["1e300", "1e-300"])
def test_two_point_distances_outside_float32_are_refused(dx2, tmp_path):
    message = _one_error(runner.invoke(app, ["run", "two-point", "--dx2", dx2, "--executor", "local", "--out",
                                             str(tmp_path / "out")]))
    assert "--dx2" in message and "float32" in message


# -- bad model code ------------------------------------------------------------------------------------------

MODELS = '''
import sys
import torch

def exits(in_dim, out_dim):
    sys.exit(0)

class WrongWidth(torch.nn.Module):
    tracked_layer = "a"

    def __init__(self, in_dim, out_dim):
        super().__init__()
        self.a = torch.nn.Linear(in_dim, out_dim + 2)

    def forward(self, x):
        return self.a(x)

class QuitsInForward(WrongWidth):
    def forward(self, x):
        raise SystemExit(0)
'''


@pytest.mark.parametrize(("factory", "named"), [("exits", "sys.exit(0)"), ("WrongWidth", "returns (2, 3)"),
                                                ("QuitsInForward", "sys.exit(0)")])
def test_bad_model_code_is_exit_2_before_training(factory, named, tmp_path):
    (tmp_path / "models.py").write_text(MODELS)
    out = tmp_path / "out"
    message = _one_error(runner.invoke(app, ["run", "two-point", "--model", f"{tmp_path / 'models.py'}:{factory}",
                                             "--lr", "0.1", "--epochs", "5", "--executor", "local", "--out",
                                             str(out)]))
    assert "--model" in message and named in message
    assert not out.exists()


def test_a_file_that_exits_on_import_is_bad_input(tmp_path):
    (tmp_path / "quits.py").write_text("import sys\nsys.exit(0)\n")
    message = _one_error(runner.invoke(app, ["run", "two-point", "--model", f"{tmp_path / 'quits.py'}:f", "--lr",
                                             "0.1", "--executor", "local", "--out", str(tmp_path / "out")]))
    assert "importing" in message and "sys.exit(0)" in message


def test_user_code_failure_describes_an_exit():
    assert "sys.exit(3)" in checks.user_code_failure(SystemExit(3))
    assert checks.user_code_failure(ValueError("bad width")) == "ValueError: bad width"


# -- --host --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("extra", "named"), [
    (["--host", "0.0.0.0"], "--executor dask"),
    (["--executor", "dask", "--host", "not a host!"], "--host must be an IP address"),
    (["--executor", "dask", "--interface", "127.0.0.1", "--scheduler", "tcp://127.0.0.1:1"], "--scheduler"),
])
def test_host_is_checked_before_anything_starts(extra, named, tmp_path):
    message = _one_error(runner.invoke(app, ["run", "two-point", *extra, "--out", str(tmp_path / "out")]))
    assert named in message


def test_execution_passes_host_to_the_sweep_only_for_a_local_dask_cluster(tmp_path):
    assert Execution(out=tmp_path, executor="dask", host="10.0.0.5").dispatch["host"] == "10.0.0.5"
    assert "host" not in Execution(out=tmp_path, executor="dask").dispatch
    with pytest.raises(checks.ArgumentValueError) as info:
        Execution(out=tmp_path, executor="process", host="127.0.0.1")
    assert info.value.parameter == "host"


def test_more_digits_per_label_than_mnist_holds_is_refused_not_clamped(tmp_path):
    message = _one_error(runner.invoke(app, ["predict", "--dataset", "mnist", "--per-label", str(10**6), "--out",
                                             str(tmp_path / "out")]))
    assert "--per-label" in message and "give only" in message


# -- exit statuses -------------------------------------------------------------------------------------------

def test_a_diverged_two_point_run_exits_1_with_its_results_kept(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "two-point", "--units", "16", "--hidden-layers", "1", "--epochs", "300",
                                 "--lr", "50", "--executor", "local", "--out", str(out)])
    message = _one_error(result, code=1)
    assert "diverged" in message and "--lr" in message
    summary = json.loads((out / "summary.json").read_text())
    assert summary["trials"][0]["status"] == "diverged"
    assert all((out / name).exists() for name in summary["files"])


def test_an_input_distance_matrix_of_the_wrong_shape_is_one_message(tmp_path):
    """Found by the fuzzer: comparing an array with a name raised inside the check itself."""
    np.save(tmp_path / "m.npy", np.ones((4, 5)))
    message = _one_error(runner.invoke(app, ["atlas", "--dataset", "xor", "--epochs", "3", "--input-distance",
                                             str(tmp_path / "m.npy"), "--out", str(tmp_path / "out")]))
    assert "--input-distance" in message and "(N, N)" in message
