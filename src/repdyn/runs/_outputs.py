"""Writing an experiment's outputs: JSON summaries, figures and representations (trial data: ``_run_data``)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.vocabulary import json_ready


@dataclass
class RunOutput:
    """What a run returns: its JSON-able summary, the figures it drew and its trials' status counts."""

    summary: dict[str, Any]
    figures: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def write_json(path: Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (NaN and inf as null: :func:`repdyn.vocabulary.json_ready`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(json_ready(data), indent=2) + "\n")
    tmp.replace(path)
    return path


def png_data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI, so an HTML report keeps its figures when it is moved."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def save_figure(fig: Any, out: Path, stem: str) -> list[Path]:
    """Save ``fig`` as PNG (for the report) and PDF (for papers); close it."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def save_representations(path: Path, *, x: np.ndarray, y: np.ndarray, labels: np.ndarray, hidden: np.ndarray,
                         hidden0: np.ndarray, output0: np.ndarray, name: str) -> Path:
    """Write one trained network's representations as the ``.npz`` that ``repdyn predict --compare`` reads.

    Parameters
    ----------
    path : Path
        The file (``representations-<name>.npz`` by convention: ``--compare``
        given an experiment's directory looks for that pattern).
    x, y, labels : ndarray
        The points: inputs (N, d_in), targets (N, d_out) and labels (N,).
    hidden, hidden0 : ndarray
        Final and initial representations of the points at one layer, (N, units).
    output0 : ndarray
        The network's initial outputs (N, d_out), for the initial-state prediction.
    name : str
        What the file holds, in words (stored as the array ``name``).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y, labels=labels, hidden=hidden, hidden0=hidden0, output0=output0, name=np.array(name))
    return path
