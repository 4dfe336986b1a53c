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
from repdyn.vocabulary import VOCABULARY, annotate

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

#: The units of every trial file: two-point trials train full batch (an epoch is
#: one optimisation step) and fit their rates against those steps.
EPOCH_UNIT = "optimisation steps"
RATE_UNIT = "1 / optimisation step"


def trial_quality(result: Mapping[str, Any], fitted: bool) -> str | None:
    """The fit verdict of a two-point trial (:func:`repdyn.theory.fit_quality`); None if it was not fitted."""
    from repdyn.theory import fit_quality

    if not fitted or "r2_h" not in result:
        return None
    return fit_quality({v: result.get(f"r2_{v}") for v in ("h", "y", "w")})


def _file_ready(values: np.ndarray) -> np.ndarray:
    """A column netCDF can hold: tuples and dicts as JSON text, missing text as ``""``.

    Missing is None, or the NaN that xarray puts where a trial lacks a field (an
    error record has no fit message): never the text ``"NaN"``.
    """
    if values.dtype != object:
        return values
    items = [None if isinstance(v, float) and np.isnan(v) else v for v in values]
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
        :data:`repdyn.vocabulary.VOCABULARY` on every variable (``long_name`` is the field name
        for a field not listed there) and ``quality`` (the fit's verdict, from
        ``r2_h``, ``r2_y``, ``r2_w``, as the command line prints it), and global attributes: the repdyn
        version, the result-format version and the configs as JSON.
    """
    from repdyn.sweep import RESULT_FORMAT_VERSION, canonical_value, results_dataset

    cleaned = []
    for r, c in zip(results, configs, strict=True):
        r = dict(r)
        for name, sentinel in MISSING_SENTINELS.items():
            if r.get(name) == sentinel:
                r[name] = None
        if "r2_h" in r:
            r["quality"] = trial_quality(r, getattr(c, "fit", True))
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
    # A field of a user's own config is named after itself (the vocabulary holds repdyn's own).
    own = {str(n): (str(n).replace("_", " "), None) for n in ds.variables if str(n) not in VOCABULARY}
    annotate(ds, rate_unit=RATE_UNIT, epoch_unit=EPOCH_UNIT, extra=own)
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
    from repdyn.runs._outputs import atomic_path

    nc, csv = out / f"{stem}.nc", out / f"{stem}.csv"
    # The table is derived from the data set: written second, so that a table
    # on disk never describes trials the .nc does not hold.
    with atomic_path(nc) as tmp:
        dataset.to_netcdf(tmp, engine=NETCDF_ENGINE)
    with atomic_path(csv) as tmp:
        trial_table(dataset).to_csv(tmp, index=False)
    return [csv, nc]


#: Columns of :attr:`Run.claims`, as ``repdyn reproduce`` prints each claim.
CLAIM_COLUMNS = ("experiment", "claim", "metric", "measured", "relation", "threshold", "holds")


@dataclass
class Run:
    """A run read back from disk (see :func:`load_run`).

    Attributes
    ----------
    path : Path
        The run directory.
    summary : dict
        ``summary.json``, or the directory's one other JSON file
        (``prediction.json`` of ``repdyn predict``); empty if it has none, as
        a reproduction's.
    datasets : dict of str to xarray.Dataset
        Every ``<stem>.nc`` of the directory, by stem (``"trials"``, or
        ``"fit_trials"`` and ``"grid_trials"`` for fig5; ``"atlas"``).
    arrays : dict of str to ndarray
        Every ``<stem>.npy`` of the directory, by stem (``"predicted"``: the
        distance matrix of ``repdyn predict``).
    runs : dict of str to Run
        A reproduction (the ``--out`` of ``repdyn reproduce``): one Run per
        experiment directory, by name; empty otherwise.
    """

    path: Path
    summary: dict[str, Any]
    datasets: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __repr__(self) -> str:
        if self.runs:
            return f"Run({str(self.path)!r}, runs={sorted(self.runs)})"
        sizes = {k: dict(v.sizes) for k, v in self.datasets.items()}
        shapes = {k: v.shape for k, v in self.arrays.items()}
        return f"Run({str(self.path)!r}, datasets={sizes}, tables={self.tables}, arrays={shapes})"

    def _main(self) -> str:
        if self.runs:
            raise ValueError(
                f"{self.path} is a reproduction of several experiments ({', '.join(sorted(self.runs))}); "
                "use run.runs[name] for one of them, or run.claims"
            )
        if "trials" in self.datasets:
            return "trials"
        if len(self.datasets) == 1:
            return next(iter(self.datasets))
        if not self.datasets:
            raise ValueError(
                f"{self.path} holds no trial data (*.nc); it keeps its results in run.summary"
                + (f" and run.arrays ({', '.join(self.arrays)})" if self.arrays else "")
            )
        raise ValueError(
            f"{self.path} holds several trial files ({', '.join(sorted(self.datasets))}); use "
            "run.datasets[name] and run.table(name)"
        )

    @property
    def trajectories(self) -> Any:
        """The main xarray Dataset (``trials.nc``, ``atlas.nc``); ``.sel(seed=...)`` picks a trial's seed."""
        return self.datasets[self._main()]

    @property
    def trials(self) -> Any:
        """The main table (pandas): one row per trial (config, fitted rates, R^2, quality, status).

        For an atlas directory, one row per tracked pair and layer (the table
        ``"fits"``).
        """
        return self.table(_tables(self._main(), self.trajectories)[0][0])

    @property
    def claims(self) -> Any:
        """The claims checked (pandas, columns :data:`CLAIM_COLUMNS`; none for a run without claims)."""
        import pandas as pd

        if self.runs:
            frames = [run.claims for run in self.runs.values()]
            return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=CLAIM_COLUMNS)
        name = self.summary.get("experiment", self.path.name)
        rows = [{"experiment": name, **claim} for claim in self.summary.get("claims", [])]
        return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))

    @property
    def tables(self) -> list[str]:
        """Names :meth:`table` takes: one per trial file, the atlas's ``"fits"`` and ``"layers"``, ``"claims"``."""
        names = [table for stem, ds in self.datasets.items() for table, _ in _tables(stem, ds)]
        return [*names, "claims"]

    def table(self, name: str) -> Any:
        """The table ``name`` (pandas); :attr:`tables` lists them.

        A trial file's table has one row per trial; an atlas's ``"fits"`` one
        row per (pair, layer) and ``"layers"`` one row per layer, with the
        scores over strata, predictors and structure methods spread into
        columns named ``<variable>_<label>`` (see
        :func:`repdyn.sweep.dataset_table`); ``"claims"`` is :attr:`claims`.
        """
        from repdyn.sweep import dataset_table

        if name == "claims":
            return self.claims
        for stem, ds in self.datasets.items():
            for table, layout in _tables(stem, ds):
                if table == name:
                    return trial_table(ds) if layout is None else dataset_table(ds, **layout)
        raise ValueError(f"no table {name!r}; this run has: {self.tables}")


def _tables(stem: str, dataset: Any) -> list[tuple[str, dict[str, list[str]] | None]]:
    """The tables of one file: those its ``tables`` attribute names (rows and columns), else one per trial."""
    if "tables" not in dataset.attrs:
        return [(stem, None)]
    return list(json.loads(dataset.attrs["tables"]).items())


def _open(path: Path) -> Any:
    import xarray as xr

    with xr.open_dataset(path, engine=NETCDF_ENGINE) as ds:
        ds = ds.load()
    if "seed" in ds.coords and ds["seed"].dims == ("trial",):
        ds = ds.set_xindex("seed")  # seeds repeat across trials: still selectable, several at a time
    return ds


def load_run(path: str | Path) -> Run:
    """Read a directory that repdyn wrote, or one of its ``.nc`` files, back into Python.

    Parameters
    ----------
    path : str or Path
        The ``--out`` directory of ``repdyn run two-point``, of ``repdyn
        atlas`` (or ``repdyn.atlas(...)``), of ``repdyn reproduce``, ``repdyn
        predict`` or ``repdyn demo``; one
        experiment directory of a reproduction (``OUT/<experiment>``, as
        ``repdyn.experiments.run`` writes); or a ``.nc`` file in one.

    Returns
    -------
    Run
        ``.summary`` (dict), ``.trials`` (pandas DataFrame; missing values are
        NaN or ``<NA>``), ``.trajectories`` (xarray Dataset), ``.claims``
        (pandas), ``.tables`` and ``.table(name)`` for the others, and
        ``.datasets`` for directories with several files. A two-point run or
        an experiment: one row per trial, with every column ``repdyn run
        two-point`` prints (``quality`` included); trajectories indexed by
        ``seed`` as well as ``trial``. An atlas: ``.trials`` is one row per
        (pair, layer), ``.table("layers")`` one row per layer (every number the
        command prints, and more), ``.trajectories`` the atlas Dataset. A
        reproduction: ``.runs`` (one Run per experiment) and ``.claims`` (every
        claim, as ``repdyn reproduce`` prints them). ``repdyn predict``:
        ``.summary`` (``prediction.json``) and ``.arrays["predicted"]``;
        ``repdyn demo``: ``.summary``.

    Examples
    --------
    >>> run = repdyn.load_run("results/two-point")           # doctest: +SKIP
    >>> run.trials[["seed", "status", "eta_h", "r2_h", "quality"]]  # doctest: +SKIP
    >>> run.trajectories.h.sel(seed=0).plot()                 # doctest: +SKIP
    >>> repdyn.load_run("results/atlas").table("layers")      # doctest: +SKIP
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".nc":
        directory, files = path.parent, [path]
    elif path.is_dir():
        directory, files = path, sorted(path.glob("*.nc"))
    else:
        raise ValueError(
            f"{str(path)!r} is neither a run directory nor a .nc file; pass the --out directory "
            "of 'repdyn run', 'repdyn atlas' or 'repdyn reproduce', or one experiment directory of a reproduction"
        )
    summary_path = _summary_file(directory)
    arrays = {f.stem: np.load(f, allow_pickle=False) for f in sorted(directory.glob("*.npy"))} if path.is_dir() else {}
    if not files and summary_path is None:
        experiments = sorted(d for d in directory.iterdir() if (d / "summary.json").is_file())
        if experiments:
            return Run(directory, {}, runs={d.name: load_run(d) for d in experiments})
        raise ValueError(
            f"{str(path)!r} holds neither a summary (*.json) nor trial data (*.nc) nor experiment directories; "
            "is it the output directory of a run?"
        )
    summary = json.loads(summary_path.read_text()) if summary_path is not None else {}
    return Run(directory, summary, {f.stem: _open(f) for f in files}, arrays=arrays)


def _summary_file(directory: Path) -> Path | None:
    """``summary.json``, else the directory's only JSON file (``repdyn predict`` writes ``prediction.json``)."""
    if (directory / "summary.json").is_file():
        return directory / "summary.json"
    found = sorted(directory.glob("*.json"))
    return found[0] if len(found) == 1 else None
