"""The trajectory ``repdyn theory fit`` reads: a CSV or an .npz, repdyn's own tables included.

Read as written by ``theory simulate`` and ``demo``, by ``PairTracking.to_frame()``
and ``PairsTracking.to_frame()`` saved with pandas (its index column too), by
spreadsheets (a byte-order mark) or by hand: column names compared without
case, one trajectory chosen by ``--layer`` (and ``--pair``) where a file holds
several. Every column must be known: a column that is not could be a time
column under another name, and fitting against the row index instead would
give rates off by the sampling interval.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repdyn.cli import _errors as check
from repdyn.cli._errors import fail

#: Names of a trajectory's time column, compared without case.
TIME_COLUMNS = ("epoch", "t", "time", "step")
#: The theory's variables, one column each (or, in an .npz, an array ``z`` of shape (T, 3)).
VARIABLES = ("h", "y", "w")
#: Columns that name which trajectory a row belongs to, and the option that picks one.
SELECTORS = {"layer": "--layer", "pair": "--pair"}
#: Columns repdyn writes beside a trajectory that the fit does not use: the
#: training loss of minibatch tracking (the fit's loss is the pair's, ``loss``)
#: and the fitted theory of ``repdyn demo``.
IGNORED = ("train_loss", "h_fit", "y_fit", "w_fit")
#: Names pandas gives its unnamed index column (``to_csv()``, and read back and saved again).
INDEX_COLUMNS = ("", "unnamed: 0")
_EXPECTED = (f"a time column ({', '.join(TIME_COLUMNS)}, any case, or --time-column NAME), h, y, w (or an array z "
             f"of shape (T, 3)), optionally loss, layer and pair; repdyn's {', '.join(IGNORED)} are ignored")


@dataclass(frozen=True)
class Trajectory:
    """What the fit takes: times, the observed (h, y, w) and the loss if the file has one."""

    t: np.ndarray
    z: np.ndarray
    loss: np.ndarray | None


def read_trajectory(path: Path, *, time_column: str | None = None, no_time_column: bool = False,
                    layer: str | None = None, pair: int | None = None) -> Trajectory:
    """The trajectory in ``path`` (the argument TRAJ); exits with status 2 and one message if it is unusable."""
    if not path.is_file():
        fail(f"TRAJ {path} does not exist or is not a file")
    if path.suffix == ".npy":
        fail(f"TRAJ {path} is a .npy file (one array); give a CSV or an .npz archive, e.g. "
             "np.savez(name, epoch=epoch, h=h, y=y, w=w)")
    columns = _read_npz(path) if path.suffix == ".npz" else _read_csv(path)
    columns = _select(path, columns, {"layer": layer, "pair": pair})
    time_key = _time_key(path, columns, time_column, no_time_column)
    unknown = [k for k in columns if k != time_key and k.lower() not in {*VARIABLES, "z", "loss", *IGNORED}]
    if unknown:
        hint = (f"if {unknown[0]!r} holds the times, give --time-column {unknown[0]}; otherwise" if len(unknown) == 1
                and time_key is None else "")
        fail(f"TRAJ {path}: unknown column(s) {unknown}; {hint or 'remove them, or'} save the file with only "
             f"{_EXPECTED}")
    data = {k.lower(): np.asarray(v, dtype=np.float64) for k, v in columns.items() if k != time_key}
    given = [v for v in VARIABLES if v in data]
    if "z" in data and given:
        fail(f"TRAJ {path} holds both an array z and the column(s) {given}: which is the trajectory? Save only one "
             "form (z of shape (T, 3), or h, y and w)")
    if "z" in data:
        z = data["z"]
        if z.ndim != 2 or z.shape[1] != 3:
            fail(f"TRAJ {path}: z must have shape (T, 3) holding (h, y, w); got {z.shape}")
    elif all(v in data for v in VARIABLES):
        if len({data[v].shape for v in VARIABLES}) != 1 or data["h"].ndim != 1:
            fail(f"TRAJ {path}: h, y and w must be 1-D arrays of the same length")
        z = np.stack([data[v] for v in VARIABLES], axis=-1)
    else:
        fail(f"TRAJ {path}: needs columns h, y, w (or an array z of shape (T, 3)); found {list(columns)}")
    if len(z) < 3:
        fail(f"TRAJ {path}: the fit needs at least 3 time points (rows); got {len(z)}")
    t = np.asarray(columns[time_key], dtype=np.float64) if time_key else np.arange(len(z), dtype=np.float64)
    loss = data.get("loss")
    named = {time_key or "epoch": t, "loss": loss, **{v: z[:, i] for i, v in enumerate(VARIABLES)}}
    for name, arr in named.items():
        if arr is None:
            continue
        if arr.shape != (len(z),):
            fail(f"TRAJ {path}: {name} must have one value per row of h, y, w ({len(z)}); got {arr.shape}")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            fail(f"TRAJ {path}: {name} holds NaN or inf (first at row {int(bad[0])}); give finite values "
                 "(cut the trajectory where a run diverged)")
    if time_key and np.any(np.diff(t) <= 0):
        i = int(np.flatnonzero(np.diff(t) <= 0)[0])
        repeats = " (a file of several layers or pairs: choose one with --layer or --pair)" if t[i] == t[i + 1] else ""
        fail(f"TRAJ {path}: the time column {time_key!r} must be strictly increasing; rows {i} and {i + 1} hold "
             f"{check.plain(t[i])} and {check.plain(t[i + 1])}{repeats}")
    return Trajectory(t, z, loss)


def _select(path: Path, columns: dict[str, np.ndarray], chosen: dict[str, object]) -> dict[str, np.ndarray]:
    """The rows of one trajectory: those of the chosen layer (and pair); the selecting columns dropped."""
    by_lower = {name.lower(): name for name in columns}
    keep = np.ones(len(next(iter(columns.values()))), dtype=bool)
    for selector, option in SELECTORS.items():
        value = chosen[selector]
        if selector not in by_lower:
            if value is not None:
                fail(f"{option} {value}, but TRAJ {path} has no {selector} column; leave {option} out")
            continue
        column = np.asarray(columns.pop(by_lower[selector]))
        labels = column.astype(str) if selector == "layer" else column.astype(np.float64)
        present = list(dict.fromkeys(labels[keep].tolist()))
        if value is None:
            if len(present) > 1:
                shown = ", ".join(_label(v) for v in present[:20]) + (", ..." if len(present) > 20 else "")
                fail(f"TRAJ {path} holds {len(present)} {selector}s ({shown}); choose one with {option} NAME")
            continue
        wanted = str(value) if selector == "layer" else float(value)  # type: ignore[arg-type]
        if wanted not in present:
            fail(f"{option} {value} is not a {selector} of TRAJ {path}; its {selector}s are "
                 f"{', '.join(_label(v) for v in present)}")
        keep &= labels == wanted
    return {name: np.asarray(values)[keep] for name, values in columns.items()}


def _label(value: object) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _time_key(path: Path, columns: dict[str, np.ndarray], time_column: str | None,
              no_time_column: bool) -> str | None:
    """The column that holds the times (None: the rows are consecutive epochs)."""
    by_lower = {name.lower(): name for name in columns}
    if time_column is not None:
        key = by_lower.get(time_column.strip().lower())
        if key is None:
            fail(f"--time-column {time_column!r} is not a column of {path}; its columns are {list(columns)}")
        return key
    found = [by_lower[n] for n in TIME_COLUMNS if n in by_lower]
    if no_time_column:
        if found:
            fail(f"--no-time-column, but {path} has the time column {found[0]!r}; leave the option out")
        return None
    if len(found) > 1:
        fail(f"TRAJ {path} has several time columns {found}; choose one with --time-column NAME")
    if not found:
        fail(f"TRAJ {path} has no time column (one named {', '.join(TIME_COLUMNS)}, any case); name it with "
             f"--time-column NAME, or pass --no-time-column if the rows are consecutive epochs 0, 1, 2, ...; "
             f"its columns are {list(columns)}")
    return found[0]


def _unique_names(path: Path, names: list[str]) -> None:
    """Refuse two columns whose names differ only in case (``h`` and ``H``): which one is h?"""
    seen: dict[str, str] = {}
    for name in names:
        if name.lower() in seen:
            fail(f"TRAJ {path}: the columns {seen[name.lower()]!r} and {name!r} have one name (compared without "
                 "case); give each column its own name")
        seen[name.lower()] = name


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    arrays = check.read_npz("TRAJ", path, example="np.savez(name, epoch=epoch, h=h, y=y, w=w)", text=("layer",))
    _unique_names(path, list(arrays))
    rows = {name: (len(a) if a.ndim else 0) for name, a in arrays.items()}
    if len(set(rows.values())) > 1 or 0 in rows.values():
        fail(f"TRAJ {path}: its arrays have {rows} rows; every array needs one row per time point (a scalar has none)")
    return arrays


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    """The columns of a CSV by header name, numbers but ``layer``; pandas' unnamed index column dropped."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"TRAJ {path} is not UTF-8 text (byte {exc.start} is {exc.object[exc.start]:#04x}); give a CSV "
             "file (epoch,h,y,w[,loss]) saved as UTF-8, or an .npz archive")
    reader = csv.reader(text.splitlines())
    header = [name.strip().lstrip("\ufeff") for name in next(reader, [])]
    rows = [(line, row) for line, row in enumerate(reader, start=2) if row]
    if not header or not rows:
        fail(f"TRAJ {path}: expected a header line (epoch,h,y,w[,loss]) and at least one data row")
    for line, row in rows:
        if len(row) > len(header):
            fail(f"TRAJ {path}: line {line} has {len(row)} fields but the header names {len(header)} columns "
                 f"({','.join(header)}): field {len(header) + 1}, {row[len(header)][:40]!r}, has no column; remove "
                 "it or name its column in the header")
        if len(row) < len(header):
            fail(f"TRAJ {path}: line {line} has {len(row)} fields but the header names {len(header)} columns "
                 f"({','.join(header)}): column {header[len(row)]!r} and after have no value; give every row a "
                 "value in every column")
    index = header[0].lower() in INDEX_COLUMNS
    nameless = [i + 1 for i, name in enumerate(header) if not name and not (i == 0 and index)]
    if nameless:
        fail(f"TRAJ {path}: column {nameless[0]} of the header ({','.join(header)}) has no name; name it, or remove "
             "it (pandas: to_csv(index=False) writes no index column)")
    _unique_names(path, header)
    columns = {}
    for i, name in enumerate(header):
        if i == 0 and index:
            continue
        if name.lower() == "layer":
            columns[name] = np.array([row[i] for _, row in rows], dtype=str)
            continue
        values = np.empty(len(rows))
        for r, (line, row) in enumerate(rows):
            try:
                values[r] = float(row[i])
            except ValueError:
                fail(f"TRAJ {path}: line {line}, column {name!r}: {row[i][:40]!r} is not a number")
        columns[name] = values
    return columns
