"""The atlas as one self-describing xarray Dataset (``atlas.nc``).

Dimensions ``pair``, ``layer``, ``epoch`` (the recorded epochs), ``point`` and
``point_other`` (the distinct tracked points), ``predictor``, ``stratum`` and
``structure``; every variable and coordinate carries the ``long_name`` and
``units`` of :data:`repdyn.vocabulary.VOCABULARY` (``"1"``: a dimensionless
number; text has none). Flags are int8 (netCDF has no bool), strings stay
strings (netCDF4, written with h5netcdf). The attribute ``tables`` names the
tables that ``repdyn.load_run`` makes of it (:data:`TABLES`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.atlas._analysis import FITTED, PREDICTORS, STRATA, STRUCTURE_METHODS, fit_summary
from repdyn.atlas._analysis import VARIABLES as FITTED_VARIABLES
from repdyn.atlas._config import AtlasConfig
from repdyn.version import __version__
from repdyn.vocabulary import annotate

#: The netCDF engine: netCDF4 files keep strings and attributes; h5netcdf needs only h5py.
ENGINE = "h5netcdf"

PAIR_LAYER = ("pair", "layer")
_SCORES = ("layer", "predictor", "stratum")
_STRATA = ("layer", "stratum")

#: The unit of the atlas's fitted rates, written into ``atlas.nc`` and the figures.
RATE_UNIT = "1 / optimisation step"

#: The tables of the Dataset (its attribute ``tables``, which ``repdyn.load_run``
#: reads): rows and the dimensions spread into columns (``repdyn.sweep.dataset_table``).
TABLES = {
    "fits": {"rows": ["pair", "layer"]},
    "layers": {"rows": ["layer"], "columns": ["predictor", "stratum", "structure", "variable"]},
}

#: The dimensions of every variable; ``long_name`` and units come from
#: :data:`repdyn.vocabulary.VOCABULARY`.
VARIABLES: dict[str, tuple[str, ...]] = {
    "h": ("pair", "layer", "epoch"),
    "y": ("pair", "epoch"),
    "w": ("pair", "epoch"),
    "loss": ("pair", "epoch"),
    "train_loss": ("epoch",),
    "m0": ("pair",),
    "dx2": ("pair",),
    "dy2": ("pair",),
    "same": ("pair",),
    **dict.fromkeys(("fit_state", "eta_h", "eta_y", "r2_h", "r2_y", "r2_w", "r2_worst", "quality", "fit_success",
                     "fit_refined", "regime", "h0", "y0", "h_final", "h_inf", "eta_ratio_cv", "h_inf_cv"),
                    PAIR_LAYER),
    **dict.fromkeys(("final_spearman", "final_pearson", "final_median_rel_error"), _SCORES),
    **dict.fromkeys(("final_n_scored", "fit_pairs", "fit_fitted", "fit_good", "fit_good_fraction",
                     "fit_median_r2_worst"), _STRATA),
    "fit_median_r2": ("layer", "stratum", "variable"),
    "rdm_spearman": ("layer", "structure"),
    "rdm_pearson": ("layer", "structure"),
    "structure_eta_h": ("layer",),
    "structure_eta_y": ("layer",),
    "rdm_final": ("layer", "point", "point_other"),
}


#: The variables of a run with kernel rates (``kernel_every``), and their dimensions.
KERNEL_VARIABLES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("h_inf_kernel", "r2_zero_h", "r2_zero_y", "r2_zero_w", "r2_zero_worst"), PAIR_LAYER),
    **dict.fromkeys(("kernel_eta_h", "kernel_eta_y"), ("pair", "layer", "kernel_epoch")),
    "zero_fit_median_r2_worst": _STRATA,
}


def zero_fit_summary(analysis: dict[str, Any], same: np.ndarray) -> np.ndarray:
    """Median worst R^2 of the zero-fit trajectories of the fitted pairs, per layer and stratum (L, strata)."""
    worst = np.asarray(analysis["r2_zero_worst"], np.float64)
    fitted = np.asarray(analysis["fit_state"]) == FITTED
    masks = {"all": np.ones_like(same, dtype=bool), "same": same, "different": ~same}
    out = np.full((worst.shape[1], len(STRATA)), np.nan)
    for s, stratum in enumerate(STRATA):
        for layer in range(worst.shape[1]):
            values = worst[masks[stratum] & fitted[:, layer], layer]
            if np.isfinite(values).any():
                out[layer, s] = float(np.nanmedian(values))
    return out


def atlas_dataset(config: AtlasConfig, training: dict[str, Any], analysis: dict[str, Any]) -> Any:
    """The Dataset of one atlas run (see the module notes)."""
    import xarray as xr

    from repdyn.sweep import RESULT_FORMAT_VERSION, canonical_value
    from repdyn.theory import POOR_R2

    # Summaries are derived here from the cached per-pair fits, so that they can
    # change without fitting again.
    summaries = fit_summary({k: np.asarray(analysis[k]) for k in analysis}, np.asarray(training["same"], bool))
    source = {**training, **analysis, **summaries}
    kernel = "kernel_eta_h" in training
    variables = dict(VARIABLES)
    if kernel:
        source["zero_fit_median_r2_worst"] = zero_fit_summary(analysis, np.asarray(training["same"], bool))
        variables.update(KERNEL_VARIABLES)
    data_vars = {}
    for name, dims in variables.items():
        value = np.asarray(source[name])
        data_vars[name] = xr.Variable(dims, value.astype(np.int8) if value.dtype == bool else value)
    points = np.asarray(training["points"])
    coords: dict[str, Any] = {
        "pair": np.arange(len(training["pairs"])),
        "layer": [str(v) for v in training["layers"]],
        "epoch": np.asarray(training["epochs"]),
        "step": ("epoch", np.asarray(training["epochs"]) * int(training.get("steps_per_epoch", 1))),
        "predictor": [str(p) for p in analysis.get("predictors", PREDICTORS)],
        "stratum": list(STRATA),
        "variable": list(FITTED_VARIABLES),
        "structure": list(STRUCTURE_METHODS),
        "point": points,
        "point_other": points,
        "pair_i": ("pair", np.asarray(training["pairs"])[:, 0]),
        "pair_j": ("pair", np.asarray(training["pairs"])[:, 1]),
    }
    if kernel:
        coords["kernel_epoch"] = np.asarray(training["epochs"])[np.asarray(training["kernel_records"])]
    if "labels_points" in training:
        coords["point_label"] = ("point", np.asarray(training["labels_points"]))
    ds = xr.Dataset(data_vars, coords=coords)
    annotate(ds, rate_unit=RATE_UNIT, epoch_unit="optimisation steps" if config.training.full_batch else "epochs")
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
        rate_units=RATE_UNIT,
        input_distance=config.input_distance.describe(),
        tables=json.dumps(TABLES),
    )
    if "label_names" in training:
        ds.attrs["label_names"] = json.dumps([str(n) for n in training["label_names"]])
    if training.get("diverged_epoch") is not None:
        ds.attrs["diverged_epoch"] = int(training["diverged_epoch"])
    return ds


def write_dataset(ds: Any, path: Path) -> Path:
    """Write ``ds`` to ``path`` atomically (:func:`repdyn.runs.atomic_path`)."""
    from repdyn.runs import atomic_path

    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE)
    return path
