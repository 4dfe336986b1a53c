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
