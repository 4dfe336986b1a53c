"""The atlas's figures and its report (markdown and HTML), read from the atlas Dataset alone."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repdyn.runs import png_data_uri

#: Colours of the two strata in every figure.
STRATUM_COLOURS = {"same": "C0", "different": "C1"}
#: Floor of the log axes of the final-distance figure, relative to the median
#: measured distance: a prediction of exactly 0 (a same-target pair in the
#: rich limit) has no place on a log axis and is drawn at the floor.
LOG_FLOOR = 1e-4
#: Panels per row of the per-layer figure.
PANELS_PER_ROW = 4


# --- figures ----------------------------------------------------------------------------------------


def _figure(n_rows: int, n_cols: int, width: float, height: float) -> tuple[Any, np.ndarray]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False,
                        layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return path


#: Edges of the colour bins of the fit-quality figure: below 0 the fit is unfit
#: (the theory describes the data worse than their mean), below the file's
#: ``poor_r2`` (None here) poor; below the first edge, one darker red.
R2_EDGES = (-10.0, -1.0, 0.0, 0.5, None, 0.99, 1.0)
#: One colour per bin: reds unfit, yellows poor, blues good (a scale readable
#: with red-green colour blindness); then below the first edge, and not fitted.
R2_COLOURS = ("#b2182b", "#ef8a62", "#fdb863", "#fee090", "#91bfdb", "#4575b4")
R2_UNDER, NOT_FITTED = "#67001f", "0.8"


def _r2_edges(poor_r2: float) -> list[float]:
    return [poor_r2 if edge is None else edge for edge in R2_EDGES]


def fit_quality_figure(ds: Any, path: Path) -> Path:
    """Worst R^2 of every (pair, layer): pairs as rows, layers as columns, one panel per stratum.

    The colours are bins of R^2 that keep negative values apart (a same-target
    pair is often unfit, far below 0), with the file's ``poor_r2`` as an edge.
    """
    import matplotlib as mpl

    layers = [str(v) for v in ds["layer"].values]
    worst = ds["r2_worst"].values
    same = ds["same"].values.astype(bool)
    good = ds["quality"].values == "good"
    poor_r2 = float(ds.attrs["poor_r2"])
    edges = _r2_edges(poor_r2)
    cmap = mpl.colors.ListedColormap(R2_COLOURS).with_extremes(bad=NOT_FITTED, under=R2_UNDER)
    norm = mpl.colors.BoundaryNorm(edges, cmap.N)
    fig, axes = _figure(1, 2, max(2.2, 0.45 * len(layers) + 1.4), 3.4)
    image = None
    for ax, (stratum, rows) in zip(axes[0], (("same", same), ("different", ~same)), strict=True):
        block = worst[rows]
        ax.set_title(f"{stratum} target ({int(rows.sum())} pairs)\n{int(good[rows].sum())} of {block.size} fits good")
        ax.set_xticks(range(len(layers)), layers, rotation=60, ha="right")
        ax.set_xlabel("layer")
        if not len(block):
            ax.text(0.5, 0.5, "no pairs", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        with np.errstate(all="ignore"):
            order = np.argsort(np.nanmean(np.where(np.isfinite(block), block, np.nan), axis=1))
        image = ax.imshow(block[order], aspect="auto", cmap=cmap, norm=norm, interpolation="nearest")
        ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("pair (sorted by mean worst R²)")
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes[0]), fraction=0.05, pad=0.04, extend="min", ticks=edges,
                           spacing="uniform", format="%g")  # fmt: skip
        bar.set_label(f"worst R² over h, y, w\n(below 0: unfit; below {poor_r2:g}: poor; grey: not fitted)")
    fig.suptitle("Fit quality of the theory per pair and layer")
    return _save(fig, path)


def rates_figure(ds: Any, path: Path) -> Path:
    """Fitted eta_h and eta_y of every usable fit per layer, by stratum, with the medians.

    A stratum without a usable fit at any layer has no line and no legend
    entry; the figure's title says so.
    """
    layers = [str(v) for v in ds["layer"].values]
    usable = (ds["fit_state"].values == "fitted") & (ds["quality"].values != "unfit")
    same = ds["same"].values.astype(bool)
    fig, axes = _figure(1, 2, max(2.6, 0.45 * len(layers) + 1.6), 2.8)
    rng = np.random.default_rng(0)  # jitter only: where a point is drawn, not what it is
    lines: dict[str, Any] = {}
    for ax, name, label in zip(axes[0], ("eta_h", "eta_y"), (r"$\eta_h$", r"$\eta_y$"), strict=True):
        values = ds[name].values
        for offset, (stratum, rows) in zip((-0.17, 0.17), (("same", same), ("different", ~same)), strict=True):
            xs, ys, med = [], [], []
            for layer in range(len(layers)):
                v = values[rows & usable[:, layer], layer]
                v = v[np.isfinite(v) & (v > 0)]
                xs.append(layer + offset + rng.uniform(-0.08, 0.08, len(v)))
                ys.append(v)
                med.append(np.median(v) if len(v) else np.nan)
            if not sum(len(v) for v in ys):
                continue
            colour = STRATUM_COLOURS[stratum]
            ax.scatter(np.concatenate(xs), np.concatenate(ys), s=4, alpha=0.35, color=colour, lw=0)
            [lines[stratum]] = ax.plot(np.arange(len(layers)) + offset, med, "o-", color=colour, ms=4)
        if not ax.lines:
            ax.text(0.5, 0.5, "no usable fit", ha="center", va="center", transform=ax.transAxes)
        ax.set_yscale("log")
        ax.set_xlim(-0.5, len(layers) - 0.5)
        ax.set_xticks(range(len(layers)), layers, rotation=60, ha="right")
        ax.set_xlabel("layer")
        ax.set_ylabel(f"fitted {label} ({ds[name].attrs['units']})")
    drawn = [s for s in STRATUM_COLOURS if s in lines]
    if drawn:
        fig.legend([lines[s] for s in drawn], [f"{s} target (median)" for s in drawn],
                   loc="outside lower center", ncols=len(drawn))
    missing = "".join(f"\n{s} target: no usable fit at any layer" for s in STRATUM_COLOURS if s not in lines)
    fig.suptitle("Fitted effective learning rates per layer (every usable fit)" + missing)
    return _save(fig, path)


def final_distance_figure(ds: Any, path: Path) -> Path:
    """Measured final distance against the cross-validated prediction and the h0 baseline, per layer."""
    layers = [str(v) for v in ds["layer"].values]
    n_cols = min(PANELS_PER_ROW, len(layers))
    n_rows = math.ceil(len(layers) / n_cols)
    fig, axes = _figure(n_rows, n_cols, 2.7, 2.6)
    same = ds["same"].values.astype(bool)
    for index, ax in enumerate(axes.ravel()):
        if index >= len(layers):
            ax.set_visible(False)
            continue
        measured = ds["h_final"].values[:, index]
        cv = ds["h_inf_cv"].values[:, index]
        h0 = ds["h0"].values[:, index]
        positive = measured[np.isfinite(measured) & (measured > 0)]
        floor = LOG_FLOOR * (np.median(positive) if len(positive) else 1.0)
        ax.scatter(np.maximum(measured, floor), np.maximum(h0, floor), s=6, marker="x", color="0.55", lw=0.6,
                   label="h0 (no change)")  # fmt: skip
        for stratum, rows in (("same", same), ("different", ~same)):
            ax.scatter(np.maximum(measured[rows], floor), np.maximum(cv[rows], floor), s=7, alpha=0.7,
                       color=STRATUM_COLOURS[stratum], lw=0, label=f"theory, {stratum} target")  # fmt: skip
        finite = np.concatenate([v[np.isfinite(v)] for v in (measured, cv, h0)])
        if finite.size:
            lo, hi = floor, max(float(np.max(finite)), floor * 10) * 1.5
            ax.plot([lo, hi], [lo, hi], "--", color="k", lw=0.7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        rho = ds["final_spearman"].sel(layer=layers[index], stratum="all")
        ax.set_title(f"{layers[index]}: ρ theory {_fmt(rho.sel(predictor='cross_validated'))}, "
                     f"h0 {_fmt(rho.sel(predictor='h0_baseline'))}", fontsize=8)  # fmt: skip
        ax.set_xlabel("measured final distance")
        ax.set_ylabel("predicted final distance")
    fig.legend(*axes.ravel()[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    fig.suptitle(f"Final squared distances: theory (rates from the other pairs), h0 baseline\n"
                 f"(values below {LOG_FLOOR:g} x the median measured drawn at that floor)", fontsize=9)
    return _save(fig, path)


def structure_figure(ds: Any, path: Path) -> Path:
    """RDM correlations per layer of the measured final distances with each prediction and baseline."""
    layers = [str(v) for v in ds["layer"].values]
    methods = [str(v) for v in ds["structure"].values]
    values = ds["rdm_spearman"].values
    fig, axes = _figure(1, 1, max(3.5, 0.8 * len(layers) + 1.5), 2.8)
    ax = axes[0, 0]
    width = 0.8 / len(methods)
    for m, method in enumerate(methods):
        ax.bar(np.arange(len(layers)) + (m - (len(methods) - 1) / 2) * width, values[:, m], width,
               label=method, color=f"C{m}")  # fmt: skip
    ax.axhline(0, color="k", lw=0.6)
    ax.set_ylim(-1, 1)
    ax.set_xticks(range(len(layers)), layers, rotation=60, ha="right")
    ax.set_xlabel("layer")
    ax.set_ylabel("Spearman correlation with the\nmeasured final distances")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(f"Structure of the {ds.sizes['point']} tracked points")
    return _save(fig, path)


FIGURES = {
    "fit_quality.png": (fit_quality_figure, "fit quality (worst R² over h, y, w) per pair and layer, by stratum"),
    "rates.png": (rates_figure, "fitted eta_h and eta_y per layer (the paper's Fig 10 for every pair)"),
    "final_distances.png": (final_distance_figure, "predicted against measured final distances, h0 beside"),
    "structure.png": (structure_figure, "RDM correlations of the tracked points per layer"),
}


def draw_figures(ds: Any, out: Path) -> list[Path]:
    from repdyn.runs import paper_style

    with paper_style():
        return [draw(ds, out / name) for name, (draw, _) in FIGURES.items()]


# --- report -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Image:
    path: str
    caption: str


Block = tuple[str, str] | Table | Image


def _fmt(value: Any) -> str:
    """Two decimals (correlations, R^2), or three significant digits from 100 up."""
    v = float(value)
    if not math.isfinite(v):
        return "n/a"
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.3g}"


def _pct(value: Any) -> str:
    v = float(value)
    return "n/a" if not math.isfinite(v) else f"{100 * v:.0f} %"


def _sci(value: Any) -> str:
    v = float(value)
    return "n/a" if not math.isfinite(v) else f"{v:.3g}"


def report_blocks(ds: Any, summary: dict[str, Any]) -> list[Block]:
    """The report's content in order: headings, paragraphs, tables and figures."""
    layers = [str(v) for v in ds["layer"].values]
    same = ds["same"].values.astype(bool)
    fits = ds.sel(stratum=["same", "different"])
    blocks: list[Block] = [("h1", f"Theory atlas: {summary['model']} on {summary['data']}")]
    blocks.append(("p", (
        f"{ds.sizes['pair']} pairs ({int(same.sum())} with the same target, {int((~same).sum())} with "
        f"different targets) tracked at {len(layers)} layers, {ds.sizes['epoch']} records over "
        f"{summary['epochs']} epochs ({summary['training']}); training {ds.attrs['status']}, final "
        f"training loss {_sci(ds.attrs['final_loss'])}, {ds.attrs['training_seconds']:.0f} s of training. "
        f"Fits use the first {ds.attrs['finite_records']} records (all finite). A fit is good when its "
        f"worst R² over h, y and w is at least {ds.attrs['poor_r2']:g}."
    )))
    blocks.append(("h2", "Where the theory holds, in numbers"))
    for layer in layers:
        blocks.append(("li", _layer_sentence(ds, layer)))
    blocks.append(("h2", "Fit quality and rates per layer"))
    rows = []
    for layer in layers:
        f = fits.sel(layer=layer)
        regime = ds["regime"].sel(layer=layer).values[~same]
        r2 = [" / ".join(_fmt(v) for v in f["fit_median_r2"].sel(stratum=st).values) for st in ("same", "different")]
        rows.append([
            layer,
            f"{int(ds['fit_fitted'].sel(layer=layer, stratum='all'))}/{ds.sizes['pair']}",
            *(_pct(v) for v in f["fit_good_fraction"].values),
            *r2,
            _sci(ds["structure_eta_h"].sel(layer=layer)), _sci(ds["structure_eta_y"].sel(layer=layer)),
            " / ".join(str(int((regime == r).sum())) for r in ("rich", "intermediate", "lazy")),
        ])  # fmt: skip
    blocks.append(Table(["layer", "fitted", "good: same", "good: different", "median R² h / y / w: same",
                         "median R² h / y / w: different", f"median eta_h ({ds.attrs['rate_units']})",
                         f"median eta_y ({ds.attrs['rate_units']})",
                         "different-target fits: rich / intermediate / lazy"], rows))
    blocks.append(("p", (
        f"Rates: medians over the usable fits (fitted, optimiser converged, not unfit), fitted on the records' "
        f"optimisation steps ({ds.attrs['steps_per_epoch']} per epoch), so in {ds.attrs['rate_units']}. Regime: by each fit's "
        "fixed point (lazy where |A_high| is at least 10 A_low, rich where at most a tenth); same-target pairs "
        "are left out of it, since their A_low is 0."
    )))
    blocks.append(Image("fit_quality.png", FIGURES["fit_quality.png"][1]))
    blocks.append(Image("rates.png", FIGURES["rates.png"][1]))
    blocks.append(("h2", "Final distances: predicted against measured"))
    blocks.append(("p", (
        "The theory's fixed point h_inf from each pair's measured initial state, with the rate ratio "
        "eta_h / eta_y the median over the other pairs' usable fits at the layer (cross-validated by "
        "pair); beside it the prediction from the pair's own fit (in sample) and the no-change baseline "
        "h0. Every predictor is scored on the same pairs."
    )))
    rows = []
    for layer in layers:
        for stratum in ("all", "same", "different"):
            s = ds.sel(layer=layer, stratum=stratum)
            rows.append([layer, stratum, str(int(s["final_n_scored"])),
                         *(_fmt(s["final_spearman"].sel(predictor=p)) for p in ds["predictor"].values),
                         *(_fmt(s["final_median_rel_error"].sel(predictor=p)) for p in ds["predictor"].values)])
    names = [str(p) for p in ds["predictor"].values]
    blocks.append(Table(["layer", "pairs", "n", *(f"Spearman: {n}" for n in names),
                         *(f"median rel. error: {n}" for n in names)], rows))
    blocks.append(Image("final_distances.png", FIGURES["final_distances.png"][1]))
    blocks.append(("h2", "Structure of the tracked points (RDM correlations)"))
    blocks.append(("p", (
        f"The measured final squared distances between all {ds.sizes['point']} tracked points at each layer "
        "against: the pairwise theory from the initial state (the layer's median fitted rates), the "
        "exponential weighing and the N-point extension (rich limit, from inputs and targets), and the "
        "baselines initial (the layer's distances before training) and inputs. Spearman (Pearson)."
    )))
    methods = [str(m) for m in ds["structure"].values]
    rows = [[layer, *(f"{_fmt(ds['rdm_spearman'].sel(layer=layer, structure=m))} "
                      f"({_fmt(ds['rdm_pearson'].sel(layer=layer, structure=m))})" for m in methods)]
            for layer in layers]  # fmt: skip
    blocks.append(Table(["layer", *methods], rows))
    blocks.append(Image("structure.png", FIGURES["structure.png"][1]))
    blocks.append(("h2", "Pairs not fitted"))
    states, counts = np.unique(ds["fit_state"].values, return_counts=True)
    blocks.append(("p", "; ".join(f"{s}: {c} (pair, layer)" for s, c in zip(states, counts, strict=True))))
    blocks.append(("h2", "Files"))
    for name, text in summary["files"].items():
        blocks.append(("li", f"{name}: {text}"))
    return blocks


def _layer_sentence(ds: Any, layer: str) -> str:
    f = ds.sel(layer=layer)
    rho = f["final_spearman"].sel(stratum="all")
    err = f["final_median_rel_error"].sel(stratum="all")
    return (
        f"{layer}: good fits for {_pct(f['fit_good_fraction'].sel(stratum='different'))} of different-target "
        f"and {_pct(f['fit_good_fraction'].sel(stratum='same'))} of same-target pairs; final distances "
        f"predicted with Spearman {_fmt(rho.sel(predictor='cross_validated'))} (h0 baseline "
        f"{_fmt(rho.sel(predictor='h0_baseline'))}), median relative error "
        f"{_fmt(err.sel(predictor='cross_validated'))} (h0 {_fmt(err.sel(predictor='h0_baseline'))}); "
        f"structure: pairwise theory {_fmt(f['rdm_spearman'].sel(structure='pairwise'))}, initial distances "
        f"{_fmt(f['rdm_spearman'].sel(structure='initial'))}."
    )


def to_markdown(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if lines and lines[-1].startswith("- ") and not (isinstance(block, tuple) and block[0] == "li"):
            lines.append("")
        if isinstance(block, Table):
            lines += ["| " + " | ".join(block.header) + " |", "|" + "---|" * len(block.header)]
            lines += ["| " + " | ".join(row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, Image):
            lines += [f"![{block.caption}]({block.path})", ""]
        else:
            kind, text = block
            prefix = {"h1": "# ", "h2": "## ", "li": "- ", "p": ""}[kind]
            lines.append(prefix + text)
            if kind != "li":
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def to_html(blocks: Sequence[Block], directory: Path) -> str:
    """The report as one self-contained HTML page: the figures (PNG files in ``directory``) are embedded.

    Embedded as base64 data URIs, so the page keeps its figures when it is
    moved, mailed or opened from another directory.
    """
    body: list[str] = []
    in_list = False
    for block in blocks:
        is_item = isinstance(block, tuple) and block[0] == "li"
        if in_list and not is_item:
            body.append("</ul>")
            in_list = False
        if isinstance(block, Table):
            head = "".join(f"<th>{html.escape(h)}</th>" for h in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Image):
            body.append(f'<figure><img src="{png_data_uri(directory / block.path)}" alt="{html.escape(block.caption)}">'
                        f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
        else:
            kind, text = block
            if kind == "li":
                if not in_list:
                    body.append("<ul>")
                    in_list = True
                body.append(f"<li>{html.escape(text)}</li>")
            else:
                body.append(f"<{kind}>{html.escape(text)}</{kind}>")
    if in_list:
        body.append("</ul>")
    style = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse;font-size:0.85em;margin:1em 0}"
             "th,td{border:1px solid #bbb;padding:0.2em 0.5em;text-align:right}"
             "th:first-child,td:first-child{text-align:left}img{max-width:100%}")
    title = next((b[1] for b in blocks if isinstance(b, tuple) and b[0] == "h1"), "repdyn atlas")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
