"""Figures in the paper's style: network solid, theory dashed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: The package's matplotlib style file (fonts, sizes, line widths, colours).
STYLE = Path(__file__).with_name("repdyn.mplstyle")
#: The fitted theory beside a network's (solid) curve: dashed, same colour.
THEORY_LINE = {"ls": "--", "lw": 1.2, "alpha": 0.9}


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Draw with the package's style (:data:`STYLE`); a context manager and a decorator.

    The style applies inside only: a notebook's own settings are restored after.
    """
    import matplotlib.pyplot as plt

    with plt.style.context(STYLE):
        yield


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
        ax.plot(epochs, result[name], color=color, label=label)
        theory = result.get(f"theory_{name}")
        if theory is not None:
            ax.plot(epochs, theory, color=color, **THEORY_LINE)
        ax.set_ylabel(dict(PANELS).get(name, name))
        ax.set_xlabel("epoch")
        if name == "loss":
            ax.set_yscale("log")
