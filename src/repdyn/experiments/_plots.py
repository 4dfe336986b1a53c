"""Figures in the paper's style: network solid, theory dashed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PANELS = (("h", r"$h = \|\Delta h\|^2$"), ("y", r"$y = \|\Delta\hat y\|^2$"), ("w", r"$w$"), ("loss", "loss"))


def figure_grid(n_rows: int, n_cols: int, *, width: float = 3.0, height: float = 2.3) -> tuple[Any, np.ndarray]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False)
    return fig, axes


def dynamics_row(axes: Sequence[Any], result: dict[str, Any], *, color: str = "C0", label: str | None = None,
                 panels: Sequence[str] = ("h", "y", "w", "loss")) -> None:
    """Draw one trial's measured variables (solid) and fitted theory (dashed) on ``axes``."""
    epochs = np.asarray(result["epochs"])
    for ax, name in zip(axes, panels):
        ax.plot(epochs, result[name], color=color, lw=1.6, label=label)
        theory = result.get(f"theory_{name}")
        if theory is not None:
            ax.plot(epochs, theory, color=color, lw=1.2, ls="--", alpha=0.9)
        ax.set_ylabel(dict(PANELS).get(name, name))
        ax.set_xlabel("epoch")
        if name == "loss":
            ax.set_yscale("log")
