"""The ``repdyn theory`` commands and ``repdyn demo``, driven through typer's CliRunner."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from repdyn.cli import app
from repdyn.theory import final_distance, loss_curve, solve

runner = CliRunner()

RICH = {"h0": 1e-2, "y0": 1e-4, "w0": 5e-5, "eta_h": 0.002, "eta_y": 0.003, "dx2": 1.0, "dy2": 0.5}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def simulate_args(epochs: int = 2000, **extra) -> list[str]:
    params = {**RICH, "epochs": epochs, **extra}
    out = ["theory", "simulate"]
    for key, value in params.items():
        out += [f"--{key.replace('_', '-')}", str(value)]
    return out


def read_csv(path) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: np.array([float(row[key]) for row in rows]) for key in rows[0]}


def expected_trajectory(epochs: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(epochs + 1.0)
    z0 = (RICH["h0"], RICH["y0"], RICH["w0"])
    return t, solve(
        z0, t, eta_h=RICH["eta_h"], eta_y=RICH["eta_y"], dx2=RICH["dx2"], dy2=RICH["dy2"]
    )


def test_simulate_writes_the_trajectory_as_csv(tmp_path):
    out = tmp_path / "traj.csv"
    result = invoke(*simulate_args(out=out))
    assert result.exit_code == 0, result.output
    data = read_csv(out)
    assert list(data) == ["epoch", "h", "y", "w"]
    t, z = expected_trajectory(2000)
    np.testing.assert_array_equal(data["epoch"], t)
    np.testing.assert_allclose(
        np.stack([data["h"], data["y"], data["w"]], axis=-1), z, rtol=1e-6, atol=1e-12
    )


def test_simulate_adds_the_loss_and_prints_to_stdout_without_out():
    result = invoke(*simulate_args(epochs=50, eta_m=0.01, m0=0.3))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "epoch,h,y,w,loss" and len(lines) == 52
    t, z = expected_trajectory(50)
    loss = np.array([float(line.split(",")[4]) for line in lines[1:]])
    expected = loss_curve(z, t, eta_m=0.01, dy2=RICH["dy2"], m0=0.3)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)


def test_simulate_plot_and_bad_input(tmp_path):
    plot = tmp_path / "sim.png"
    result = invoke(*simulate_args(epochs=100, out=tmp_path / "s.csv", plot=plot))
    assert result.exit_code == 0, result.output
    assert plot.read_bytes()[:8] == PNG_MAGIC
    result = invoke(*simulate_args(epochs=100, h0=-1.0))
    assert result.exit_code == 2
    assert "--h0 must be a finite number > 0; got -1.0" in result.output


def test_fit_recovers_the_rates_of_a_simulated_csv(tmp_path):
    traj, plot = tmp_path / "traj.csv", tmp_path / "fit.png"
    assert invoke(*simulate_args(out=traj, eta_m=0.004, m0=0.2)).exit_code == 0
    result = invoke("theory", "fit", traj, "--dx2", 1.0, "--dy2", 0.5, "--plot", plot)
    assert result.exit_code == 0, result.output
    assert "eta_h" in result.stdout and "R^2" in result.stdout and "h_inf" in result.stdout
    assert plot.read_bytes()[:8] == PNG_MAGIC

    result = invoke("theory", "fit", traj, "--dx2", 1.0, "--dy2", 0.5, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["eta_h"] == pytest.approx(RICH["eta_h"], rel=1e-4)
    assert summary["eta_y"] == pytest.approx(RICH["eta_y"], rel=1e-4)
    assert summary["eta_m"] == pytest.approx(0.004, rel=1e-4)
    assert set(summary["r2"]) == {"h", "y", "w", "loss"} and min(summary["r2"].values()) > 0.9999
    expected = final_distance(
        RICH["h0"], RICH["y0"], eta_h=RICH["eta_h"], eta_y=RICH["eta_y"], dx2=1.0, dy2=0.5
    )
    assert summary["h_inf"] == pytest.approx(float(expected.h_inf), rel=1e-4)
    assert summary["regime"] == str(expected.regime) and summary["success"] is True


@pytest.mark.parametrize("layout", ["z", "columns"])
def test_fit_reads_npz(tmp_path, layout):
    t, z = expected_trajectory(1500)
    path = tmp_path / "traj.npz"
    if layout == "z":
        np.savez(path, t=t, z=z)
    else:
        np.savez(path, epoch=t, h=z[:, 0], y=z[:, 1], w=z[:, 2])
    result = invoke("theory", "fit", path, "--dx2", 1.0, "--dy2", 0.5, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["eta_h"] == pytest.approx(RICH["eta_h"], rel=1e-4)
    assert summary["eta_m"] is None and "loss" not in summary["r2"]


def test_fit_reports_unreadable_input(tmp_path):
    result = invoke("theory", "fit", tmp_path / "missing.csv", "--dx2", 1.0, "--dy2", 0.5)
    assert result.exit_code == 2 and "does not exist" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,h,y\n0,1,2\n1,1,2\n2,1,2\n")
    result = invoke("theory", "fit", bad, "--dx2", 1.0, "--dy2", 0.5)
    assert result.exit_code == 2 and "needs columns h, y, w" in result.output
    short = tmp_path / "short.csv"
    short.write_text("epoch,h,y,w\n0,1,0.5,0.5\n1,1,0.5,0.5\n")
    result = invoke("theory", "fit", short, "--dx2", 1.0, "--dy2", 0.5)
    assert result.exit_code == 2 and "at least 3 time points" in result.output


def test_predict_matches_final_distance():
    args = ["--h0", 4.0, "--y0", 2.0, "--eta-h", 5e-4, "--eta-y", 1e-3, "--dx2", 1.0, "--dy2", 0.5]
    result = invoke("theory", "predict", *args, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    expected = final_distance(4.0, 2.0, eta_h=5e-4, eta_y=1e-3, dx2=1.0, dy2=0.5)
    assert summary["h_inf"] == pytest.approx(float(expected.h_inf), rel=1e-12)
    assert summary["a_low"] == pytest.approx(float(expected.a_low), rel=1e-12)
    assert summary["a_high"] == pytest.approx(float(expected.a_high), rel=1e-12)
    assert summary["regime"] == str(expected.regime)
    text = invoke("theory", "predict", *args)
    assert text.exit_code == 0 and "A_low" in text.stdout and str(expected.regime) in text.stdout
    assert (
        invoke(
            "theory", "predict", "--h0", 1.0, "--y0", 1.0, "--eta-h", 0.0, "--eta-y", 1.0
        ).exit_code
        == 2
    )


def test_demo_writes_figure_csv_and_summary(tmp_path):
    result = invoke("demo", "--out", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    out = tmp_path / "demo"
    assert (out / "demo.png").read_bytes()[:8] == PNG_MAGIC
    summary = json.loads((out / "summary.json").read_text())
    for name in ("rich", "lazy"):
        assert name in result.stdout
        row = summary[name]
        assert row["eta_h"] == pytest.approx(row["eta_h_true"], rel=0.02)
        assert row["eta_y"] == pytest.approx(row["eta_y_true"], rel=0.02)
        data = read_csv(out / f"{name}.csv")
        assert {"epoch", "h", "y", "w", "h_fit", "y_fit", "w_fit"} <= set(data)


# --- reading what repdyn and pandas write ------------------------------------------------------------


@pytest.fixture(scope="module")
def tracked():
    """A real two-point run tracked at two layers (track_pair), and the fit of each layer from Python."""
    import torch

    from repdyn.theory import fit
    from repdyn.track import track_pair

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 20), torch.nn.Tanh(), torch.nn.Linear(20, 20), torch.nn.Tanh(),
                              torch.nn.Linear(20, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(0.5)
    x, y = torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([[1.0], [0.0]])
    run = track_pair(net, ["1", "3"], x, y, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), epochs=300)
    return run, {layer: fit(**run.theory_inputs(layer)) for layer in run.layers}


def fit_json(path, *extra):
    result = invoke("theory", "fit", path, "--dx2", 1.0, "--dy2", 1.0, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_fit_reads_to_frame_saved_by_pandas_with_and_without_its_index(tracked, tmp_path):
    run, expected = tracked
    assert (run.dx2, run.dy2) == (1.0, 1.0)
    frame = run.to_frame()
    frame.to_csv(tmp_path / "index.csv")  # header ",epoch,layer,h,y,w,loss"
    frame.to_csv(tmp_path / "plain.csv", index=False)
    upper = frame.rename(columns=str.upper)
    upper.to_csv(tmp_path / "upper.csv")
    assert (tmp_path / "index.csv").read_text().startswith(",epoch,layer,h,y,w,loss\n")
    assert (tmp_path / "upper.csv").read_text().startswith(",EPOCH,LAYER,H,Y,W,LOSS\n")
    for name in ("index.csv", "plain.csv", "upper.csv"):
        for layer in run.layers:
            summary = fit_json(tmp_path / name, "--layer", layer)
            # The same numbers reach the fit as from Python: the same rates, to the last digit.
            assert summary["eta_h"] == expected[layer].eta_h and summary["eta_y"] == expected[layer].eta_y
            assert summary["eta_m"] == expected[layer].eta_m
    # pandas' index column read back and saved again is called "Unnamed: 0".
    import pandas as pd

    pd.read_csv(tmp_path / "index.csv").to_csv(tmp_path / "again.csv", index=False)
    assert (tmp_path / "again.csv").read_text().startswith("Unnamed: 0,")
    assert fit_json(tmp_path / "again.csv", "--layer", "3")["eta_h"] == expected["3"].eta_h
    # One layer in the file: no --layer needed.
    frame[frame.layer == "1"].to_csv(tmp_path / "one.csv")
    assert fit_json(tmp_path / "one.csv")["eta_y"] == expected["1"].eta_y


def test_fit_reads_a_pairs_tracking_frame_by_pair_and_layer(tmp_path):
    import torch

    from repdyn.theory import fit
    from repdyn.track import track_pairs

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 2))
    x = torch.randn(12, 3)
    y = torch.nn.functional.one_hot(torch.arange(12) % 2).double().float()
    run = track_pairs(net, ["1", "3"], x, y, 3, optimizer=torch.optim.SGD(net.parameters(), lr=0.2), epochs=30,
                      batch_size=4, seed=0)
    frame = run.to_frame()
    assert list(frame.columns) == ["pair", "epoch", "layer", "h", "y", "w", "loss", "train_loss"]
    assert len(frame) == run.n_pairs * len(run.layers) * len(run.epochs)
    frame.to_csv(tmp_path / "pairs.csv")
    result = invoke("theory", "fit", tmp_path / "pairs.csv", "--dx2", 1.0, "--dy2", 1.0, "--layer", "3")
    assert result.exit_code == 2 and "holds 3 pairs (0, 1, 2); choose one with --pair" in result.output
    k, layer = 2, "3"
    summary = json.loads(invoke("theory", "fit", tmp_path / "pairs.csv", "--dx2", run.dx2[k], "--dy2", run.dy2[k],
                                "--pair", k, "--layer", layer, "--json").stdout)
    z = run.z(layer)[k]
    direct = fit(z, run.epochs.astype(float), dx2=run.dx2[k], dy2=run.dy2[k], loss=run.loss[k])
    assert summary["eta_h"] == direct.eta_h and summary["eta_y"] == direct.eta_y


@pytest.mark.parametrize(
    ("text", "extra", "message"),
    [
        # a layer column of several layers, none chosen
        ("epoch,layer,h,y,w\n0,a,1,0.1,0.1\n0,b,2,0.1,0.1\n1,a,1,0.2,0.1\n1,b,2,0.2,0.1\n2,a,1,.3,.1\n2,b,2,.3,.1\n",
         [], "holds 2 layers (a, b); choose one with --layer NAME"),
        ("epoch,layer,h,y,w\n0,a,1,0.1,0.1\n1,a,1,0.2,0.1\n2,a,1,0.3,0.1\n", ["--layer", "b"],
         "--layer b is not a layer of"),
        ("epoch,h,y,w\n0,1,0.1,0.1\n1,1,0.2,0.1\n2,1,0.3,0.1\n", ["--layer", "a"], "has no layer column"),
        # an extra column: named, with what to do
        ("epoch,h,y,w,speed\n0,1,0.1,0.1,3\n1,1,0.2,0.1,3\n2,1,0.3,0.1,3\n", [], "unknown column(s) ['speed']"),
        ("row,epoch,h,y,w\n0,0,1,0.1,0.1\n1,1,1,0.2,0.1\n2,2,1,0.3,0.1\n", [], "unknown column(s) ['row']"),
        ("h,y,w,tick\n1,0.1,0.1,0\n1,0.2,0.1,1\n1,0.3,0.1,2\n", [], "name it with --time-column NAME"),
        ("h,y,w,tick\n1,0.1,0.1,0\n1,0.2,0.1,1\n1,0.3,0.1,2\n", ["--no-time-column"], "give --time-column tick"),
        # a row with a field more than the header names
        ("epoch,h,y,w\n0,1,0.1,0.1\n1,1,0.2,0.1,9\n2,1,0.3,0.1\n", [],
         "line 3 has 5 fields but the header names 4 columns (epoch,h,y,w): field 5, '9', has no column"),
        ("epoch,h,y,w\n0,1,0.1,0.1\n1,1,0.2\n2,1,0.3,0.1\n", [], "column 'w' and after have no value"),
        ("epoch,,h,y,w\n0,0,1,0.1,0.1\n1,1,1,0.2,0.1\n2,2,1,0.3,0.1\n", [], "column 2 of the header"),
        ("epoch,h,H,y,w\n0,1,1,0.1,0.1\n1,1,1,0.2,0.1\n2,1,1,0.3,0.1\n", [], "the columns 'h' and 'H' have one name"),
        ("epoch,h,y,w\n0,1,0.1,0.1\n1,one,0.2,0.1\n2,1,0.3,0.1\n", [], "line 3, column 'h': 'one' is not a number"),
    ],
)
def test_fit_refuses_a_file_naming_the_column_and_the_fix(tmp_path, text, extra, message):
    path = tmp_path / "traj.csv"
    path.write_text(text)
    result = invoke("theory", "fit", path, "--dx2", 1.0, "--dy2", 0.5, *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_fit_reads_the_demo_csv_whose_fit_columns_it_ignores(tmp_path):
    assert invoke("demo", "--out", tmp_path).exit_code == 0
    rich = json.loads((tmp_path / "summary.json").read_text())["rich"]
    import repdyn

    assert repdyn.load_run(tmp_path).summary["rich"] == rich
    result = invoke("theory", "fit", tmp_path / "rich.csv", "--dx2", 1.0, "--dy2", 0.5, "--json")
    assert result.exit_code == 0, result.output
    # The demo fitted the same noisy columns (its CSV rounds nothing: repr of every float).
    assert json.loads(result.stdout)["eta_h"] == rich["eta_h"]
