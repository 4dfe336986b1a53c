"""The kernel rates wired into two-point trials and ``repdyn run two-point --kernel-rates``.

Oracle: a network whose encoder and decoder are affine maps has both kernel
rates exactly ``lr / 2`` (docs/theory.md), so its trial's zero-fit theory is
:func:`repdyn.theory.solve` with those constants, and its zero-fit final
distance is :func:`repdyn.theory.final_distance` with them.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from repdyn.cli import app
from repdyn.runs import Training, TwoPointConfig, two_point_trial
from repdyn.sweep import cache_key, canonical_json
from repdyn.theory import final_distance, solve, trajectory_r2

LR = 0.02


class Affine(nn.Module):
    """An affine encoder (``encoder``, the tracked layer) and an affine decoder, in float64."""

    hidden_layer_names = ("encoder",)
    tracked_layer = "encoder"

    def __init__(self, in_dim: int, out_dim: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.Linear(in_dim, 5).double()
        self.decoder = nn.Linear(5, out_dim).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def affine_config(**changes) -> TwoPointConfig:
    settings = dict(arch=Affine, seed=1, dx2=1.0, dy2=0.5, in_dim=3, out_dim=2,
                    training=Training(lr=LR, epochs=200, loss="half_sum"), kernel_every=20)  # the theory's loss
    settings.update(changes)
    return TwoPointConfig(**settings)


@pytest.fixture(scope="module")
def affine_trial():
    return two_point_trial(affine_config())


def test_affine_trial_records_both_rates_exactly_half_the_learning_rate(affine_trial):
    rows = np.flatnonzero(np.isfinite(affine_trial["kernel_eta_h"]))
    np.testing.assert_array_equal(affine_trial["epochs"][rows], np.arange(0, 201, 20))
    np.testing.assert_allclose(affine_trial["kernel_eta_h"][rows], LR / 2, rtol=1e-12)
    np.testing.assert_allclose(affine_trial["kernel_eta_y"][rows], LR / 2, rtol=1e-12)
    assert np.all(np.isnan(np.delete(affine_trial["kernel_eta_y"], rows)))


def test_affine_zero_fit_is_the_theory_with_half_the_learning_rate(affine_trial):
    r = affine_trial
    observed = np.stack([r["h"], r["y"], r["w"]], axis=1)
    oracle = solve(observed[0], r["epochs"].astype(float), eta_h=LR / 2, eta_y=LR / 2, dx2=1.0, dy2=0.5)
    zero_fit = np.stack([r["zero_fit_h"], r["zero_fit_y"], r["zero_fit_w"]], axis=1)
    # Solver tolerance: 1e-9 is 1e-7 of the variables' size (w crosses zero).
    np.testing.assert_allclose(zero_fit, oracle, rtol=1e-6, atol=1e-9)
    assert {v: r[f"r2_zero_{v}"] for v in "hyw"} == pytest.approx(trajectory_r2(observed, oracle), rel=1e-6)
    expected = final_distance(r["h0"], r["y0"], eta_h=LR / 2, eta_y=LR / 2, dx2=1.0, dy2=0.5).h_inf
    assert r["h_inf_kernel"] == pytest.approx(float(expected), rel=1e-6)  # the rates agree to 1e-12
    assert r["zero_fit_message"] == ""


def test_measuring_kernels_leaves_the_training_unchanged_and_old_keys_alone(affine_trial):
    plain_config = affine_config(kernel_every=None)
    plain = two_point_trial(plain_config)
    np.testing.assert_array_equal(plain["h"], affine_trial["h"])
    np.testing.assert_array_equal(plain["loss"], affine_trial["loss"])
    assert "kernel_eta_h" not in plain and "r2_zero_h" not in plain
    # Without kernel rates the option is not in the key: stored trials keep their keys.
    assert "kernel_every" not in canonical_json(plain_config)
    assert "kernel_every" in canonical_json(affine_config())
    keys = {cache_key(two_point_trial, affine_config(kernel_every=k)) for k in (None, 20, 25)}
    assert len(keys) == 3


def test_a_fast_path_network_with_kernel_rates_trains_with_autograd_to_rounding():
    from repdyn.nets import get_architecture

    spec = get_architecture("default").replace(units=8, hidden_layers=4, epochs=100)
    fast = two_point_trial(TwoPointConfig(arch=spec))
    measured = two_point_trial(TwoPointConfig(arch=spec, kernel_every=50))
    np.testing.assert_allclose(measured["h"], fast["h"], rtol=1e-4)
    assert np.isfinite(measured["kernel_eta_h"][[0, 50, 100]]).all()


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "25"])
def test_bad_kernel_every_is_refused_by_name(value):
    with pytest.raises((TypeError, ValueError), match="kernel_every"):
        affine_config(kernel_every=value)


runner = CliRunner()
SMALL = ["--units", "8", "--hidden-layers", "4", "--epochs", "300", "--executor", "local"]


def test_cli_kernel_rates_writes_the_measured_rates_and_the_zero_fit(tmp_path):
    import xarray as xr

    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "two-point", "--kernel-rates", "--out", str(out), *SMALL])
    assert result.exit_code in (0, 1), result.output  # 1: a fit this short may be unfit
    assert "r2_zero_h" in result.output and "h_inf_kernel" in result.output
    [trial] = json.loads((out / "summary.json").read_text())["trials"]
    assert trial["kernel_every"] == 25 and set(trial["r2_zero"]) == {"h", "y", "w"}
    data = xr.open_dataset(out / "trials.nc")
    rows = np.flatnonzero(np.isfinite(data["kernel_eta_h"].values[0]))
    np.testing.assert_array_equal(rows, np.arange(0, 301, 25))
    assert data["kernel_eta_h"].attrs["units"] == "1 / optimisation step"
    assert data["zero_fit_h"].dims == ("seed", "epoch") and data["r2_zero_h"].attrs["units"] == "1"
    assert int(data["kernel_every"].values[0]) == 25
    assert trial["r2_zero"]["h"] == pytest.approx(float(data["r2_zero_h"].values[0]))


def test_cli_kernel_every_sets_the_records_and_a_bad_one_exits_2(tmp_path):
    import xarray as xr

    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "two-point", "--kernel-every", "100", "--out", str(out), *SMALL])
    assert result.exit_code in (0, 1), result.output
    data = xr.open_dataset(out / "trials.nc")
    np.testing.assert_array_equal(np.flatnonzero(np.isfinite(data["kernel_eta_y"].values[0])), [0, 100, 200, 300])
    bad = runner.invoke(app, ["run", "two-point", "--kernel-every", "0", "--out", str(tmp_path / "bad"), *SMALL])
    assert bad.exit_code == 2 and "--kernel-every" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "bad").exists()


# --- the atlas -----------------------------------------------------------------------------------


def affine_xor(in_dim: int, out_dim: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(in_dim, 6), nn.Linear(6, out_dim))  # float32, as the data
    model.hidden_layer_names = ("0",)
    return model


def test_atlas_kernel_predictor_of_an_affine_network_is_the_theory_at_half_the_learning_rate(tmp_path):
    import repdyn

    lr, every = 0.05, 5
    result = repdyn.atlas(affine_xor, "xor", epochs=60, lr=lr, batch_size="full", kernel_every=every,
                          loss="half_sum", out=tmp_path, progress=False)  # the theory's loss
    ds = result.dataset
    assert list(ds["predictor"].values) == ["cross_validated", "own_fit", "h0_baseline", "kernel_init"]
    np.testing.assert_array_equal(ds["kernel_epoch"].values, np.arange(0, 61, every))
    np.testing.assert_allclose(ds["kernel_eta_h"].values, lr / 2, rtol=1e-5)  # float32 kernels
    np.testing.assert_allclose(ds["kernel_eta_y"].values, lr / 2, rtol=1e-5)
    h0, y0 = ds["h0"].values[:, 0], ds["y0"].values[:, 0]
    dx2, dy2 = ds["dx2"].values, ds["dy2"].values
    fitted = ds["fit_state"].values[:, 0] == "fitted"
    assert fitted.sum() >= 4
    for k in np.flatnonzero(fitted):
        expected = final_distance(h0[k], y0[k], eta_h=lr / 2, eta_y=lr / 2, dx2=dx2[k], dy2=dy2[k]).h_inf
        assert float(ds["h_inf_kernel"].values[k, 0]) == pytest.approx(float(expected), rel=1e-4)
        # The pair's own term of the full-batch loss over XOR's 4 points weighs 2 / 4.
        observed = np.stack([ds["h"].values[k, 0], ds["y"].values[k], ds["w"].values[k]], axis=1)
        oracle = solve(observed[0], ds["step"].values.astype(float), eta_h=lr / 4, eta_y=lr / 4,
                       dx2=dx2[k], dy2=dy2[k])
        r2 = trajectory_r2(observed, oracle)
        assert [float(ds[f"r2_zero_{v}"].values[k, 0]) for v in "hyw"] == pytest.approx(
            [r2[v] for v in "hyw"], rel=1e-3, abs=1e-4)
    rho = ds["final_spearman"].sel(predictor="kernel_init", stratum="all")
    assert np.isfinite(rho.values).all()
    assert "zero_fit_median_r2_worst" in ds and "kernel_init" in (tmp_path / "report.md").read_text()


def test_atlas_without_kernel_rates_keeps_its_key_and_predictors(tmp_path):
    from repdyn.atlas import PREDICTORS, plan_atlas

    plain = plan_atlas("xor 2 layers", "xor", epochs=4)
    assert plain.kernel_every is None and "kernel_every" not in canonical_json(plain)
    assert "kernel_every" in canonical_json(plan_atlas("xor 2 layers", "xor", epochs=4, kernel_every=2))
    with pytest.raises(ValueError, match="kernel_every"):
        plan_atlas("xor 2 layers", "xor", epochs=4, kernel_every=0)
    import repdyn

    ds = repdyn.atlas("xor 2 layers", "xor", epochs=4, lr=0.1, out=tmp_path, progress=False).dataset
    assert list(ds["predictor"].values) == list(PREDICTORS) and "h_inf_kernel" not in ds


def test_cli_atlas_kernel_rates_prints_the_zero_fit_columns(tmp_path):
    result = runner.invoke(app, ["atlas", "--model", "xor 2 layers", "--data", "xor", "--epochs", "30", "--lr",
                                 "0.5", "--kernel-every", "10", "--out", str(tmp_path)])
    assert result.exit_code in (0, 1), result.output
    assert "rho kernel" in result.output and "r2 zero fit" in result.output
    bad = runner.invoke(app, ["atlas", "--model", "xor 2 layers", "--data", "xor", "--kernel-every", "0",
                              "--out", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--kernel-every" in bad.output
