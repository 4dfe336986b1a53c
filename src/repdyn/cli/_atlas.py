"""``repdyn atlas``: where the theory holds in a network, for many pairs at every layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repdyn.cli import _errors as check
from repdyn.cli._options import CacheOption, DeviceOption

#: Bytes per value planned for, relative to the result's arrays: the host
#: copy made while recording, the result, and the store's compressed-free npz
#: written from it.
MEMORY_COPIES = 3


def atlas(
    model: Annotated[str | None, typer.Option(
        help="A network of the paper by name (e.g. mnist, 'blobs low', 'blobs high', 'xor low'), cnn (a small "
             "CNN for MNIST), or FILE.py:FACTORY (FACTORY(in_dim=, out_dim=, seed=[, gain=]) returns a "
             "torch.nn.Module). Default: the paper's network for the data set.")] = None,
    dataset: Annotated[str, typer.Option(
        help="mnist (the bundled 5,000 images, or $REPDYN_MNIST_DIR), blobs (the context task), xor, or a .npz "
             "file with arrays x, y (labels optional).")] = "mnist",
    pairs: Annotated[int, typer.Option(
        help="Pairs to track, half with the same target, half with different targets.")] = 200,
    layers: Annotated[str, typer.Option(
        help="all (the model's hidden layers) or submodule names separated by commas.")] = "all",
    gain: Annotated[float | None, typer.Option(help="Initial weight gain (default: the model's).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the model's).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default: the model's).")] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Minibatch size (default: 32; xor: full batch).")] = None,
    full_batch: Annotated[bool, typer.Option("--full-batch", help="Train full batch.")] = False,
    optimizer: Annotated[str, typer.Option(help="sgd or adam.")] = "sgd",
    record_every: Annotated[int, typer.Option(help="Epochs between records of the tracked pairs.")] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Initial weights, minibatch order, the draw of pairs.")] = 0,
    device: DeviceOption = "cpu",
    out: Annotated[Path, typer.Option(help="Output directory.")] = Path("results/atlas"),
    cache: CacheOption = None,
) -> None:
    """Train a network while tracking many pairs at every layer; report where the theory holds."""
    from repdyn.atlas import AtlasInputError, plan_atlas, run_atlas
    from repdyn.sweep import TrialError
    from repdyn.track import PairsTracking

    check.output_dir("--out", out)
    check.output_dir("--cache", cache)
    if full_batch and batch_size is not None:
        check.fail("give either --batch-size or --full-batch, not both")
    try:
        config = plan_atlas(model, dataset, pairs=pairs, layers=layers, gain=gain, lr=lr, epochs=epochs,
                            batch_size="full" if full_batch else batch_size, optimizer=optimizer,
                            record_every=record_every, seed=seed, device=device)  # fmt: skip
    except AtlasInputError as exc:
        check.fail(f"--{exc.parameter.replace('_', '-')}: {exc}")
    n_pairs = config.pairs if isinstance(config.pairs, int) else len(config.pairs)
    check.memory(
        MEMORY_COPIES * PairsTracking.estimate_bytes(n_pairs, len(config.layers), config.n_records),
        f"tracking {n_pairs} pairs (--pairs) at {len(config.layers)} layers (--layers) over "
        f"{config.n_records} records (--epochs, --record-every)",
        "lower --pairs or --epochs, or raise --record-every",
    )
    store = cache or out / "cache"
    with check.write_errors({"--cache": store, "--out": out}):
        try:
            result = run_atlas(config, out=out, cache=store)
        except TrialError as exc:
            typer.echo(f"Error: the atlas run failed; its error is kept in the result store {store}, and a "
                       f"rerun tries again:\n{exc}", err=True)
            raise typer.Exit(check.EXIT_FAILED) from None
    typer.echo(_table(result.dataset))
    typer.echo(f"training {result.summary['status']}, final loss {result.summary['final_loss']:.4g}; "
               f"wrote {out / 'report.html'}, {out / 'report.md'}, {out / 'atlas.nc'} and 4 figures")


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
    rows = [list(PRINTED_COLUMNS)]
    rows += [[cell(row[c]) for c in PRINTED_COLUMNS.values()] for _, row in table.iterrows()]
    widths = [max(len(r[i]) for r in rows) for i in range(len(PRINTED_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)
