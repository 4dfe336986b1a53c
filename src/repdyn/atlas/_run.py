"""``atlas(...)``: one atlas run from arguments to the files of its report."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repdyn.atlas._config import (
    DEFAULT_PAIRS,
    AtlasConfig,
    estimate_atlas,
    plan_atlas,
    require_fits_in_memory,
)

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

    @property
    def problems(self) -> list[str]:
        """What failed, in words: the training diverged, or no (pair, layer) could be fitted. Empty if none.

        The command line exits with status 1 when this is not empty (the
        results are written all the same).
        """
        return list(self.summary.get("problems", []))


def atlas(
    model: str | Callable[..., Any] | Any = None,
    data: str | os.PathLike[str] | tuple[Any, ...] | Any = "mnist",
    *,
    labels: Any = None,
    input_distance: str | Callable[..., Any] | Any = None,
    pairs: int | Sequence[Sequence[int]] = DEFAULT_PAIRS,
    layers: str | Sequence[str] = "all",
    gain: float | None = None,
    lr: float | None = None,
    epochs: int | None = None,
    batch_size: int | str | None = None,
    optimizer: str | None = None,
    record_every: int = 1,
    seed: int = 0,
    device: str = "cpu",
    kernel_every: int | None = None,
    loss: str | None = None,
    out: str | os.PathLike[str] = DEFAULT_OUT,
    cache: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> AtlasResult:
    """Where does the effective theory describe a network's representation dynamics?

    Trains the model on the data set while tracking ``pairs`` pairs of its
    points at ``layers`` (:func:`repdyn.track.track_pairs`), fits the theory to
    every (pair, layer) on the records' optimisation steps (the theory's time,
    so the rates are per optimisation step), predicts every pair's final
    distance from rates fitted on the other pairs, compares the tracked
    points' final distance matrix with the theory's predictions, and writes
    ``atlas.nc``, four figures, ``report.md``, ``report.html`` and
    ``summary.json`` to ``out``. Training and analysis are cached in the
    result store ``cache``: a rerun reads them back, and a run stopped during
    the analysis does not train again.

    Parameters
    ----------
    model : str, callable or ModelSource, optional
        A registered architecture (``repdyn.nets.ARCHITECTURES``: the paper's
        networks, e.g. ``"mnist"``, ``"blobs low"``), ``"cnn"`` (a small
        convolutional network, :class:`repdyn.nets.SmallCNN`),
        ``"FILE.py:FACTORY"``, or a Python callable: a function or
        ``nn.Module`` class called with those of ``input_shape`` (one input's
        shape, e.g. ``(1, 28, 28)``), ``in_dim``, ``out_dim``, ``seed`` and
        ``gain`` it names, returning a ``torch.nn.Module``
        (:func:`repdyn.runs.model_source`). Default: the paper's network for
        the data set (mnist: ``"mnist"``, blobs: ``"blobs low"``, xor:
        ``"xor low"``, other data: ``"mnist"``'s shape).
    data : str, path, tuple of arrays or PointSet, default "mnist"
        ``"mnist"`` (the bundled 5,000 images, or the user's IDX files through
        ``$REPDYN_MNIST_DIR``), ``"blobs"`` (the context task), ``"xor"``, an
        ``.npz`` file with arrays ``x``, ``y`` and optionally ``labels``,
        arrays ``(x, y)`` or ``(x, y, labels)``, or a
        :class:`repdyn.data.PointSet`. ``x`` keeps its shape (images
        ``(N, C, H, W)``) and integer token ids stay int64; ``y`` of class
        labels (strings) becomes one-hot targets (:func:`repdyn.runs.data_source`).
    labels : array_like, optional
        Labels of arrays ``(x, y)`` (integers or strings, mapped to integers
        in sorted order).
    input_distance : str, nn.Module, callable or array_like, optional
        How each pair's squared input distance ``dx2`` is measured (the
        theory's input term): default the inputs' squared Euclidean distance;
        ``"one_hot"`` for token ids; the name of the model's embedding
        submodule (its outputs at the initial weights); a module; a function
        ``f(first, second)``; an ``(N, N)`` matrix
        (:func:`repdyn.runs.input_distance_source`). Integer inputs need one.
    pairs : int or sequence of (int, int), default 200
        Pairs to draw, half with the same target and half with different
        targets (capped at the number of distinct pairs), or the pairs.
    layers : str or sequence of str, default "all"
        ``"all"`` (the model's ``hidden_layer_names``), names separated by
        commas, or a sequence of submodule names.
    gain : float, optional
        Initial weight gain; default the model's (a factory must take ``gain``).
    lr, epochs, batch_size, optimizer : optional
        Training (:class:`repdyn.runs.Training`): default the model's (the
        architecture's Table row; the CNN: lr 0.01; a user's model: ``lr``
        must be given), 100 epochs for a model without its own, minibatches of
        32 (``"full"``: full batch; a data set of at most 32 points trains full
        batch), SGD. Adam without ``lr`` takes the architecture's documented
        Adam rate, never its SGD rate.
    record_every : int, default 1
        Epochs between records of the tracked pairs.
    seed : int, default 0
        Initial weights, minibatch order and the draw of pairs.
    device : {"cpu", "cuda"}
    kernel_every : int, optional
        Also measure every pair's rates from the network's tangent kernels at
        records ``0, k, 2k, ...`` (:func:`repdyn.track.track_pairs`) and add
        the zero-fit predictor ``kernel_init`` (``h_inf`` from the rates at the
        first record, no fit) beside the cross-validated one, and the zero-fit
        trajectories' R^2 (docs/atlas.md, "Kernel rates").
    loss : {"half_sum", "half_mse", "mse"}, optional
        The loss reduction of the steps (:class:`repdyn.runs.Training`);
        default the authors' convention for ``"mnist"``, ``"blobs"`` and
        ``"xor"`` (:func:`repdyn.runs.reference_loss`), the theory's
        ``"half_sum"`` for other data. Recorded losses are the theory's; the
        fitted rates are per step of the run as trained (docs/theory.md,
        "Loss conventions").
    out : path, default "results/atlas"
    cache : path, optional
        The result store; default ``out/cache``.
    progress : bool, optional
        Progress bars on a terminal and one status line per step elsewhere;
        default: on when stderr is a terminal or a log (False: silent).

    Returns
    -------
    AtlasResult
        Its ``problems`` say whether the training diverged or nothing could be fitted.

    Raises
    ------
    repdyn.checks.BadArgument
        (a ValueError or TypeError) on bad input, before anything trains;
        ``parameter`` names the argument. Also when the run would not fit in
        this machine's memory.
    repdyn.sweep.TrialError
        If training or analysis raised (the record is kept in the store).
    """
    config = plan_atlas(model, data, labels=labels, input_distance=input_distance, pairs=pairs, layers=layers,
                        gain=gain, lr=lr, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                        record_every=record_every, seed=seed, device=device, kernel_every=kernel_every,
                        loss=loss)  # fmt: skip
    return run_atlas(config, out=out, cache=cache, progress=progress)


def run_atlas(
    config: AtlasConfig,
    *,
    out: str | os.PathLike[str] = DEFAULT_OUT,
    cache: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
) -> AtlasResult:
    """Run the atlas of a checked config (from :func:`plan_atlas`) and write its files; see :func:`atlas`."""
    from repdyn.atlas._dataset import atlas_dataset, write_dataset
    from repdyn.atlas._report import FIGURES, draw_figures, report_blocks, to_html, to_markdown
    from repdyn.atlas._trials import AnalysisConfig, atlas_analysis, atlas_training, remember_training
    from repdyn.runs import Execution, retire_index, write_json, write_text
    from repdyn.sweep import cache_key, run_sweep

    execution = Execution(out=out, cache=cache, executor="local", progress=progress)
    report = Steps(progress)
    estimate = estimate_atlas(config)
    require_fits_in_memory(config, estimate)
    if estimate.large:
        report.say(f"atlas: {config.n_pairs} pairs at {len(config.layers)} layers, {config.n_records} records: "
                   f"{estimate.describe()}")
    report.step(f"training {config.model.label} on {config.data.label} ({config.training.describe()}), tracking "
                f"{config.n_pairs} pairs at {len(config.layers)} layers")
    [training] = run_sweep(atlas_training, [config], store=execution.cache, executor="local", errors="raise",
                           progress=False)  # fmt: skip
    remember_training(cache_key(atlas_training, config), training)
    report.step(f"fitting the theory to {config.n_pairs} x {len(config.layers)} (pair, layer) trajectories")
    [analysis] = run_sweep(atlas_analysis, [AnalysisConfig(run=config)], store=execution.cache, executor="local",
                           errors="raise", progress=False)  # fmt: skip
    report.step(f"writing atlas.nc, the figures and the report to {execution.out}")
    ds = atlas_dataset(config, training, analysis)
    execution.out.mkdir(parents=True, exist_ok=True)
    files = {name: execution.out / name for name in (*FIGURES, *FILES)}
    descriptions = {**{name: f"figure: {text}" for name, (_, text) in FIGURES.items()}, **FILES}
    summary = _summary(config, ds, descriptions)
    retire_index(files["summary.json"])
    write_dataset(ds, files["atlas.nc"])
    draw_figures(ds, execution.out)
    blocks = report_blocks(ds, summary)
    write_text(files["report.md"], to_markdown(blocks))
    write_text(files["report.html"], to_html(blocks, execution.out))
    write_json(files["summary.json"], summary)
    report.done()
    return AtlasResult(config=config, dataset=ds, summary=summary, files=files)


class Steps:
    """Say which step of a run starts: one status line per step on stderr (a bar of its own shows on a terminal).

    ``progress=False`` says nothing; None and True say it.
    """

    def __init__(self, progress: bool | None) -> None:
        self._on = progress is not False
        self._start = time.perf_counter()
        self._count = 0

    def say(self, text: str) -> None:
        if self._on:
            print(text, file=sys.stderr, flush=True)

    def step(self, text: str) -> None:
        self._count += 1
        self.say(f"atlas [{self._count}] {text} ({time.perf_counter() - self._start:.0f} s so far)")

    def done(self) -> None:
        self.say(f"atlas: done in {time.perf_counter() - self._start:.0f} s")


def _summary(config: AtlasConfig, ds: Any, files: dict[str, str]) -> dict[str, Any]:
    """Settings and the per-layer numbers: what ``summary.json`` holds and the report quotes."""
    from repdyn.sweep import canonical_value

    model = config.model.label
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
    training = config.training
    batch = "full batch" if training.full_batch else f"minibatches of {training.batch_size}"
    gain = config.model.defaults.gain
    return {
        "model": model if gain is None else f"{model} (gain {gain:g})",
        "data": ds.attrs["data"],
        "input_distance": ds.attrs["input_distance"],
        "epochs": training.epochs,
        "steps_per_epoch": config.steps_per_epoch,
        "training": f"{training.optimizer} at lr {training.lr:g}, {batch}",
        "rate_units": ds.attrs["rate_units"],
        "config": canonical_value(config),
        "status": ds.attrs["status"],
        "final_loss": ds.attrs["final_loss"],
        "training_seconds": ds.attrs["training_seconds"],
        "pairs": int(ds.sizes["pair"]),
        "problems": problems(ds),
        "layers": layers,
        "files": files,
    }


def problems(ds: Any) -> list[str]:
    """What makes a finished atlas run a failed one: its training diverged, or the theory fits nowhere."""
    found = []
    if ds.attrs["status"] == "diverged":
        found.append(f"training diverged at epoch {ds.attrs.get('diverged_epoch', '?')} (final loss "
                     f"{ds.attrs['final_loss']:.4g}); only the {ds.attrs['finite_records']} records before it are "
                     "fitted: lower the learning rate")
    usable = ((ds["fit_state"].values == "fitted") & (ds["fit_success"].values == 1)
              & (ds["quality"].values != "unfit"))  # fmt: skip
    if not usable.any():
        found.append("no (pair, layer) could be fitted: every fit is unfit or masked (see fit_state and quality)")
    return found
