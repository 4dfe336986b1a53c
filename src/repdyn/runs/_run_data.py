"""Trial data on disk that describes itself, and :func:`load_run` to read a run back.

A run directory (``repdyn run two-point``, or one experiment of ``repdyn
reproduce``) holds ``summary.json`` and, per group of trials, ``<stem>.csv``
(one row per trial) and ``<stem>.nc``: a netCDF4 file (written with h5netcdf)
that plain ``xarray.open_dataset`` reads with its strings, the ``seed``
coordinate, ``long_name``/``units`` of every variable and the configs as
attributes. Where the seeds of a file are distinct (``repdyn run two-point``),
``seed`` is its trial dimension, so ``xr.open_dataset(f).sel(seed=3)`` picks a
trial; where seeds repeat (several networks), the dimension is ``trial`` and
:func:`load_run` indexes ``seed`` too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.version import __version__

#: The netCDF engine: netCDF4 files keep strings and attributes (netCDF3, the
#: scipy engine, keeps neither), and h5netcdf needs only h5py.
NETCDF_ENGINE = "h5netcdf"

#: Dimensions of the array fields of a two-point trial beside ``trial``
#: (1-D fields not listed run over ``epoch``).
TRIAL_DIMS: dict[str, tuple[str, ...]] = {
    "h_layers": ("hidden_layer", "epoch"),
    "layer_names": ("hidden_layer",),
    "eta_h_layers": ("hidden_layer",),
    "eta_y_layers": ("hidden_layer",),
    "r2_layers": ("hidden_layer", "variable"),
}

#: Integer fields that mark "never" with a number; written as missing instead,
#: so no table or file carries the sentinel.
MISSING_SENTINELS: dict[str, int] = {"converged_epoch": -1}

_STEPS = "optimisation steps"
_RATE = "1 / optimisation step"
_NONE = "1"  # CF's unit of a dimensionless number

#: ``long_name`` and ``units`` of every field and config column that the
#: experiments write. Units ``"1"`` mark a dimensionless number (CF convention).
VARIABLES: dict[str, tuple[str, str | None]] = {
    "trial": ("trial index", None),
    "epoch": ("index along the recorded epochs", None),
    "hidden_layer": ("index of the hidden layer", None),
    "layer": ("tracked layer (submodule name)", None),
    "result_layer": ("tracked layer (submodule name)", None),
    "measure": ("measurement mode (eval: dropout off while measuring; train)", None),
    "a_low": ("rich-limit baseline A_low of the final distance", _NONE),
    "variable": ("fitted variable (h, y, w)", None),
    "epochs": ("epoch of each measurement", _STEPS),
    "h": ("squared representational distance ||dh||^2 at the tracked layer", _NONE),
    "y": ("squared output distance ||dyhat||^2", _NONE),
    "w": ("alignment w = ||dyhat||^2 - dy . dyhat", _NONE),
    "loss": ("training loss on the pair", _NONE),
    "theory_h": ("fitted theory: squared representational distance", _NONE),
    "theory_y": ("fitted theory: squared output distance", _NONE),
    "theory_w": ("fitted theory: alignment w", _NONE),
    "theory_loss": ("fitted theory: training loss", _NONE),
    "h_layers": ("squared representational distance at every hidden layer", _NONE),
    "layer_names": ("names of the hidden layers", None),
    "eta_h_layers": ("effective learning rate eta_h fitted per layer", _RATE),
    "eta_y_layers": ("effective learning rate eta_y fitted per layer", _RATE),
    "r2_layers": ("R^2 of the fit per layer and variable", _NONE),
    "status": ("outcome of the run (converged, not converged, diverged, error, ...)", None),
    "error": ("error message of a trial that raised", None),
    "seconds": ("wall time of the training", "s"),
    "final_loss": ("loss at the last recorded epoch", _NONE),
    "diverged_epoch": ("epoch the run diverged at (missing: never)", _STEPS),
    "stop_epoch": ("last recorded epoch", _STEPS),
    "converged_epoch": ("first epoch with loss below the threshold (missing: never)", _STEPS),
    "result_dx2": ("squared input distance of the pair (as measured)", _NONE),
    "result_dy2": ("squared target distance of the pair (as measured)", _NONE),
    "m0": ("initial squared distance of the mean prediction from the mean target", _NONE),
    "h0": ("initial squared representational distance", _NONE),
    "y0": ("initial squared output distance", _NONE),
    "w0": ("initial alignment", _NONE),
    "h_final": ("measured squared representational distance at the last finite epoch", _NONE),
    "h_inf": ("final squared representational distance predicted by the fitted theory", _NONE),
    "eta_h": ("fitted effective learning rate eta_h", _RATE),
    "eta_y": ("fitted effective learning rate eta_y", _RATE),
    "eta_m": ("fitted effective learning rate eta_m of the mean", _RATE),
    "r2_h": ("R^2 of the fitted theory for h", _NONE),
    "r2_y": ("R^2 of the fitted theory for y", _NONE),
    "r2_w": ("R^2 of the fitted theory for w", _NONE),
    "r2_loss": ("R^2 of the fitted theory for the loss", _NONE),
    "fit_success": ("whether the fit's optimiser reported success", None),
    "fit_message": ("the fit's message", None),
    "seed": ("random seed of the initial weights", None),
    "dx2": ("squared input distance of the pair", _NONE),
    "dy2": ("squared target distance of the pair", _NONE),
    "in_dim": ("input dimension", None),
    "out_dim": ("output dimension", None),
    "all_layers": ("every hidden layer tracked and fitted", None),
    "loss_threshold": ("loss at or below which a run counts as converged", _NONE),
    "fit": ("theory fitted", None),
    "stop_when_converged": ("training stopped once converged", None),
    "device": ("device the trial ran on", None),
    "arch": ("architecture (row of Table 1 or 2 of the paper)", None),
    "arch_variant": ("architecture family", None),
    "arch_units": ("hidden width", None),
    "arch_hidden_layers": ("number of hidden layers", None),
    "arch_nonlinearity": ("nonlinearity", None),
    "arch_gain": ("gain of the initial weights", _NONE),
    "arch_lr": ("learning rate", _NONE),
    "arch_epochs": ("training epochs", _STEPS),
    "arch_optimizer": ("optimizer", None),
    "arch_dropout": ("dropout probability", _NONE),
    "arch_channels": ("channels of the convolutional layers", None),
    "arch_kernel_size": ("kernel size of the convolutional layers", None),
}


def _file_ready(values: np.ndarray) -> np.ndarray:
    """A column netCDF can hold: tuples and dicts as JSON text, missing text as ``""``."""
    if values.dtype != object:
        return values
    items = list(values)
    if all(v is None for v in items):
        return np.full(len(items), np.nan)
    if all(isinstance(v, bool) or v is None for v in items):
        return np.array([np.nan if v is None else float(v) for v in items])
    return np.array(
        ["" if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in items],
        dtype=object,
    )


def trial_dataset(
    results: Sequence[Mapping[str, Any]],
    configs: Sequence[Any],
    *,
    dims: Mapping[str, Sequence[str]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Any:
    """The trials as one self-describing xarray Dataset (what ``<stem>.nc`` holds).

    Parameters
    ----------
    results, configs
        Trial results and their configs, in the same order.
    dims : mapping, optional
        Dimension names of array fields (default :data:`TRIAL_DIMS`).
    attrs : mapping, optional
        Extra global attributes (JSON-able values; non-scalars are stored as JSON).

    Returns
    -------
    xarray.Dataset
        As :func:`repdyn.sweep.results_dataset`, with the sentinels of
        :data:`MISSING_SENTINELS` made missing, the architecture's name as
        ``arch``, ``seed`` as the dimension (``trial`` kept as a coordinate)
        where the seeds are distinct, ``long_name``/``units`` from
        :data:`VARIABLES` on every variable (``long_name`` is the field name
        for a field not listed there), and global attributes: the repdyn
        version, the result-format version and the configs as JSON.
    """
    from repdyn.sweep import RESULT_FORMAT_VERSION, canonical_value, results_dataset

    cleaned = []
    for r in results:
        r = dict(r)
        for name, sentinel in MISSING_SENTINELS.items():
            if r.get(name) == sentinel:
                r[name] = None
        cleaned.append(r)
    ds = results_dataset(cleaned, list(configs), dims=TRIAL_DIMS if dims is None else dims)
    if "arch_name" in ds.variables:
        ds = ds.rename({"arch_name": "arch"})
    if "seed" in ds.coords and ds["seed"].dims == ("trial",) and _distinct(ds["seed"].values):
        # Seeds name the trials: make seed the dimension, so that .sel(seed=...)
        # works on the file as plain xarray opens it (netCDF stores no other index).
        ds = ds.swap_dims(trial="seed")
    for name in list(ds.variables):
        var = ds[name]
        if var.dtype == object:
            ds[name] = var.copy(data=_file_ready(var.values))
        long_name, units = VARIABLES.get(str(name), (str(name).replace("_", " "), None))
        ds[name].attrs["long_name"] = long_name
        if units is not None:
            ds[name].attrs["units"] = units
    ds.attrs.update(
        repdyn_version=__version__,
        result_format_version=RESULT_FORMAT_VERSION,
        configs=json.dumps([canonical_value(c) for c in configs]),
    )
    for key, value in (attrs or {}).items():
        ds.attrs[key] = value if isinstance(value, (str, int, float)) else json.dumps(value)
    return ds


def _distinct(values: np.ndarray) -> bool:
    return len(values) > 0 and len(np.unique(values)) == len(values)


def trial_dimension(dataset: Any) -> str:
    """The dimension that runs over trials: ``seed`` where the seeds are distinct, else ``trial``."""
    return "trial" if "trial" in dataset.dims else "seed"


def trial_table(dataset: Any) -> Any:
    """One row per trial (pandas): the trial index, then every variable and coordinate over trials alone."""
    dim = trial_dimension(dataset)
    names = [
        str(n)
        for group in (dataset.coords, dataset.data_vars)
        for n in group
        if dataset[n].dims == (dim,) and n not in ("trial", dim)
    ]
    frame = dataset.reset_index([n for n in names if n in dataset.indexes])
    frame = frame[["trial", *names]].to_dataframe().reset_index()
    columns = ["trial", *(["seed"] if dim == "seed" else []), *names]
    return frame[columns].sort_values("trial", ignore_index=True)


def write_trial_data(
    out: Path,
    results: Sequence[Mapping[str, Any]],
    configs: Sequence[Any],
    stem: str,
    *,
    attrs: Mapping[str, Any] | None = None,
) -> list[Path]:
    """``<stem>.nc`` (every field, self-describing) and ``<stem>.csv`` (one row per trial).

    See :func:`trial_dataset` for what the file holds; :func:`load_run` reads it back.
    """
    dataset = trial_dataset(results, configs, attrs=attrs)
    out.mkdir(parents=True, exist_ok=True)
    nc, csv = out / f"{stem}.nc", out / f"{stem}.csv"
    tmp = nc.with_suffix(".nc.tmp")
    dataset.to_netcdf(tmp, engine=NETCDF_ENGINE)
    tmp.replace(nc)
    trial_table(dataset).to_csv(csv, index=False)
    return [csv, nc]


@dataclass
class Run:
    """A run read back from disk (see :func:`load_run`).

    Attributes
    ----------
    path : Path
        The run directory.
    summary : dict
        ``summary.json`` (empty if the directory has none).
    datasets : dict of str to xarray.Dataset
        Every ``<stem>.nc`` of the directory, by stem (``"trials"``, or
        ``"fit_trials"`` and ``"grid_trials"`` for fig5).
    """

    path: Path
    summary: dict[str, Any]
    datasets: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        sizes = {k: dict(v.sizes) for k, v in self.datasets.items()}
        return f"Run({str(self.path)!r}, datasets={sizes})"

    def _main(self) -> str:
        if "trials" in self.datasets:
            return "trials"
        if len(self.datasets) == 1:
            return next(iter(self.datasets))
        if not self.datasets:
            raise ValueError(
                f"{self.path} holds no trial data (*.nc); this experiment keeps its results in "
                "summary.json (run.summary)"
            )
        raise ValueError(
            f"{self.path} holds several trial files ({', '.join(sorted(self.datasets))}); use "
            "run.datasets[name] and run.table(name)"
        )

    @property
    def trajectories(self) -> Any:
        """The trials' xarray Dataset (``trials.nc``); ``.sel(seed=...)`` picks a seed."""
        return self.datasets[self._main()]

    @property
    def trials(self) -> Any:
        """One row per trial (pandas): config columns, fitted rates, R^2, status."""
        return self.table(self._main())

    def table(self, name: str) -> Any:
        """One row per trial of ``datasets[name]``."""
        if name not in self.datasets:
            raise ValueError(f"no trial file {name!r}; this run has: {sorted(self.datasets)}")
        return trial_table(self.datasets[name])


def _open(path: Path) -> Any:
    import xarray as xr

    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        ds = ds.load()
    if "seed" in ds.coords and ds["seed"].dims == ("trial",):
        ds = ds.set_xindex("seed")  # seeds repeat across trials: still selectable, several at a time
    return ds


def load_run(path: str | Path) -> Run:
    """Read a run directory, or one of its ``.nc`` files, back into Python.

    Parameters
    ----------
    path : str or Path
        A directory written by ``repdyn run two-point``, by one experiment of
        ``repdyn reproduce`` (``OUT/<experiment>``), or ``repdyn.experiments.run``;
        or a ``.nc`` file in one.

    Returns
    -------
    Run
        ``.summary`` (dict), ``.trials`` (pandas DataFrame, one row per trial;
        missing values are NaN or ``<NA>``), ``.trajectories`` (xarray Dataset,
        indexed by ``seed`` as well as ``trial``), and ``.datasets`` for
        directories with several trial files.

    Examples
    --------
    >>> run = repdyn.load_run("results/two-point")           # doctest: +SKIP
    >>> run.trials[["seed", "status", "eta_h", "r2_h"]]       # doctest: +SKIP
    >>> run.trajectories.h.sel(seed=0).plot()                 # doctest: +SKIP
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".nc":
        directory, files = path.parent, [path]
    elif path.is_dir():
        directory, files = path, sorted(path.glob("*.nc"))
    else:
        raise ValueError(
            f"{str(path)!r} is neither a run directory nor a .nc file; pass the --out directory "
            "of 'repdyn run' or one experiment directory of 'repdyn reproduce'"
        )
    summary_path = directory / "summary.json"
    if not files and not summary_path.is_file():
        raise ValueError(
            f"{str(path)!r} holds neither summary.json nor trial data (*.nc); is it the output "
            "directory of a run?"
        )
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return Run(directory, summary, {f.stem: _open(f) for f in files})
