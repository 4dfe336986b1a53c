"""``repdyn atlas``: where the theory holds in a network, for many pairs at every layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repdyn.cli import _errors as check
from repdyn.cli._options import CacheOption, DeviceOption

#: Options whose names are not ``--`` plus the parameter's.
OPTION_NAMES = {"data": "--dataset", "labels": "--dataset"}


@check.checked(OPTION_NAMES)
def atlas(
    model: Annotated[str | None, typer.Option(
        help="A network of the paper by name (e.g. mnist, 'blobs low', 'blobs high', 'xor low'), cnn (a small "
             "CNN), or FILE.py:FACTORY (a function or nn.Module class in your file, called with those of "
             "input_shape, the shape of one input, in_dim, out_dim, seed and gain it names, that returns a "
             "torch.nn.Module). Default: the paper's network for the data set.")] = None,
    data: Annotated[str, typer.Option(
        "--dataset", "--data",
        help="mnist (the bundled 5,000 images, or $REPDYN_MNIST_DIR), blobs (the context task), xor, or a .npz "
             "file with arrays x (any shape per point; integer token ids stay integers), y (targets, or class "
             "labels as strings) and labels (optional).")] = "mnist",
    input_distance: Annotated[str | None, typer.Option(
        help="How a pair's squared input distance dx2 is measured: euclidean (the default), one_hot (token "
             "ids), the name of the model's embedding submodule (its outputs at the initial weights), or a "
             ".npy file with an (N, N) matrix of squared distances. Integer inputs need one.")] = None,
    pairs: Annotated[int, typer.Option(
        help="Pairs to track, half with the same target, half with different targets.")] = 200,
    layers: Annotated[str, typer.Option(
        help="all (the model's hidden layers) or submodule names separated by commas.")] = "all",
    gain: Annotated[float | None, typer.Option(help="Initial weight gain (default: the model's).")] = None,
    lr: Annotated[float | None, typer.Option(
        help="Learning rate (default: the model's; adam without --lr takes the architecture's documented Adam "
             "rate).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: the model's, else 100).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Minibatch size (default: 32; data sets of at most 32 points: full batch).")] = None,
    full_batch: Annotated[bool, typer.Option("--full-batch", help="Train full batch.")] = False,
    optimizer: Annotated[str | None, typer.Option(help="sgd or adam (default: the model's).")] = None,
    loss: Annotated[str | None, typer.Option(
        help="Loss reduction of the steps: half_sum (the theory's 1/2 mean_i ||e_i||^2), half_mse "
             "(0.5 * F.mse_loss) or mse (nn.MSELoss()); default: the authors' for mnist, blobs and xor, "
             "half_sum for other data. Recorded losses are the theory's.")] = None,
    record_every: Annotated[int, typer.Option(help="Epochs between records of the tracked pairs.")] = 1,
    seed: Annotated[int, typer.Option(help="Initial weights, minibatch order, the draw of pairs.")] = 0,
    kernel_rates: Annotated[bool, typer.Option(
        "--kernel-rates", help="Also measure every pair's rates from the tangent kernels and predict its final "
                               "distance from them with no fit (column kernel_init).")] = False,
    kernel_every: Annotated[int | None, typer.Option(
        help="Records between kernel records (implies --kernel-rates; default 25).")] = None,
    device: DeviceOption = "cpu",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("results/atlas"),
    cache: CacheOption = None,
) -> None:
    """Train a network while tracking many pairs at every layer; report where the theory holds.

    Rates are fitted on optimisation steps (the theory's time) and written in
    1 / optimisation step. Exits 1 (its results written) when the training
    diverged or the theory could be fitted to no (pair, layer).
    """
    from repdyn.atlas import plan_atlas, run_atlas
    from repdyn.runs import Execution
    from repdyn.sweep import TrialError

    check.output_dir("--out", out)
    check.output_dir("--cache", cache)
    if full_batch and batch_size is not None:
        check.fail("give either --batch-size or --full-batch, not both")
    if kernel_rates and kernel_every is None:
        from repdyn.track import KERNEL_EVERY

        kernel_every = KERNEL_EVERY
    config = plan_atlas(model, data, input_distance=_input_distance(input_distance), pairs=pairs, layers=layers,
                        gain=gain, lr=lr, epochs=epochs, batch_size="full" if full_batch else batch_size,
                        optimizer=optimizer, record_every=record_every, seed=seed, device=device,
                        kernel_every=kernel_every, loss=loss)  # fmt: skip
    store = Execution(out=out, cache=cache).cache
    with check.write_errors({"--cache": store, "--out": out}):
        try:
            result = run_atlas(config, out=out, cache=cache)
        except TrialError as exc:
            # The trial's traceback stays in the store; its last line says what went wrong.
            cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            typer.echo(f"Error: the atlas run failed: {cause}. The full error text is kept in the result store "
                       f"{store}, and a rerun tries again", err=True)
            raise typer.Exit(check.EXIT_FAILED) from None
    typer.echo(_table(result.dataset))
    typer.echo(f"rates in {result.summary['rate_units']} ({result.summary['steps_per_epoch']} per epoch); training "
               f"{result.summary['status']}, final loss {result.summary['final_loss']:.4g}; wrote "
               f"{out / 'report.html'}, {out / 'report.md'}, {out / 'atlas.nc'} and 4 figures")
    if result.problems:
        for problem in result.problems:
            typer.echo(f"Error: {problem}", err=True)
        typer.echo(f"the results are kept in {out}", err=True)
        raise typer.Exit(check.EXIT_FAILED)


def _input_distance(value: str | None) -> object:
    """``--input-distance``: a name as given, or the matrix of a ``.npy`` file."""
    if value is None or not value.endswith(".npy"):
        return value
    import numpy as np

    path = Path(value)
    if not path.is_file():
        check.fail(f"--input-distance {path} does not exist; give a .npy file of an (N, N) matrix, or one_hot, or "
                   "a submodule name")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        check.fail(f"--input-distance {path} is not a readable .npy array ({type(exc).__name__}); write it with "
                   "np.save(path, matrix)")


#: The columns printed per layer: header, and its column of the atlas's table
#: ``"layers"`` (``repdyn.load_run(OUT).table("layers")`` holds each).
PRINTED_COLUMNS = {
    "layer": "layer",
    "good same": "fit_good_fraction_same",
    "good diff": "fit_good_fraction_different",
    "rho theory": "final_spearman_cross_validated_all",
    "rho h0": "final_spearman_h0_baseline_all",
    "err theory": "final_median_rel_error_cross_validated_all",
    "err h0": "final_median_rel_error_h0_baseline_all",
    "rdm pairwise": "rdm_spearman_pairwise",
}


#: The columns added with ``--kernel-rates``: the zero-fit predictor and the zero-fit trajectories.
KERNEL_COLUMNS = {
    "rho kernel": "final_spearman_kernel_init_all",
    "err kernel": "final_median_rel_error_kernel_init_all",
    "r2 zero fit": "zero_fit_median_r2_worst_all",
}


def _table(ds: object) -> str:
    """One line per layer: good-fit shares, final-distance Spearman and errors (theory, h0), structure."""
    import math

    from repdyn.atlas import TABLES
    from repdyn.sweep import dataset_table

    def cell(value: object) -> str:
        if isinstance(value, str):
            return value
        v = float(value)  # type: ignore[arg-type]
        return "n/a" if not math.isfinite(v) else f"{v:.3g}"

    table = dataset_table(ds, **TABLES["layers"])
    columns = dict(PRINTED_COLUMNS)
    if "kernel_init" in ds["predictor"].values:
        columns.update(KERNEL_COLUMNS)
    rows = [list(columns)]
    rows += [[cell(row[c]) for c in columns.values()] for _, row in table.iterrows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
