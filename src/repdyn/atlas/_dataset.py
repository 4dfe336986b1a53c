"""The atlas as one self-describing xarray Dataset (``atlas.nc``).

Dimensions ``pair``, ``layer``, ``epoch`` (the recorded epochs), ``point`` and
``point_other`` (the distinct tracked points), ``predictor``, ``stratum`` and
``structure``; every variable carries ``long_name`` and, where it has one,
``units`` (``"1"``: a dimensionless number). Flags are int8 (netCDF has no
bool), strings stay strings (netCDF4, written with h5netcdf).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.atlas._analysis import (
    FIT_STATES,
    PREDICTORS,
    STRATA,
    STRUCTURE_METHODS,
    VARIABLES as FITTED_VARIABLES,
    fit_summary,
)
from repdyn.atlas._config import AtlasConfig
from repdyn.version import __version__

#: The netCDF engine: netCDF4 files keep strings and attributes; h5netcdf needs only h5py.
ENGINE = "h5netcdf"

_ONE = "1"
_RATE = "1 / optimisation step"
PAIR_LAYER = ("pair", "layer")

#: Every variable and coordinate: dimensions, ``long_name``, ``units``.
VARIABLES: dict[str, tuple[tuple[str, ...], str, str | None]] = {
    "h": (("pair", "layer", "epoch"), "squared representational distance ||h(x_i) - h(x_j)||^2", _ONE),
    "y": (("pair", "epoch"), "squared output distance ||yhat_i - yhat_j||^2", _ONE),
    "w": (("pair", "epoch"), "alignment w = ||dyhat||^2 - dy . dyhat", _ONE),
    "loss": (("pair", "epoch"), "loss on the pair's two points", _ONE),
    "train_loss": (("epoch",), "mean minibatch loss of the epoch before the record (record 0: all data)", _ONE),
    "m0": (("pair",), "squared error of the pair's mean prediction at epoch 0", _ONE),
    "dx2": (("pair",), "squared input distance ||x_i - x_j||^2", _ONE),
    "dy2": (("pair",), "squared target distance ||y_i - y_j||^2", _ONE),
    "same": (("pair",), "1 if the pair's two points have the same target, else 0", None),
    "fit_state": (PAIR_LAYER, f"fitted, or why not: {'; '.join(FIT_STATES[1:])}", None),
    "eta_h": (PAIR_LAYER, "fitted effective learning rate eta_h", _RATE),
    "eta_y": (PAIR_LAYER, "fitted effective learning rate eta_y", _RATE),
    "r2_h": (PAIR_LAYER, "R^2 of the fitted theory for h", _ONE),
    "r2_y": (PAIR_LAYER, "R^2 of the fitted theory for y", _ONE),
    "r2_w": (PAIR_LAYER, "R^2 of the fitted theory for w", _ONE),
    "r2_worst": (PAIR_LAYER, "worst R^2 over h, y, w (fit quality)", _ONE),
    "quality": (PAIR_LAYER, "verdict on the fit: good, poor, unfit (masked: not fitted)", None),
    "fit_success": (PAIR_LAYER, "1 if the fit's optimiser converged, else 0", None),
    "fit_refined": (PAIR_LAYER, "1 if fitted again at the fit's automatic solver tolerance, 0 if only at "
                    "the coarse one (unfit there)", None),
    "regime": (PAIR_LAYER, "regime of the fitted fixed point: rich, intermediate, lazy", None),
    "h0": (PAIR_LAYER, "measured initial squared distance (the no-change baseline)", _ONE),
    "y0": (PAIR_LAYER, "measured initial squared output distance", _ONE),
    "h_final": (PAIR_LAYER, "measured squared distance at the last finite record", _ONE),
    "h_inf": (PAIR_LAYER, "final squared distance predicted from the pair's own fit (in sample)", _ONE),
    "eta_ratio_cv": (PAIR_LAYER, "eta_h / eta_y: median over the other pairs' usable fits at the layer", _ONE),
    "h_inf_cv": (PAIR_LAYER, "final squared distance predicted with eta_ratio_cv (cross-validated by pair)", _ONE),
    "final_spearman": (("layer", "predictor", "stratum"), "Spearman correlation of predicted and measured "
                       "final distances over pairs", _ONE),
    "final_pearson": (("layer", "predictor", "stratum"), "Pearson correlation of predicted and measured "
                      "final distances over pairs", _ONE),
    "final_median_rel_error": (("layer", "predictor", "stratum"), "median of |predicted - measured| / measured "
                               "final distance over pairs", _ONE),
    "final_n_scored": (("layer", "stratum"), "pairs scored (every predictor and the measurement finite, "
                       "measurement > 0)", None),
    "fit_pairs": (("layer", "stratum"), "pairs in the stratum", None),
    "fit_fitted": (("layer", "stratum"), "pairs fitted (not masked)", None),
    "fit_good": (("layer", "stratum"), "pairs whose fit is good (every R^2 of h, y, w at least POOR_R2)", None),
    "fit_good_fraction": (("layer", "stratum"), "share of the stratum's pairs whose fit is good", _ONE),
    "fit_median_r2_worst": (("layer", "stratum"), "median worst R^2 of the fitted pairs", _ONE),
    "fit_median_r2": (("layer", "stratum", "variable"), "median R^2 of the fitted pairs per variable", _ONE),
    "rdm_spearman": (("layer", "structure"), "Spearman correlation of the measured final squared distances of "
                     "the tracked points with the method's", _ONE),
    "rdm_pearson": (("layer", "structure"), "Pearson correlation of the measured final squared distances of the "
                    "tracked points with the method's", _ONE),
    "structure_eta_h": (("layer",), "median eta_h of the usable fits (the pairwise method's rates)", _RATE),
    "structure_eta_y": (("layer",), "median eta_y of the usable fits (the pairwise method's rates)", _RATE),
    "rdm_final": (("layer", "point", "point_other"), "measured final squared distance between tracked points",
                  _ONE),
}
COORDS: dict[str, tuple[str, str | None]] = {
    "pair": ("index of the tracked pair", None),
    "layer": ("tracked layer (submodule name)", None),
    "epoch": ("epoch of the record (passes over the data before it)", "epochs"),
    "step": ("optimisation steps before the record (the theory's time, in which the rates are fitted)",
             "optimisation steps"),
    "predictor": ("predictor of the final distance (h0_baseline: no change)", None),
    "stratum": ("pairs scored: all, same target, different target", None),
    "structure": ("prediction of the final distance matrix (initial, inputs: baselines)", None),
    "variable": ("fitted variable", None),
    "point": ("data set index of a tracked point", None),
    "point_other": ("data set index of a tracked point", None),
    "pair_i": ("data set index of the pair's first point", None),
    "pair_j": ("data set index of the pair's second point", None),
    "point_label": ("label of the tracked point", None),
}


def atlas_dataset(config: AtlasConfig, training: dict[str, Any], analysis: dict[str, Any]) -> Any:
    """The Dataset of one atlas run (see the module notes)."""
    import xarray as xr

    from repdyn.sweep import RESULT_FORMAT_VERSION, canonical_value
    from repdyn.theory import POOR_R2

    # Summaries are derived here from the cached per-pair fits, so that they can
    # change without fitting again.
    summaries = fit_summary({k: np.asarray(analysis[k]) for k in analysis}, np.asarray(training["same"], bool))
    source = {**training, **analysis, **summaries}
    data_vars = {}
    for name, (dims, long_name, units) in VARIABLES.items():
        value = np.asarray(source[name])
        if value.dtype == bool:
            value = value.astype(np.int8)
        attrs = {"long_name": long_name, **({"units": units} if units else {})}
        data_vars[name] = xr.Variable(dims, value, attrs=attrs)
    points = np.asarray(training["points"])
    coords: dict[str, Any] = {
        "pair": np.arange(len(training["pairs"])),
        "layer": [str(v) for v in training["layers"]],
        "epoch": np.asarray(training["epochs"]),
        "step": ("epoch", np.asarray(training["epochs"]) * int(training.get("steps_per_epoch", 1))),
        "predictor": list(PREDICTORS),
        "stratum": list(STRATA),
        "variable": list(FITTED_VARIABLES),
        "structure": list(STRUCTURE_METHODS),
        "point": points,
        "point_other": points,
        "pair_i": ("pair", np.asarray(training["pairs"])[:, 0]),
        "pair_j": ("pair", np.asarray(training["pairs"])[:, 1]),
    }
    if "labels_points" in training:
        coords["point_label"] = ("point", np.asarray(training["labels_points"]))
    ds = xr.Dataset(data_vars, coords=coords)
    for name, (long_name, units) in COORDS.items():
        if name in ds.coords:
            ds[name].attrs.update({"long_name": long_name, **({"units": units} if units else {})})
    ds.attrs.update(
        title="repdyn theory atlas",
        repdyn_version=__version__,
        result_format_version=RESULT_FORMAT_VERSION,
        config=json.dumps(canonical_value(config)),
        data=str(training["data_description"]),
        n_points=int(training["n_points"]),
        n_parameters=int(training["n_parameters"]),
        status=str(training["status"]),
        final_loss=float(training["final_loss"]),
        training_seconds=float(training["seconds"]),
        finite_records=int(analysis["finite_records"]),
        poor_r2=float(POOR_R2),
        steps_per_epoch=int(training.get("steps_per_epoch", 1)),
        rate_units=_RATE,
        input_distance=config.input_distance.describe(),
    )
    if "label_names" in training:
        ds.attrs["label_names"] = json.dumps([str(n) for n in training["label_names"]])
    if training.get("diverged_epoch") is not None:
        ds.attrs["diverged_epoch"] = int(training["diverged_epoch"])
    return ds


def write_dataset(ds: Any, path: Path) -> Path:
    """Write ``ds`` to ``path`` atomically (a temporary file renamed over it)."""
    tmp = path.with_suffix(".nc.tmp")
    ds.to_netcdf(tmp, engine=ENGINE)
    tmp.replace(path)
    return path
