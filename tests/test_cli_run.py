"""``repdyn run two-point`` end to end at a reduced scale."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from repdyn.cli import app
from repdyn.theory import fit_quality

runner = CliRunner()

SMALL = ["--units", "64", "--hidden-layers", "6", "--epochs", "1500", "--executor", "local"]


@pytest.fixture(scope="module")
def two_point_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("two-point")
    result = runner.invoke(app, ["run", "two-point", "--trials", "2", "--seed", "3", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_summary_lists_every_trial_with_its_fit(two_point_run):
    out, output = two_point_run
    summary = json.loads((out / "summary.json").read_text())
    assert [t["seed"] for t in summary["trials"]] == [3, 4]
    assert summary["counts"]["trials"] == 2
    for trial in summary["trials"]:
        assert trial["status"] in ("converged", "not_converged", "diverged")
        assert trial["eta_h"] > 0 and trial["eta_y"] > 0
        assert set(trial["r2"]) >= {"h", "y", "w"}
        assert trial["quality"] == fit_quality(trial["r2"])
        # The fit describes the dynamics, and the fixed point predicts where h ends.
        assert min(trial["r2"][v] for v in "hy") > 0.8
        assert trial["h_inf"] == pytest.approx(trial["h_final"], rel=0.25)
        assert trial["seconds"] > 0
    assert "eta_h" in output and "seed" in output and "quality" in output  # the printed table


def test_run_writes_figure_and_loadable_data(two_point_run):
    import pandas as pd
    import xarray as xr

    out, _ = two_point_run
    for name in ("dynamics.png", "dynamics.pdf"):
        assert (out / name).stat().st_size > 1000
    table = pd.read_csv(out / "trials.csv")
    assert len(table) == 2 and {"eta_h", "eta_y", "status"} <= set(table.columns)
    data = xr.open_dataset(out / "trials.nc")
    assert data["h"].shape[0] == 2 and data["h"].shape[1] == 1501
    assert np.all(np.isfinite(data["theory_h"].values))


def test_load_run_table_has_every_printed_column(two_point_run):
    import repdyn

    out, output = two_point_run
    header, *rows = output.splitlines()[:3]
    printed = header.split()
    trials = repdyn.load_run(out).trials
    assert set(printed) <= set(trials.columns), set(printed) - set(trials.columns)
    summary = json.loads((out / "summary.json").read_text())
    assert trials["quality"].tolist() == [t["quality"] for t in summary["trials"]]
    for row, (_, trial) in zip(rows, trials.iterrows()):
        cells = dict(zip(printed, row.split()))
        assert cells["quality"] == trial["quality"] and int(cells["seed"]) == trial["seed"]
        assert float(cells["eta_h"]) == pytest.approx(trial["eta_h"], rel=1e-3)  # printed to 4 digits
    # The CSV beside it has the same columns.
    import pandas as pd

    assert list(pd.read_csv(out / "trials.csv").columns) == list(trials.columns)


def test_rerun_is_served_from_the_cache(two_point_run, tmp_path):
    out, _ = two_point_run
    before = json.loads((out / "summary.json").read_text())
    result = runner.invoke(app, ["run", "two-point", "--trials", "2", "--seed", "3", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    after = json.loads((out / "summary.json").read_text())
    # Same seconds: the trials were loaded, not trained again.
    assert [t["seconds"] for t in after["trials"]] == [t["seconds"] for t in before["trials"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "no-such-net"], "--model: unknown model 'no-such-net'"),
        (["--epochs", "0"], "epochs"),
        (["--dx2", "0"], "dx2"),
    ],
)
def test_bad_input_is_a_clear_error(args, message, tmp_path):
    result = runner.invoke(app, ["run", "two-point", "--out", str(tmp_path), *args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a usage error, not an exception that escaped
    assert "Traceback" not in result.output
    assert message in result.output.lower()


def test_cluster_jobs_compute_the_same_trials(two_point_run, tmp_path):
    pytest.importorskip("dask_jobqueue")
    out, _ = two_point_run
    args = ["run", "two-point", "--trials", "2", "--seed", "3", "--out", str(tmp_path), *SMALL,
            "--executor", "dask", "--cluster", "local", "--jobs", "1", "--cores", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    local = json.loads((out / "summary.json").read_text())["trials"]
    jobs = json.loads((tmp_path / "summary.json").read_text())["trials"]
    # Trials are single-threaded wherever they run, so the batch jobs' results are bit for bit the local ones.
    for key in ("seed", "status", "eta_h", "eta_y", "h_final"):
        assert [t[key] for t in jobs] == [t[key] for t in local]


def test_protocol_options_reach_the_trial_config(tmp_path):
    args = ["run", "two-point", "--units", "8", "--hidden-layers", "3", "--epochs", "20", "--executor", "local",
            "--layer", "2", "--gain", "0.9", "--lr", "0.003", "--optimizer", "adam", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    # 20 epochs of Adam describe nothing: the fit is unfit, so the run exits 1 with its results written.
    assert result.exit_code == 1 and "unfit" in result.stderr, result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["arch"]["gain"], summary["arch"]["lr"], summary["arch"]["optimizer"]) == (0.9, 0.003, "adam")
    assert summary["trials"][0]["layer"] == "hidden.1"  # layer 2 counted from 1
    assert summary["trials"][0]["measure"] == "eval"


def test_adam_without_a_learning_rate_takes_the_documented_adam_rate(tmp_path):
    base = ["run", "two-point", "--units", "8", "--hidden-layers", "3", "--epochs", "5", "--executor", "local"]
    result = runner.invoke(app, [*base, "--optimizer", "adam", "--out", str(tmp_path / "a")])
    assert result.exit_code in (0, 1) and "Traceback" not in result.output, result.output  # 1: an unfit fit
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["arch"]["lr"] == 5e-7
    result = runner.invoke(app, [*base, "--arch", "tanh", "--optimizer", "adam", "--out", str(tmp_path / "b")])
    assert result.exit_code != 0 and "--lr" in result.output


def test_an_unknown_layer_name_is_bad_input_before_any_trial(tmp_path):
    args = ["run", "two-point", "--units", "4", "--hidden-layers", "2", "--epochs", "3", "--executor", "local",
            "--layer", "no.such.layer", "--out", str(tmp_path / "x")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "no.such.layer" in result.output and not (tmp_path / "x").exists()


def test_layer_and_measurement_mode_enter_the_cache_key():
    from repdyn.runs import TwoPointConfig, two_point_trial
    from repdyn.sweep import cache_key

    default = cache_key(two_point_trial, TwoPointConfig())
    assert cache_key(two_point_trial, TwoPointConfig(layer=11)) == default  # the reference layer of 20
    assert cache_key(two_point_trial, TwoPointConfig(layer="hidden.10")) == default
    assert cache_key(two_point_trial, TwoPointConfig(layer=10)) != default
    assert cache_key(two_point_trial, TwoPointConfig(measure="train")) != default


def test_trial_that_diverges_at_once_is_recorded_not_raised():
    from repdyn.runs import TwoPointConfig, two_point_trial
    from repdyn.nets import get_architecture

    arch = get_architecture("default").replace(units=16, hidden_layers=2, epochs=50, lr=0.05)
    result = two_point_trial(TwoPointConfig(arch=arch, dx2=1e6, seed=0))
    assert result["status"] == "diverged"
    assert result["diverged_epoch"] <= 2
    assert not result["fit_success"] and np.isnan(result["eta_h"])
    assert "time points" in result["fit_message"]


def _drawn(monkeypatch, groups, **kwargs):
    """The figure draw_dynamics makes, captured before it is saved."""
    import repdyn.runs._outputs as outputs
    from repdyn.runs import draw_dynamics

    captured = []
    monkeypatch.setattr(outputs, "save_figure", lambda fig, out, stem: captured.append(fig) or [])
    draw_dynamics(groups, None, "dynamics", **kwargs)
    return captured[0]


def test_dynamics_figure_draws_every_trial_and_names_seeds(monkeypatch):
    t = np.arange(5.0)
    trial = {"epochs": t, "h": t, "y": t, "w": t, "loss": t + 1, "theory_h": t}
    groups = {"default": [(seed, trial) for seed in (3, 4, 5, 6)] + [(7, {"status": "error"})]}
    fig = _drawn(monkeypatch, groups)
    h_axis = fig.axes[0]
    solid = [line for line in h_axis.lines if line.get_linestyle() == "-"]
    assert len(solid) == 4  # every trial with measurements
    legend = fig.axes[3].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == [f"seed {s}" for s in (3, 4, 5, 6)]
    assert "4 of 5 trials shown (1 without measurements)" in h_axis.get_title(loc="left")
    assert h_axis.get_ylabel().startswith("$h")  # the variable, not the architecture
    one = _drawn(monkeypatch, groups, max_trials=1)
    assert "1 of 5 trials shown" in one.axes[0].get_title(loc="left")


USER_MODEL = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_dim, out_dim, gain=1.0):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(in_dim, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh())
        self.head = nn.Linear(16, out_dim)
        self.tracked_layer = "hidden"
        with torch.no_grad():
            self.head.weight.mul_(0.1 * gain)

    def forward(self, x):
        return self.head(self.hidden(x))
'''


def test_a_model_from_the_users_file_runs_as_the_built_in_ones(tmp_path):
    import pandas as pd
    import xarray as xr

    import repdyn

    (tmp_path / "mine.py").write_text(USER_MODEL)
    out = tmp_path / "run"
    args = ["run", "two-point", "--model", f"{tmp_path / 'mine.py'}:Net", "--trials", "2", "--seed", "5",
            "--lr", "0.05", "--epochs", "400", "--executor", "local", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [t["seed"] for t in summary["trials"]] == [5, 6] and summary["model"]["kind"] == "file"
    assert summary["model"]["training"] == "sgd at lr 0.05, 400 epochs, full batch, loss half_mse"
    assert all(t["arch"] == "mine.py:Net" and t["layer"] == "hidden" for t in summary["trials"])
    assert "eta_h" in result.stdout and "seed" in result.stdout  # the table
    assert (out / "dynamics.png").stat().st_size > 1000 and len(pd.read_csv(out / "trials.csv")) == 2
    with xr.open_dataset(out / "trials.nc") as data:
        assert data["h"].sel(seed=6).shape == (401,)
    # A rerun is served from the cache: the same seconds, nothing trained again.
    again = runner.invoke(app, args)
    assert again.stdout == result.stdout
    assert [t["seconds"] for t in json.loads((out / "summary.json").read_text())["trials"]] == \
        [t["seconds"] for t in summary["trials"]]
    assert repdyn.load_run(out).trials["seed"].tolist() == [5, 6]
    # Its own model needs a rate: SGD's default belongs to the paper's networks only.
    no_rate = runner.invoke(app, [*args[:8], "--out", str(tmp_path / "no-rate")])
    assert no_rate.exit_code == 2 and "--lr" in no_rate.output and "Traceback" not in no_rate.output
