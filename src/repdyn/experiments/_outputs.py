"""Writing an experiment's outputs: JSON summaries, figures, trial tables and data."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def json_ready(value: Any) -> Any:
    """Numpy scalars and arrays to Python, NaN/inf to None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(json_ready(data), indent=2) + "\n")
    tmp.replace(path)
    return path


def save_figure(fig: Any, out: Path, stem: str) -> list[Path]:
    """Save ``fig`` as PNG (for the report) and PDF (for papers); close it."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def write_trial_data(
    out: Path, results: Sequence[dict[str, Any]], configs: Sequence[Any], stem: str
) -> list[Path]:
    """One row per trial as CSV (pandas) and the trajectories as netCDF (xarray)."""
    from repdyn.sweep import results_dataset, results_frame

    out.mkdir(parents=True, exist_ok=True)
    csv = out / f"{stem}.csv"
    results_frame(list(results), list(configs)).to_csv(csv, index=False)
    paths = [csv]
    dataset = results_dataset(list(results), list(configs))
    if dataset.sizes.get("epoch", 0):
        nc = out / f"{stem}.nc"
        # Strings and None do not fit netCDF3 attributes/variables: keep numbers.
        numeric = dataset[[v for v in dataset.data_vars if dataset[v].dtype.kind in "biuf"]]
        numeric = numeric.drop_vars(
            [c for c in numeric.coords if numeric[c].dtype.kind not in "biuf"]
        )
        numeric.to_netcdf(nc, engine="scipy")
        paths.append(nc)
    return paths


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain fixed-width text table (numbers to 4 significant digits)."""

    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            v = float(v)
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return str(v)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [
        max(len(c), *(len(row[i]) for row in cells)) if cells else len(c)
        for i, c in enumerate(columns)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
