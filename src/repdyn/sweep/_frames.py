"""Tables of sweep results: a pandas DataFrame (one row per trial) and an xarray Dataset.

pandas and xarray are imported inside the functions so that worker processes,
which import this package, do not pay for them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from repdyn.sweep._canonical import (
    DATACLASS_MARKER,
    FLOAT_MARKER,
    canonical_json,
    canonical_value,
    trial_name,
)
from repdyn.sweep._store import ResultStore

#: ``status`` of a row for a config that has no entry in the store.
STATUS_MISSING = "missing"


def _plain(value: Any) -> Any:
    """Undo the JSON-only encodings of the canonical form (float markers, lists)."""
    if isinstance(value, dict):
        if set(value) == {FLOAT_MARKER}:
            return float(value[FLOAT_MARKER])
        if set(value) == {"__enum__", "value"}:
            return _plain(value["value"])
        return {k: _plain(v) for k, v in value.items() if k != DATACLASS_MARKER}
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


#: Joins the names of nested config fields (``opt`` and ``lr`` give ``opt_lr``): a
#: valid Python name, so xarray's attribute access and pandas' ``df.opt_lr`` reach it.
SEPARATOR = "_"


def _flatten(value: Any, prefix: str, out: dict[str, Any], paths: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k in sorted(value):
            _flatten(value[k], f"{prefix}.{k}" if prefix else k, out, paths)
        return
    path = prefix or "config"
    name = path.replace(".", SEPARATOR)
    if name in paths:
        raise ValueError(
            f"config fields {paths[name]!r} and {path!r} both flatten to the column {name!r}; "
            "rename one of them"
        )
    paths[name] = path
    out[name] = value


def flatten_config(config: Any) -> dict[str, Any]:
    """A config as one level of names: ``{"opt_lr": 0.1, "widths": (20, 500)}``.

    Nested fields are joined with ``_`` (``opt.lr`` becomes ``opt_lr``). Accepts
    a config object or its canonical form (as a store keeps it). The dataclass
    name is dropped; lists become tuples; NaN/inf become floats again.

    Raises
    ------
    ValueError
        If two fields flatten to the same name (``opt.lr`` and ``opt_lr``).
    """
    out: dict[str, Any] = {}
    _flatten(_plain(canonical_value(config)), "", out, {})
    return out


def _gather(
    source: Any, configs: Sequence[Any] | None, fn: Callable[..., Any] | None, *, arrays: bool
) -> tuple[list[dict[str, Any] | None], list[Mapping[str, Any]]]:
    """Pair each result with its flattened config (None where no config is known)."""
    if isinstance(source, ResultStore):
        entries = source.load_all(arrays=arrays)
        if fn is not None:
            name = trial_name(fn)
            entries = [e for e in entries if e.trial == name]
        if configs is None:
            return (
                [None if e.config is None else flatten_config(e.config) for e in entries],
                [e.result for e in entries],
            )
        by_config: dict[str, list[Any]] = {}
        for e in entries:
            if e.config is not None:
                by_config.setdefault(canonical_json(e.config), []).append(e)
        results: list[Mapping[str, Any]] = []
        for i, config in enumerate(configs):
            found = by_config.get(canonical_json(config), [])
            if len({e.trial for e in found}) > 1:
                raise ValueError(
                    f"configs[{i}] was run by several trial functions "
                    f"({', '.join(sorted(str(e.trial) for e in found))}); pass fn= to choose one"
                )
            results.append(found[0].result if found else {"status": STATUS_MISSING})
        return [flatten_config(c) for c in configs], results
    if isinstance(source, Mapping) or not isinstance(source, Sequence):
        raise TypeError(
            f"results must be a list of result dicts (from run_sweep) or a ResultStore; got "
            f"{type(source).__name__}"
        )
    for i, r in enumerate(source):
        if not isinstance(r, Mapping):
            raise TypeError(f"results[{i}] must be a dict; got {type(r).__name__}")
    if configs is None:
        return [None] * len(source), list(source)
    if len(configs) != len(source):
        raise ValueError(
            f"configs has {len(configs)} entries but results has {len(source)}; pass the configs "
            "in the order given to run_sweep"
        )
    return [flatten_config(c) for c in configs], list(source)


def _columns(
    flat_configs: list[dict[str, Any] | None], names: list[str], reserved: set[str]
) -> tuple[list[str], dict[str, str]]:
    """Config column names, and result field name -> column name (renamed on a clash)."""
    config_cols: dict[str, None] = {}
    for flat in flat_configs:
        config_cols.update(dict.fromkeys(flat or ()))
    taken = set(config_cols) | reserved
    return list(config_cols), {n: f"result{SEPARATOR}{n}" if n in taken else n for n in names}


def results_frame(
    results: Any, configs: Sequence[Any] | None = None, *, fn: Callable[..., Any] | None = None
) -> Any:
    """A pandas DataFrame with one row per trial: config columns, then scalar result fields.

    Parameters
    ----------
    results : list of dict or ResultStore
        What :func:`run_sweep` returned, or a store (its configs are stored with
        each entry).
    configs : sequence, optional
        For a list: the configs in the same order, giving the config columns.
        For a store: the configs to select, in row order; a config without an
        entry gets a row with ``status="missing"``. Default: all entries.
    fn : callable, optional
        For a store: keep only entries of this trial function.

    Returns
    -------
    pandas.DataFrame
        Config fields flattened (``opt_lr``, see :func:`flatten_config`; tuples
        stay tuples), then scalar result fields; array fields are left out (see
        :func:`results_dataset`). A result field whose name is also a config
        column is named ``result_<name>``.
    """
    import pandas as pd

    flat_configs, found = _gather(results, configs, fn, arrays=False)
    names: dict[str, None] = {}
    for r in found:
        names.update({k: None for k, v in r.items() if not isinstance(v, np.ndarray)})
    config_cols, renamed = _columns(flat_configs, list(names), set())
    rows = []
    for flat, r in zip(flat_configs, found):
        row = dict(flat or {})
        row.update({renamed[k]: v for k, v in r.items() if k in renamed})
        rows.append(row)
    return pd.DataFrame.from_records(rows, columns=config_cols + list(renamed.values()))


def _column_values(values: list[Any]) -> np.ndarray:
    if any(isinstance(v, (tuple, dict)) for v in values):
        out = np.empty(len(values), dtype=object)
        for i, v in enumerate(values):
            out[i] = v
        return out
    if any(v is None for v in values) and any(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return np.asarray(values)


def _array_dims(
    name: str, arrays: list[np.ndarray], dim: str, dims: Mapping[str, Sequence[str]]
) -> tuple[str, ...]:
    """Dimension names (after ``trial``) of array field ``name``; one rule for every field."""
    ndims = {a.ndim for a in arrays}
    if len(ndims) > 1:
        raise ValueError(
            f"array field {name!r} has {sorted(ndims)} dimensions in different trials; one "
            "dataset variable needs the same number in every trial"
        )
    ndim = ndims.pop()
    if name in dims:
        named = tuple(dims[name])
        if len(named) != ndim or not all(isinstance(d, str) and d for d in named):
            raise ValueError(
                f"dims[{name!r}] must name {ndim} dimension(s) of the field's arrays; got {named!r}"
            )
        if "trial" in named:
            raise ValueError(f"dims[{name!r}] must not use 'trial' (the first dimension of all)")
        return named
    if ndim == 1:
        return (dim,)
    return tuple(f"{name}_dim{i}" for i in range(ndim))


def _stack(arrays: list[np.ndarray | None], shape: tuple[int, ...]) -> np.ndarray:
    """Trials' arrays in one block of ``(trial, *shape)``, padded at the end of every axis.

    Numbers are padded with NaN (int and bool become float64 when padding is
    needed), strings with ``""``.
    """
    present = [a for a in arrays if a is not None]
    dtype = np.result_type(*present)
    padded = len(present) < len(arrays) or any(a.shape != shape for a in present)
    if dtype.kind in "US":
        fill: Any = ""
    elif dtype.kind in "fc":
        fill = np.nan
    elif padded:
        dtype, fill = np.dtype(np.float64), np.nan
    else:
        fill = 0
    block = np.full((len(arrays), *shape), fill, dtype=dtype)
    for i, arr in enumerate(arrays):
        if arr is not None:
            block[(i, *(slice(0, n) for n in arr.shape))] = arr
    return block


def results_dataset(
    results: Any,
    configs: Sequence[Any] | None = None,
    *,
    array_fields: Sequence[str] | None = None,
    dim: str = "epoch",
    dims: Mapping[str, Sequence[str]] | None = None,
    fn: Callable[..., Any] | None = None,
) -> Any:
    """An xarray Dataset of trajectories: array fields as variables over ``trial`` and their axes.

    Parameters
    ----------
    results, configs, fn
        As in :func:`results_frame`.
    array_fields : sequence of str, optional
        Which numeric or string array fields to include; default all of them.
    dim : str, default "epoch"
        Dimension of 1-D array fields not named in ``dims``; its coordinate
        is the index 0, 1, ... along the arrays.
    dims : mapping of str to sequence of str, optional
        Dimension names of an array field's axes, e.g.
        ``{"h_layers": ("layer", "epoch"), "r2_layers": ("layer", "variable")}``.
        A field not named here gets ``(dim,)`` if 1-D and ``("<field>_dim0",
        "<field>_dim1", ...)`` otherwise, so no array is ever dropped.

    Returns
    -------
    xarray.Dataset
        Each array field with dims ``("trial", *its dims)``; scalar result
        fields as variables over ``trial``; config fields (flattened names, see
        :func:`flatten_config`) as coordinates over ``trial``. Fields sharing a
        dimension are padded to its longest length: arrays shorter than the
        longest (a run that diverged early) and trials without the field (an
        error record) are padded at the end with NaN (``""`` for strings), and
        an integer or bool field that needs padding becomes float64.

    Raises
    ------
    ValueError
        For a bad ``dim``, ``dims`` or ``array_fields``, or an array field whose
        number of dimensions differs between trials.
    """
    import xarray as xr

    if not isinstance(dim, str) or not dim or dim == "trial":
        raise ValueError(f"dim must be a non-empty name other than 'trial'; got {dim!r}")
    dims = dict(dims or {})
    flat_configs, found = _gather(results, configs, fn, arrays=True)
    available: dict[str, None] = {}
    for r in found:
        available.update(
            {
                k: None
                for k, v in r.items()
                if isinstance(v, np.ndarray) and v.dtype.kind in "biufcUS"
            }
        )
    if array_fields is None:
        fields = list(available)
    else:
        fields = list(array_fields)
        for name in fields:
            if name not in available:
                raise ValueError(
                    f"array_fields names {name!r}, which no result holds as a numeric or string "
                    f"array; available: {sorted(available) or 'none'}"
                )
    scalar_names: dict[str, None] = {}
    for r in found:
        scalar_names.update({k: None for k, v in r.items() if not isinstance(v, np.ndarray)})
    field_dims = {
        name: _array_dims(
            name, [r[name] for r in found if isinstance(r.get(name), np.ndarray)], dim, dims
        )
        for name in fields
    }
    # A variable may not share a dimension's name: such fields get a prefix.
    dim_names = {"trial", dim, *(d for names in field_dims.values() for d in names)}
    config_cols, renamed = _columns(flat_configs, fields + list(scalar_names), dim_names)
    sizes: dict[str, int] = {}
    for name, names in field_dims.items():
        for r in found:
            arr = r.get(name)
            if isinstance(arr, np.ndarray):
                for d, n in zip(names, arr.shape):
                    sizes[d] = max(sizes.get(d, 0), n)
    sizes.setdefault(dim, 0)
    n = len(found)
    data_vars: dict[str, Any] = {}
    for name in fields:
        shape = tuple(sizes[d] for d in field_dims[name])
        arrays = [r[name] if isinstance(r.get(name), np.ndarray) else None for r in found]
        data_vars[renamed[name]] = (("trial", *field_dims[name]), _stack(arrays, shape))
    for name in scalar_names:
        data_vars[renamed[name]] = ("trial", _column_values([r.get(name) for r in found]))
    coords: dict[str, Any] = {"trial": np.arange(n), dim: np.arange(sizes[dim])}
    for col in config_cols:
        key = f"config{SEPARATOR}{col}" if col in dim_names else col
        coords[key] = ("trial", _column_values([(flat or {}).get(col) for flat in flat_configs]))
    return xr.Dataset(data_vars, coords=coords)


def dataset_table(dataset: Any, rows: Sequence[str], columns: Sequence[str] = ()) -> Any:
    """A pandas DataFrame of an xarray Dataset: one row per element of the dimensions ``rows``.

    Parameters
    ----------
    dataset : xarray.Dataset
    rows : sequence of str
        Dimensions whose elements are the rows, outer first (e.g.
        ``("pair", "layer")``: one row per pair and layer).
    columns : sequence of str, optional
        Further dimensions spread into columns: a variable over ``layer`` and
        ``stratum`` in a table of ``rows=("layer",)`` gives one column per
        stratum, named ``<variable>_<stratum>`` (labels joined with ``_`` in
        the order of the variable's dimensions).

    Returns
    -------
    pandas.DataFrame
        First the row dimensions' labels, then every coordinate and every
        variable whose dimensions include a row dimension and lie within
        ``rows`` and ``columns``, in the Dataset's order; a variable without
        one of the row dimensions repeats along it. Variables over other
        dimensions (a trajectory over ``epoch``) are left out.

    Raises
    ------
    ValueError
        For a dimension the Dataset does not have, or two columns of one name.
    """
    import pandas as pd

    rows, columns = list(rows), list(columns)
    unknown = [d for d in rows + columns if d not in dataset.dims]
    if not rows or unknown:
        raise ValueError(f"rows must name at least one dimension, and rows and columns dimensions of the "
                         f"Dataset ({', '.join(map(str, dataset.dims))}); got unknown {unknown}")  # fmt: skip
    grid = pd.MultiIndex.from_product([dataset[d].values for d in rows], names=rows)
    table: dict[str, Any] = {d: grid.get_level_values(d) for d in rows}
    template = dataset[rows].drop_vars([n for n in dataset[rows].coords if n not in rows])
    for name in [*dataset.coords, *dataset.data_vars]:
        var = dataset[name]
        if name in rows or not set(var.dims) & set(rows) or not set(var.dims) <= set(rows + columns):
            continue
        spread = [d for d in var.dims if d not in rows]
        full = var.reset_coords(drop=True).broadcast_like(template).transpose(*rows, *spread)
        for labels in itertools.product(*(dataset[d].values for d in spread)):
            key = SEPARATOR.join([str(name), *map(str, labels)])
            if key in table:
                raise ValueError(f"two columns are named {key!r}; rename a variable or a label")
            picked = full.isel({d: list(dataset[d].values).index(v) for d, v in zip(spread, labels)})
            table[key] = picked.values.reshape(-1)
    return pd.DataFrame(table)
