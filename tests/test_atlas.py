"""The theory atlas: its analysis against trajectories of known rates, and the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import repdyn
from repdyn.atlas._analysis import (
    FEW_RECORDS,
    FITTED,
    SAME_INPUT,
    ZERO_H0,
    cross_validated,
    fit_all,
    prediction_scores,
)
from repdyn.cli import app

runner = CliRunner()

FACTORY = '''
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, in_dim, out_dim, width=8):
        super().__init__()
        self.first = nn.Sequential(nn.Linear(in_dim, width), nn.Tanh())
        self.second = nn.Sequential(nn.Linear(width, width), nn.Tanh())
        self.head = nn.Linear(width, out_dim)
        self.hidden_layer_names = ("first", "second")

    def forward(self, x):
        return self.head(self.second(self.first(x)))


def make(in_dim, out_dim, seed, gain=1.0):
    torch.manual_seed(seed)
    net = Tiny(in_dim, out_dim)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(gain)
    return net
'''


def theory_training(rates: list[tuple[float, float]], *, t_end: float = 300.0, n_records: int = 31) -> dict:
    """A training result whose trajectories ARE the theory's, one pair per rate pair, two layers."""
    from repdyn.theory import solve

    t = np.linspace(0.0, t_end, n_records)
    k = len(rates)
    dx2 = np.linspace(0.5, 1.5, k)
    dy2 = np.where(np.arange(k) % 2 == 0, 0.5, 0.0)  # alternate different and same targets
    h = np.empty((k, 2, n_records))
    y = np.empty((k, n_records))
    w = np.empty((k, n_records))
    for i, (eta_h, eta_y) in enumerate(rates):
        z0 = np.array([1.0 + 0.1 * i, 0.02, 0.01 if dy2[i] > 0 else 0.02])  # w = y when dy = 0
        z = solve(z0, t, eta_h=eta_h, eta_y=eta_y, dx2=dx2[i], dy2=dy2[i])
        h[i, 0], y[i], w[i] = z[:, 0], z[:, 1], z[:, 2]
        # Layer 1 scales h by 3: the same dynamics at a larger distance (eta_h / 3, as h enters dh/dt).
        h[i, 1] = 3 * z[:, 0]
    return {"h": h, "y": y, "w": w, "dx2": dx2, "dy2": dy2, "epochs": t, "same": dy2 == 0}


def test_fits_recover_known_rates_and_masks_what_cannot_be_fitted():
    rates = [(0.02, 0.01), (0.01, 0.02), (0.015, 0.015), (0.02, 0.02)]
    training = theory_training(rates)
    training["h"][2, 1, 0] = 0.0  # identical initial representations at layer 1
    training["dx2"][3] = 0.0  # identical inputs
    fits = fit_all(training)
    assert fits["fit_state"][2, 1] == ZERO_H0 and (fits["fit_state"][3] == SAME_INPUT).all()
    assert (fits["fit_state"][:2] == FITTED).all() and fits["fit_state"][2, 0] == FITTED
    for i in range(3):
        np.testing.assert_allclose([fits["eta_h"][i, 0], fits["eta_y"][i, 0]], rates[i], rtol=1e-3)
        assert fits["quality"][i, 0] == "good" and fits["r2_worst"][i, 0] > 0.999
    assert np.isnan(fits["eta_h"][3]).all() and (fits["quality"][3] == "masked").all()
    np.testing.assert_array_equal(fits["h_final"][:, 0], training["h"][:, 0, -1])


def test_only_fits_missed_by_more_than_the_data_spread_skip_the_fine_pass():
    training = theory_training([(0.02, 0.01), (0.01, 0.01)])
    # Pair 1 has the same target (dy2 = 0), so the theory only lets h shrink; make it grow.
    training["h"][1] = training["h"][1, :, ::-1] * np.linspace(1.0, 4.0, 31)
    fits = fit_all(training)
    assert fits["fit_refined"][0].all() and (fits["quality"][0] == "good").all()
    assert not fits["fit_refined"][1].any() and (fits["quality"][1] == "unfit").all()
    assert (fits["r2_h"][1] < 0).all()


def test_a_divergent_tail_shortens_every_fit_and_too_short_runs_are_masked():
    training = theory_training([(0.02, 0.01), (0.01, 0.01)])
    training["y"][1, 20:] = np.nan
    fits = fit_all(training)
    assert (fits["fit_state"] == FITTED).all()
    np.testing.assert_array_equal(fits["h_final"][:, 0], training["h"][:, 0, 19])
    training["y"][0, 2:] = np.nan
    assert (fit_all(training)["fit_state"] == FEW_RECORDS).all()


def test_cross_validation_predicts_each_pair_from_the_other_pairs_rates():
    from repdyn.theory import final_distance

    # Four pairs share the ratio eta_h / eta_y = 2; one outlier has ratio 0.25.
    rates = [(0.02, 0.01), (0.03, 0.015), (0.01, 0.005), (0.04, 0.02), (0.005, 0.02)]
    training = theory_training(rates)
    fits = fit_all(training)
    cv = cross_validated(fits, training["dx2"], training["dy2"])
    np.testing.assert_allclose(cv["eta_ratio_cv"][:, 0], 2.0, rtol=1e-3)  # the outlier too: its others say 2
    outlier = final_distance(fits["h0"][4, 0], fits["y0"][4, 0], eta_h=2.0, eta_y=1.0,
                             dx2=training["dx2"][4], dy2=training["dy2"][4]).h_inf  # fmt: skip
    np.testing.assert_allclose(cv["h_inf_cv"][4, 0], outlier, rtol=1e-3)
    assert not np.isclose(cv["h_inf_cv"][4, 0], fits["h_inf"][4, 0], rtol=1e-2)  # its own fit says otherwise
    np.testing.assert_allclose(cv["h_inf_cv"][:4, 0], fits["h_inf"][:4, 0], rtol=1e-3)


def test_prediction_scores_use_the_same_pairs_for_every_predictor():
    measured = np.array([[1.0], [2.0], [3.0], [4.0], [np.nan]])
    exact = measured.copy()
    exact[4] = 5.0
    halved = exact / 2
    same = np.array([True, False, True, False, False])
    scores = prediction_scores({"cross_validated": exact, "own_fit": halved, "h0_baseline": halved[::-1]},
                               measured, same)  # fmt: skip
    assert scores["n_scored"][0].tolist() == [4, 2, 2]
    np.testing.assert_allclose(scores["spearman"][0, :, 0], [1.0, 1.0, -1.0])
    np.testing.assert_allclose(scores["median_rel_error"][0, :2, 0], [0.0, 0.5])


def test_repdyn_atlas_is_callable_and_runs_a_built_in_model(tmp_path):
    import repdyn.atlas  # importing the package must not hide the function  # noqa: F401

    result = repdyn.atlas("xor 2 layers", "xor", epochs=40, lr=0.5, gain=0.5, out=tmp_path)
    ds = result.dataset
    assert ds.sizes["pair"] == 6 and int(ds["same"].sum()) == 2  # capped at XOR's 6 distinct pairs
    assert ds.sizes["epoch"] == 41 and list(ds["layer"].values) == ["hidden.0"]
    assert set(result.files) >= {"atlas.nc", "report.md", "report.html", "summary.json", "fit_quality.png"}
    assert all(path.is_file() for path in result.files.values())


def test_atlas_command_end_to_end_with_a_user_model_and_file(tmp_path):
    import xarray as xr

    (tmp_path / "net.py").write_text(FACTORY)
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 6)
    x = rng.normal(size=(18, 3)) + labels[:, None]
    np.savez(tmp_path / "points.npz", x=x, y=np.eye(3)[labels], labels=labels)
    out = tmp_path / "atlas"
    args = ["atlas", "--model", f"{tmp_path / 'net.py'}:make", "--dataset", str(tmp_path / "points.npz"),
            "--pairs", "12", "--epochs", "30", "--lr", "0.2", "--gain", "0.8", "--batch-size", "6",
            "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "first" in result.output and "second" in result.output
    ds = xr.open_dataset(out / "atlas.nc", engine="h5netcdf")
    assert ds["h"].dims == ("pair", "layer", "epoch") and ds["h"].shape == (12, 2, 31)
    assert int(ds["same"].sum()) == 6
    assert all("long_name" in ds[name].attrs for name in ds.variables)
    assert not any("." in str(name) for name in ds.variables)
    assert set(np.unique(ds["fit_state"].values)) <= {FITTED, ZERO_H0, SAME_INPUT, FEW_RECORDS}
    assert json.loads(ds.attrs["config"])["gain"] == 0.8
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["layers"]) == {"first", "second"}
    report = (out / "report.md").read_text()
    assert "## Final distances" in report and "first" in report
    assert "<table>" in (out / "report.html").read_text()
    ds.close()
    # A rerun reads both trials back from the store: nothing new is stored, the numbers are the same.
    from repdyn.sweep import ResultStore

    entries = len(ResultStore(out / "cache"))
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and len(ResultStore(out / "cache")) == entries == 2
    assert again.output == result.output


@pytest.mark.parametrize("dataset", ["blobs", "mnist"])
def test_plans_use_the_papers_network_for_each_data_set(dataset):
    from repdyn.atlas import plan_atlas

    config = plan_atlas(dataset=dataset, epochs=2)
    assert config.model == {"blobs": "blobs low", "mnist": "mnist"}[dataset]
    assert config.batch_size == 32 and config.pairs == 200
    assert config.layers == tuple(f"hidden.{k}" for k in range(4))


# --- what an atlas run writes, read back ---------------------------------------------------------------


@pytest.fixture(scope="module")
def xor_atlas(tmp_path_factory):
    """A small atlas run through the command line: its directory and what it printed."""
    out = tmp_path_factory.mktemp("atlas")
    args = ["atlas", "--dataset", "xor", "--model", "xor 2 layers", "--epochs", "40", "--lr", "0.5", "--gain", "0.5",
            "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return out, result.output


def test_load_run_reads_an_atlas_directory(xor_atlas):
    import xarray as xr

    from repdyn.atlas import TABLES
    from repdyn.cli._atlas import PRINTED_COLUMNS

    out, printed = xor_atlas
    run = repdyn.load_run(out)
    assert run.summary == json.loads((out / "summary.json").read_text())
    assert run.tables == ["fits", "layers", "claims"] and list(TABLES) == ["fits", "layers"]
    with xr.open_dataset(out / "atlas.nc", engine="h5netcdf") as ds:
        ds = ds.load()
    assert run.trajectories.identical(ds)
    fits = run.trials
    assert len(fits) == ds.sizes["pair"] * ds.sizes["layer"]
    for _, row in fits.iterrows():
        at = ds.sel(pair=row["pair"], layer=row["layer"])
        for name in ("eta_h", "r2_worst", "h_inf_cv", "dx2", "pair_i"):
            assert row[name] == at[name].item() or (np.isnan(row[name]) and np.isnan(at[name].item()))
        assert row["quality"] == at["quality"].item() and row["same"] == at["same"].item()
    layers = run.table("layers")
    assert list(layers["layer"]) == list(ds["layer"].values)
    assert layers["final_spearman_cross_validated_all"].tolist() == ds["final_spearman"].sel(
        predictor="cross_validated", stratum="all").values.tolist()
    # Every column the command prints is a column of the table, with the printed value.
    lines = printed.splitlines()
    header = lines[0]
    starts = [header.index(label) for label in PRINTED_COLUMNS]
    for line, (_, row) in zip(lines[1:1 + len(layers)], layers.iterrows(), strict=True):
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None])]
        for cell, column in zip(cells, PRINTED_COLUMNS.values()):
            value = row[column]
            assert cell == (value if isinstance(value, str) else "n/a" if not np.isfinite(value) else f"{value:.3g}")


def test_atlas_files_carry_units_and_the_report_embeds_its_figures(xor_atlas, tmp_path):
    import base64
    import re
    import shutil

    import xarray as xr

    out, _ = xor_atlas
    with xr.open_dataset(out / "atlas.nc", engine="h5netcdf") as ds:
        for name in ds.variables:
            assert ds[name].attrs["long_name"], name
            assert ("units" in ds[name].attrs) == (ds[name].dtype.kind not in "OUS"), name
        assert ds["eta_h"].attrs["units"] == "1 / optimisation step"
        assert ds["epoch"].attrs["units"] == "optimisation steps"  # xor trains full batch
    html = (out / "report.html").read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert ".png" not in html.replace("fit_quality.png", "").replace("rates.png", "").replace(
        "final_distances.png", "").replace("structure.png", "")  # names in the text only, no links
    assert not re.search(r"(href|src)=\"(?!data:)", html)
    # Moved alone, the page still holds every figure, byte for byte.
    moved = tmp_path / "elsewhere" / "report.html"
    moved.parent.mkdir()
    shutil.copy(out / "report.html", moved)
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in re.findall(r'src="([^"]*)"', moved.read_text())]
    files = [(out / n).read_bytes() for n in ("fit_quality.png", "rates.png", "final_distances.png", "structure.png")]
    assert embedded == files


def _drawn(ds, draw, monkeypatch):
    """The matplotlib figure a figure function draws (kept open instead of saved)."""
    import matplotlib

    from repdyn.atlas import _report

    kept = []
    monkeypatch.setattr(_report, "_save", lambda fig, path: kept.append(fig) or path)
    matplotlib.use("Agg")
    draw(ds, None)
    [fig] = kept
    fig.canvas.draw()
    return fig


def _overlaps(box, other) -> bool:
    return box.x0 < other.x1 and other.x0 < box.x1 and box.y0 < other.y1 and other.y0 < box.y1


def test_atlas_figures_show_negative_fits_and_keep_legends_off_the_points(xor_atlas, monkeypatch):
    import matplotlib.pyplot as plt
    import xarray as xr

    from repdyn.atlas._report import FIGURES, fit_quality_figure, rates_figure

    out, _ = xor_atlas
    with xr.open_dataset(out / "atlas.nc", engine="h5netcdf") as ds:
        ds = ds.load()
    same = ds["same"].values.astype(bool)
    # Make every same-target fit unfit, far below 0: the panel must show it, not a flat 0.
    worst = ds["r2_worst"].values.copy()
    worst[same] = -3.0
    ds["r2_worst"].values[:] = worst
    ds["quality"].values[same] = "unfit"
    fig = _drawn(ds, fit_quality_figure, monkeypatch)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    shown = np.ma.getdata(images[0].get_array())
    assert np.all(shown == -3.0)  # the values themselves, not clipped
    colours = images[0].cmap(images[0].norm(shown))
    assert not np.allclose(colours, images[1].cmap(images[1].norm(0.0)))  # not the colour of 0
    plt.close(fig)
    # No usable same-target fit: no line, no legend entry for it, and the title says so.
    fig = _drawn(ds, rates_figure, monkeypatch)
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == ["different target (median)"]
    assert "same target: no usable fit at any layer" in fig._suptitle.get_text()
    plt.close(fig)
    # Every legend lies outside every panel.
    for name, (draw, _) in FIGURES.items():
        fig = _drawn(ds, draw, monkeypatch)
        renderer = fig.canvas.get_renderer()
        legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for ax in fig.axes:
                if ax.get_visible() and ax.get_label() != "<colorbar>":
                    assert not _overlaps(box, ax.get_window_extent(renderer)), name
        plt.close(fig)
