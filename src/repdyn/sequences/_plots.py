"""Drawing for the sequence studies: automaton diagrams, hidden states, and the shared style."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.sequences._automata import MISSING, Automaton
from repdyn.sequences._data import SequenceData

#: Colours of the output classes (parity: even, odd).
OUTPUT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
#: Larger automata are not drawn (their arrows would overlap).
MAX_DRAWN_STATES = 6
#: Colours of agreeing and disagreeing pairs.
AGREE_COLOUR, DISAGREE_COLOUR = "#2a9d8f", "#e76f51"

_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextlib.contextmanager
def style() -> Iterator[Any]:
    """Matplotlib (Agg) inside the studies' style; yields ``matplotlib.pyplot``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with plt.rc_context(_STYLE):
        yield plt


def save(fig: Any, path: Path) -> Path:
    """Write a figure (PNG) and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def draw_automaton(ax: Any, automaton: Automaton, *, output_names: tuple[str, ...] | None = None) -> None:
    """A state diagram: states on a circle coloured by output, arrows labelled by symbol.

    The initial state has a double ring; a missing transition has no arrow.
    """
    from matplotlib.patches import Circle, FancyArrowPatch

    n = automaton.n_states
    if n > MAX_DRAWN_STATES:
        ax.text(0.5, 0.5, f"{n} states\n(diagrams are drawn up to {MAX_DRAWN_STATES})", ha="center", va="center",
                transform=ax.transAxes)
        ax.axis("off")
        return
    angles = np.pi / 2 - 2 * np.pi * np.arange(n) / n
    radius = 0.0 if n == 1 else 1.0 if n == 2 else 1.6
    pos = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
    if n == 2:
        pos = np.array([[-1.0, 0.0], [1.0, 0.0]])
    node = 0.36
    names = output_names or tuple(str(k) for k in range(automaton.n_outputs))
    edges: dict[tuple[int, int], list[str]] = {}
    for q in range(n):
        for c in range(automaton.n_symbols):
            target = int(automaton.transitions[q, c])
            if target != MISSING:
                edges.setdefault((q, target), []).append(str(c))
    for (q, target), symbols in edges.items():
        text = ",".join(symbols)
        if q == target:
            direction = pos[q] / (np.linalg.norm(pos[q]) or 1.0) if n > 1 else np.array([0.0, 1.0])
            if n == 2:
                direction = np.array([0.0, 1.0])
            centre = pos[q] + direction * node * 1.55
            ax.add_patch(Circle(centre, node * 0.6, fill=False, lw=1.0, color="0.3"))
            ax.annotate(text, centre + direction * node * 1.05, ha="center", va="center")
            continue
        unit = (pos[target] - pos[q]) / np.linalg.norm(pos[target] - pos[q])
        arrow = FancyArrowPatch(
            pos[q] + unit * node * 1.1, pos[target] - unit * node * 1.1, connectionstyle="arc3,rad=0.25",
            arrowstyle="-|>", mutation_scale=12, shrinkA=0, shrinkB=0, lw=1.0, color="0.3",
        )
        ax.add_patch(arrow)
        mid = (pos[q] + pos[target]) / 2
        normal = np.array([pos[target][1] - pos[q][1], pos[q][0] - pos[target][0]])
        normal = normal / (np.linalg.norm(normal) or 1.0)
        # arc3 (rad 0.25) puts its control point 0.25 x the length along this normal; the curve passes halfway.
        bow = 0.125 * np.linalg.norm(pos[target] - pos[q])
        ax.annotate(text, mid + normal * (bow + 0.15), ha="center", va="center")
    for q in range(n):
        out = int(automaton.outputs[q])
        ax.add_patch(Circle(pos[q], node, color=OUTPUT_COLOURS[out % len(OUTPUT_COLOURS)], alpha=0.85))
        if q == automaton.initial:
            ax.add_patch(Circle(pos[q], node * 1.18, fill=False, lw=1.2, color="k"))
        ax.annotate(names[out] if out < len(names) else str(out), pos[q], ha="center", va="center", color="white",
                    fontweight="bold", fontsize="small")
    span = max(radius, 1.0) + 3.5 * node
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_hidden_states(ax: Any, states: np.ndarray, data: SequenceData, *, title: str) -> None:
    """Hidden states of every prefix on their first two principal components, with the prefix tree.

    A line joins each prefix to its one-symbol extensions; points are coloured
    by target class. The initial state is left out: with ``h_0`` all ones it
    lies far from every prefix and would set the axes alone.
    """
    from matplotlib.collections import LineCollection

    points = np.asarray(states, dtype=np.float64)
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T if vt.shape[0] >= 2 else np.hstack([centred @ vt[:1].T, np.zeros((len(points), 1))])
    segments = []
    for i, seq in enumerate(data.sequences):
        parent = data.index.get(seq[:-1]) if len(seq) > 1 else None
        if parent is not None:
            segments.append([xy[parent], xy[i]])
    ax.add_collection(LineCollection(segments, colors="0.75", linewidths=0.4, zorder=1))
    colours = np.array(OUTPUT_COLOURS)[data.targets % len(OUTPUT_COLOURS)]
    ax.scatter(xy[:, 0], xy[:, 1], s=5, c=colours, zorder=2, linewidths=0)
    ax.set_title(title)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_history(
    path: Path,
    tracking: Any,
    history: Any,
    automaton: Automaton,
    *,
    losses: dict[str, np.ndarray] | None = None,
    baseline: tuple[float, str] | None = None,
    output_names: tuple[str, ...] | None = None,
    title: str = "",
) -> Path:
    """The follow-up's picture of a run: losses, the automaton's size over training, states at three records.

    Top: the loss on the training set and each test set (``losses``, default
    the run's) with a ``(value, label)`` baseline; the extracted automaton's
    states, minimal states and conflicts per record, open records shaded.
    Bottom: the hidden states at the start, at the peak state count and at
    the end (:func:`draw_hidden_states`), and ``automaton``'s diagram.

    Parameters
    ----------
    path : Path
        The PNG written.
    tracking : PrefixTracking
    history : AutomatonHistory
        Of ``tracking``.
    automaton : Automaton
        Drawn bottom right (usually the final automaton minimised).
    """
    tr, hist = tracking, history
    if losses is None:
        losses = {"train": tr.train_loss, **{f"length {k}": v for k, v in tr.test_loss.items()}}
    with style() as plt:
        fig = plt.figure(figsize=(11, 6.4), layout="constrained")
        grid = fig.add_gridspec(2, 4)
        ax = fig.add_subplot(grid[0, :2])
        for name, values in losses.items():
            ax.plot(tr.epochs, values, label=name, lw=1.3 if name == "train" else 1.0)
        if baseline is not None:
            ax.axhline(baseline[0], color="0.5", ls="--", lw=0.8, label=baseline[1])
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel({"mse": "MSE loss", "cross_entropy": "cross-entropy loss"}.get(tr.loss, f"{tr.loss} loss"))
        ax.set_title(f"loss on training data (length <= {tr.data.max_length}) and test sets")
        ax.legend(loc="lower left")
        ax = fig.add_subplot(grid[0, 2:])
        ax.plot(hist.epochs, hist.n_states, color="k", lw=1.2, label="states")
        ax.plot(hist.epochs, hist.minimal_states, color="tab:purple", lw=1.0, label="minimal states (Hopcroft)")
        ax.plot(hist.epochs, np.maximum(hist.conflicts, 0.8), color="tab:orange", lw=0.8,
                label="conflicts (0 at bottom)")
        step = np.diff(hist.epochs, append=hist.epochs[-1]) / 2
        open_records = np.flatnonzero(~hist.closed)
        for r in open_records:
            ax.axvspan(hist.epochs[r] - step[r - 1 if r else 0], hist.epochs[r] + step[r], color="tab:red",
                       alpha=0.12, lw=0, label="open (a transition missing)" if r == open_records[0] else None)
        ax.axhline(tr.data.n_items + 1, color="0.5", ls=":", lw=0.8, label="prefix tree (all distinct)")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("count")
        ax.set_title(f"extracted automaton ({hist.method}, eps = {hist.eps:.3g})")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
        peak = int(np.argmax(hist.n_states))
        for col, r in enumerate((0, peak, tr.n_records - 1)):
            ax = fig.add_subplot(grid[1, col])
            draw_hidden_states(ax, tr.states[r], tr.data, title=f"epoch {tr.epochs[r]}: {hist.n_states[r]} states")
        ax = fig.add_subplot(grid[1, 3])
        draw_automaton(ax, automaton, output_names=output_names)
        ax.set_title(f"final automaton minimised: {automaton.n_states} states")
        if title:
            fig.suptitle(title)
        return save(fig, path)
