"""Self-describing trial files and load_run: round trips through plain xarray and pandas."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import repdyn
from repdyn.experiments import TwoPointConfig, two_point_trial
from repdyn.experiments._run_data import trial_quality
from repdyn.nets import get_architecture
from repdyn.sweep import results_dataset

TINY = get_architecture("default").replace(units=8, hidden_layers=2, epochs=40)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Two tiny fitted trials (every layer tracked) and one error record, written to a run directory."""
    from repdyn.experiments._run_data import write_trial_data

    out = tmp_path_factory.mktemp("run")
    configs = [TwoPointConfig(arch=TINY, seed=s, all_layers=True) for s in (3, 5)]
    results = [two_point_trial(c) for c in configs]
    configs.append(TwoPointConfig(arch=TINY, seed=7))
    results.append({"status": "error", "error": "Traceback: boom"})
    write_trial_data(out, results, configs, "trials")
    (out / "summary.json").write_text(json.dumps({"experiment": "two-point", "counts": {"trials": 3}}))
    return out, configs, results


def test_plain_xarray_reads_strings_seed_and_attributes(written):
    out, configs, results = written
    with xr.open_dataset(out / "trials.nc") as ds:
        # Distinct seeds name the trials: seed is the dimension, selectable as plain xarray opens it.
        assert ds["seed"].dims == ("seed",) and ds["seed"].values.tolist() == [3, 5, 7]
        assert ds["trial"].dims == ("seed",) and ds["trial"].values.tolist() == [0, 1, 2]
        assert ds["status"].sel(seed=7).item() == "error"
        assert ds["status"].values.tolist()[2] == "error"
        assert ds["status"].values.tolist()[0] == results[0]["status"]
        assert ds["result_layer"].values.tolist()[:2] == [results[0]["layer"]] * 2
        assert ds["layer"].values.tolist()[0] == results[0]["layer"]  # the config names it too
        assert ds["arch"].values.tolist() == ["default"] * 3 and "arch_name" not in ds.variables
        assert ds["fit_message"].values[0] == results[0]["fit_message"]
        assert ds["error"].values.tolist() == ["", "", "Traceback: boom"]  # missing text is empty, not "NaN"
        assert ds["fit_message"].values.tolist()[2] == ""
        assert not any("." in str(name) for name in ds.variables)
        assert ds["h"].attrs["long_name"].startswith("squared representational distance")
        assert ds["epoch"].attrs["long_name"] and ds["epochs"].attrs["units"] == "optimisation steps"
        assert all("long_name" in ds[n].attrs for n in ds.variables)
        # Every number has units (CF: "1" when dimensionless), text none; two-point rates are per step.
        assert all(("units" in ds[n].attrs) == (ds[n].dtype.kind not in "OUS") for n in ds.variables)
        assert ds["eta_h"].attrs["units"] == ds["eta_y_layers"].attrs["units"] == "1 / optimisation step"
        assert ds["epoch"].attrs["units"] == "optimisation steps" and ds["seconds"].attrs["units"] == "s"
        # The fit's verdict, as the command line prints it; none for the trial that raised.
        assert ds["quality"].values.tolist() == [trial_quality(r, True) for r in results[:2]] + [""]
        assert json.loads(ds.attrs["configs"])[1]["seed"] == 5
        assert ds.attrs["result_format_version"] == repdyn.sweep.RESULT_FORMAT_VERSION
        np.testing.assert_array_equal(ds["h"].values[1, : len(results[1]["h"])], results[1]["h"])
        # The 2-D per-layer distances are kept over named dimensions, not dropped.
        assert ds["h_layers"].dims == ("seed", "hidden_layer", "epoch")
        np.testing.assert_array_equal(ds["h_layers"].values[0], results[0]["h_layers"])
        assert ds["r2_layers"].dims == ("seed", "hidden_layer", "variable")
        assert ds["layer_names"].values[0].tolist() == results[0]["layer_names"].tolist()
        # "never converged" is missing, not a -1 sentinel.
        assert results[0]["converged_epoch"] == -1 and np.isnan(ds["converged_epoch"].values[0])


def test_load_run_gives_summary_trials_and_trajectories(written):
    out, configs, results = written
    run = repdyn.load_run(out)
    assert run.summary["experiment"] == "two-point"
    trials = run.trials
    assert len(trials) == 3 and trials["seed"].tolist() == [3, 5, 7]
    assert {"trial", "arch", "arch_lr", "eta_h", "r2_h", "status"} <= set(trials.columns)
    assert trials["trial"].tolist() == [0, 1, 2]
    assert trials["eta_h"].iloc[0] == pytest.approx(results[0]["eta_h"])
    assert trials["status"].tolist()[2] == "error" and np.isnan(trials["eta_h"].iloc[2])
    assert not (trials.select_dtypes("number") == -1).any().any()
    h = run.trajectories["h"].sel(seed=5)
    np.testing.assert_array_equal(h.values[: len(results[1]["h"])], results[1]["h"])
    assert repdyn.load_run(out / "trials.nc").trials.equals(trials)
    with pytest.raises(ValueError, match="neither a run directory"):
        repdyn.load_run(out / "nope")


def test_results_dataset_keeps_every_array():
    results = [
        {"a": np.arange(4.0), "grid": np.ones((2, 3)), "names": np.array(["x", "yy"])},
        {"a": np.arange(2.0), "grid": np.ones((3, 1)), "names": np.array(["z"])},
    ]
    ds = results_dataset(results)
    assert ds["grid"].dims == ("trial", "grid_dim0", "grid_dim1") and ds["grid"].shape == (2, 3, 3)
    assert np.isnan(ds["grid"].values[0, 2]).all() and ds["grid"].values[1, :, 0].tolist() == [1] * 3
    # 1-D fields share `dim` by default, so the names are padded to the length of "a".
    assert ds["names"].values.tolist() == [["x", "yy", "", ""], ["z", "", "", ""]]
    named = results_dataset(results, dims={"grid": ("row", "col"), "names": ("row",)})
    assert named["grid"].dims == ("trial", "row", "col") and named["names"].dims == ("trial", "row")
    with pytest.raises(ValueError, match=r"dims\['grid'\] must name 2"):
        results_dataset(results, dims={"grid": ("row",)})
    with pytest.raises(ValueError, match="different trials"):
        results_dataset([{"g": np.ones(2)}, {"g": np.ones((2, 2))}])


def test_repeated_seeds_keep_the_trial_dimension(tmp_path):
    from repdyn.experiments._run_data import write_trial_data

    configs = [TwoPointConfig(arch=TINY.replace(units=u), seed=0, fit=False) for u in (4, 6)]
    results = [two_point_trial(c) for c in configs]
    write_trial_data(tmp_path, results, configs, "trials")
    with xr.open_dataset(tmp_path / "trials.nc") as ds:
        assert ds["seed"].dims == ("trial",) and ds["arch_units"].values.tolist() == [4, 6]
    run = repdyn.load_run(tmp_path)
    assert run.trajectories["h"].sel(seed=0).sizes["trial"] == 2  # both trials of seed 0
    assert run.trials["trial"].tolist() == [0, 1] and run.trials["arch_units"].tolist() == [4, 6]


def test_dataset_table_rows_spread_columns_and_repeats():
    from repdyn.sweep import dataset_table

    ds = xr.Dataset(
        {"a": (("pair", "layer"), [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), "same": ("pair", [1, 0, 1]),
         "score": (("layer", "stratum"), [[0.1, 0.2], [0.3, 0.4]]), "trace": (("pair", "epoch"), np.zeros((3, 5)))},
        coords={"pair": [0, 1, 2], "layer": ["x", "y"], "stratum": ["all", "same"], "pair_i": ("pair", [7, 8, 9])},
    )
    table = dataset_table(ds, ("pair", "layer"))
    assert list(table.columns) == ["pair", "layer", "pair_i", "a", "same"]  # trace is over epoch: left out
    assert table["pair"].tolist() == [0, 0, 1, 1, 2, 2] and table["layer"].tolist() == ["x", "y"] * 3
    assert table["a"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0] and table["same"].tolist() == [1, 1, 0, 0, 1, 1]
    layers = dataset_table(ds, ("layer",), ("stratum",))
    assert list(layers.columns) == ["layer", "score_all", "score_same"]
    assert layers["score_same"].tolist() == [0.2, 0.4]
    with pytest.raises(ValueError, match="unknown \\['point'\\]"):
        dataset_table(ds, ("point",))
    clash = ds.assign(score_all=("layer", [0.0, 0.0]))
    with pytest.raises(ValueError, match="two columns are named 'score_all'"):
        dataset_table(clash, ("layer",), ("stratum",))
