"""``atlas(...)``: one atlas run from arguments to the files of its report."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repdyn.atlas._config import AtlasConfig, plan_atlas

#: Default output directory of :func:`atlas`.
DEFAULT_OUT = Path("results/atlas")

#: What each file of a run holds (written into ``summary.json`` and the report).
FILES = {
    "atlas.nc": "every number of the atlas: tracked h, y, w per (pair, layer, epoch), fits, predictions, scores "
                "(netCDF4, self-describing: xarray.open_dataset)",
    "report.md": "the report (markdown)",
    "report.html": "the report (HTML, the figures embedded: one file that can be moved alone)",
    "summary.json": "the settings and the per-layer numbers of the report",
}


@dataclass(frozen=True, eq=False)
class AtlasResult:
    """One atlas run: its config, its Dataset, the per-layer summary and the files written.

    Attributes
    ----------
    config : AtlasConfig
    dataset : xarray.Dataset
        What ``atlas.nc`` holds (see :mod:`repdyn.atlas`).
    summary : dict
        What ``summary.json`` holds.
    files : dict of str to Path
        Every file written, by name.
    """

    config: AtlasConfig
    dataset: Any
    summary: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)


def atlas(
    model: str | None = None,
    dataset: str = "mnist",
    *,
    out: str | os.PathLike[str] = DEFAULT_OUT,
    cache: str | os.PathLike[str] | None = None,
    **settings: Any,
) -> AtlasResult:
    """Where does the effective theory describe a network's representation dynamics?

    Trains the model on the data set while tracking ``pairs`` pairs of its
    points at ``layers`` (:func:`repdyn.track.track_pairs`), fits the theory to
    every (pair, layer) in one batched :func:`repdyn.theory.fit`, predicts
    every pair's final distance from rates fitted on the other pairs, compares
    the tracked points' final distance matrix with the theory's predictions,
    and writes ``atlas.nc``, four figures, ``report.md``, ``report.html`` and
    ``summary.json`` to ``out``. Training and analysis are cached in the
    result store ``cache``: a rerun reads them back, and a run stopped during
    the analysis does not train again.

    Parameters
    ----------
    model : str, optional
        A registered architecture (``repdyn.nets.ARCHITECTURES``: the paper's
        networks, e.g. ``"mnist"``, ``"blobs low"``), ``"cnn"`` (a small
        convolutional network for MNIST, :class:`repdyn.nets.SmallCNN`), or
        ``"FILE.py:FACTORY"``: a function in the user's file called as
        ``FACTORY(in_dim=..., out_dim=..., seed=...)`` (and ``gain=...`` when
        ``gain`` is given) that returns a ``torch.nn.Module``. Default: the
        paper's network for the data set (mnist: ``"mnist"``, blobs:
        ``"blobs low"``, xor: ``"xor low"``, an .npz file: ``"mnist"``).
    dataset : str, default "mnist"
        ``"mnist"`` (the bundled 5,000 images, or the user's IDX files through
        ``$REPDYN_MNIST_DIR``), ``"blobs"`` (the context task), ``"xor"``, or
        an ``.npz`` file with arrays ``x`` (N, ...), ``y`` (N, d) and
        optionally ``labels``.
    pairs : int or sequence of (int, int), default 200
        Pairs to draw, half with the same target and half with different
        targets (capped at the number of distinct pairs), or the pairs.
    layers : str or sequence of str, default "all"
        ``"all"`` (the model's ``hidden_layer_names``), names separated by
        commas, or a sequence of submodule names.
    gain, lr, epochs : optional
        Initial weight gain, learning rate, epochs; default the model's (the
        architecture's Table row; the CNN: gain 1, lr 0.01, 100 epochs; a
        user's model: its factory's gain, 100 epochs, and ``lr`` must be given).
    batch_size : int or "full", optional
        Minibatch size; default 32 (mnist, blobs, .npz) or full batch (xor).
    optimizer : {"sgd", "adam"}
    record_every : int, default 1
        Epochs between records of the tracked pairs.
    seed : int, default 0
        Initial weights, minibatch order and the draw of pairs.
    device : {"cpu", "cuda"}
    out : path, default "results/atlas"
    cache : path, optional
        The result store; default ``out/cache``.
    **settings
        ``pairs``, ``layers``, ``gain``, ``lr``, ``epochs``, ``batch_size``,
        ``optimizer``, ``record_every``, ``seed``, ``device``: the keyword
        parameters of :func:`plan_atlas`, described above.

    Returns
    -------
    AtlasResult

    Raises
    ------
    AtlasInputError
        (a ValueError) on bad input, before anything trains; ``parameter``
        names the argument.
    repdyn.sweep.TrialError
        If training or analysis raised (the record is kept in the store).
    """
    return run_atlas(plan_atlas(model, dataset, **settings), out=out, cache=cache)


def run_atlas(
    config: AtlasConfig,
    *,
    out: str | os.PathLike[str] = DEFAULT_OUT,
    cache: str | os.PathLike[str] | None = None,
) -> AtlasResult:
    """Run the atlas of a checked config (from :func:`plan_atlas`) and write its files; see :func:`atlas`."""
    from repdyn.atlas._dataset import atlas_dataset, write_dataset
    from repdyn.atlas._report import FIGURES, draw_figures, report_blocks, to_html, to_markdown
    from repdyn.atlas._trials import AnalysisConfig, atlas_analysis, atlas_training, remember_training
    from repdyn.sweep import ResultStore, cache_key, run_sweep
    from repdyn.vocabulary import json_ready

    out = Path(out)
    store = ResultStore(Path(cache) if cache is not None else out / "cache")
    [training] = run_sweep(atlas_training, [config], store=store, executor="local", errors="raise")
    remember_training(cache_key(atlas_training, config), training)
    [analysis] = run_sweep(atlas_analysis, [AnalysisConfig(run=config)], store=store, executor="local",
                           errors="raise")  # fmt: skip
    ds = atlas_dataset(config, training, analysis)
    out.mkdir(parents=True, exist_ok=True)
    files = {name: out / name for name in (*FIGURES, *FILES)}
    descriptions = {**{name: f"figure: {text}" for name, (_, text) in FIGURES.items()}, **FILES}
    summary = _summary(config, ds, descriptions)
    write_dataset(ds, files["atlas.nc"])
    draw_figures(ds, out)
    blocks = report_blocks(ds, summary)
    _write_text(files["report.md"], to_markdown(blocks))
    _write_text(files["report.html"], to_html(blocks, out))
    _write_text(files["summary.json"], json.dumps(json_ready(summary), indent=2) + "\n")
    return AtlasResult(config=config, dataset=ds, summary=summary, files=files)


def _summary(config: AtlasConfig, ds: Any, files: dict[str, str]) -> dict[str, Any]:
    """Settings and the per-layer numbers: what ``summary.json`` holds and the report quotes."""
    from repdyn.sweep import canonical_value

    model = config.model.rpartition("/")[2] if ":" in config.model else config.model
    layers = {}
    for layer in (str(v) for v in ds["layer"].values):
        s = ds.sel(layer=layer)
        layers[layer] = {
            "good_fit_fraction": {st: float(s["fit_good_fraction"].sel(stratum=st)) for st in ("same", "different")},
            "median_eta_h": float(s["structure_eta_h"]),
            "median_eta_y": float(s["structure_eta_y"]),
            "final_spearman": {p: float(s["final_spearman"].sel(predictor=p, stratum="all"))
                               for p in ds["predictor"].values},
            "final_median_rel_error": {p: float(s["final_median_rel_error"].sel(predictor=p, stratum="all"))
                                       for p in ds["predictor"].values},
            "rdm_spearman": {m: float(s["rdm_spearman"].sel(structure=m)) for m in ds["structure"].values},
        }  # fmt: skip
    batch = "full batch" if config.batch_size is None else f"minibatches of {config.batch_size}"
    return {
        "model": model if config.gain is None else f"{model} (gain {config.gain:g})",
        "data": ds.attrs["data"],
        "epochs": config.epochs,
        "training": f"{config.optimizer} at lr {config.lr:g}, {batch}",
        "config": canonical_value(config),
        "status": ds.attrs["status"],
        "final_loss": ds.attrs["final_loss"],
        "training_seconds": ds.attrs["training_seconds"],
        "pairs": int(ds.sizes["pair"]),
        "layers": layers,
        "files": files,
    }


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
