"""``repdyn run ...``: train networks, track them, fit the theory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repdyn.cli import _errors as check
from repdyn.cli._options import (
    CacheOption,
    ClusterOption,
    CoresOption,
    DeviceOption,
    ExecutorOption,
    HostOption,
    JobsOption,
    MemoryOption,
    QueueOption,
    SchedulerOption,
    WalltimeOption,
    WorkersOption,
    check_run_options,
    cluster_scheduler,
    local_host,
    report_unfinished,
)

app = typer.Typer(
    help="Train networks while tracking the theory's variables, and fit the theory.",
    no_args_is_help=True,
)

DEFAULT_OUT = Path("results/two-point")
#: Bytes the driver holds per trial until the run's files are written, beside
#: the running trials: its config (measured: 0.6 kB), its result's scalars,
#: summary record and table row (about 1 kB as JSON, a few kB as Python
#: objects), rounded up; plus its recorded arrays (h, y, w, loss and the four
#: fitted ones, float64) per epoch.
RECORD_BYTES, RECORD_BYTES_PER_EPOCH = 10_000.0, 64.0



@app.command("two-point")
@check.checked({"arch": "--model", "model": "--model", "kind": "--model", "kernel_every": "--kernel-every"})
def two_point(
    model: Annotated[
        str, typer.Option(
            "--model", "--arch",
            help="The model: an architecture name (Table 1 or 2 of the paper), cnn, or FILE.py:FACTORY (a "
                 "function or nn.Module class in your file, called with those of input_shape, in_dim, out_dim, "
                 "seed and gain it names, that returns a torch.nn.Module; give --lr then).",
        ),
    ] = "default",
    epochs: Annotated[
        int | None, typer.Option(help="Training epochs (default: the architecture's; 6000 for your model).")
    ] = None,
    trials: Annotated[
        int, typer.Option(help="Independent trials (seeds seed, seed+1, ...).")
    ] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the first trial.")] = 0,
    units: Annotated[
        int | None, typer.Option(help="Hidden width (an architecture only; default: its own).")
    ] = None,
    hidden_layers: Annotated[
        int | None, typer.Option(help="Hidden layers (an architecture only; default: its own).")
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            help="Tracked layer: a hidden layer number counted from 1, or a submodule name "
            "(default: hidden layer L // 2 + 1, the authors' choice; your model's tracked_layer)."
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(help="Learning rate (default: the architecture's for the chosen optimizer)."),
    ] = None,
    gain: Annotated[
        float | None, typer.Option(help="Xavier-normal gain (default: the model's).")
    ] = None,
    optimizer: Annotated[
        str | None,
        typer.Option(
            help="sgd or adam (default: the model's). adam without --lr takes the "
            "architecture's documented Adam rate, never its SGD rate."
        ),
    ] = None,
    kernel_rates: Annotated[
        bool,
        typer.Option(
            "--kernel-rates",
            help="Also measure eta_h and eta_y from the network's tangent kernels and run the theory with them "
                 "and no fit (docs/kernel-rates.md); trains with autograd.",
        ),
    ] = False,
    kernel_every: Annotated[
        int | None,
        typer.Option(help="Epochs between kernel records (implies --kernel-rates; default 25)."),
    ] = None,
    loss: Annotated[
        str | None,
        typer.Option(
            help="Loss reduction of the steps: half_mse (0.5 * F.mse_loss, the authors' two-point code; the "
            "default), mse (nn.MSELoss()) or half_sum (the theory's 1/2 mean_i ||e_i||^2). Fitted rates are "
            "per epoch in this convention (docs/theory.md, Loss conventions)."
        ),
    ] = None,
    dx2: Annotated[float, typer.Option(help="Squared input distance of the two points.")] = 1.0,
    dy2: Annotated[float, typer.Option(help="Squared target distance of the two points.")] = 0.5,
    device: DeviceOption = "cpu",
    executor: ExecutorOption = "process",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    cluster: ClusterOption = None,
    host: HostOption = None,
    cores: CoresOption = None,
    memory: MemoryOption = None,
    walltime: WalltimeOption = None,
    queue: QueueOption = None,
    jobs: JobsOption = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = DEFAULT_OUT,
    cache: CacheOption = None,
) -> None:
    """Train a model on two points, track h, y, w at one hidden layer and fit the theory.

    Reported beside the theory's h_inf: the "no change" baseline h0 and the
    rich limit A_low.
    """
    from repdyn import checks
    from repdyn.runs import (
        Execution,
        Training,
        TwoPointConfig,
        check_forward,
        estimate_trial_bytes,
        estimate_trial_seconds,
        model_source,
        run_two_point,
    )
    from repdyn.sweep import default_workers

    checks.integer("trials", trials, minimum=1)
    checks.integer("kernel_every", kernel_every, minimum=1, allow_none=True,
                   fix="give the epochs between kernel records, such as 25")
    if kernel_rates and kernel_every is None:
        from repdyn.track import KERNEL_EVERY

        kernel_every = KERNEL_EVERY
    checks.seed("seed", seed, count=trials)
    scheduler = cluster_scheduler(executor, workers, scheduler, cluster, host, cores=cores, memory=memory,
                                  walltime=walltime, queue=queue, jobs=jobs)
    check_run_options(executor, workers, scheduler, out, cache)
    source = model_source(model, gain=gain)
    shape = {k: v for k, v in (("units", units), ("hidden_layers", hidden_layers)) if v is not None}
    if shape:
        if source.kind != "architecture":
            names = ", ".join(f"--{k.replace('_', '-')}" for k in shape)
            check.fail(f"{names} change(s) one of the paper's architectures; {source.label} is your own model: "
                       "change it in its factory")
        for key, value in shape.items():
            checks.integer(key, value, minimum=1)
        source = model_source(source.spec.replace(**shape))
    training = Training(optimizer=optimizer, lr=lr, epochs=epochs, loss=loss)

    def config(i: int) -> TwoPointConfig:
        return TwoPointConfig(arch=source, seed=seed + i, dx2=dx2, dy2=dy2, layer=layer, device=device,
                              training=training, kernel_every=kernel_every)

    first = config(0)
    from repdyn.data import two_point as points

    x = points(dx2=dx2, dy2=dy2, in_dim=first.in_dim, out_dim=first.out_dim).x
    check_forward(first.arch.probe((first.in_dim,), first.out_dim) if source.kind != "architecture" else
                  _architecture_probe(first), x, first.out_dim, source.label)
    parallel = 1 if executor == "local" else min(trials, workers or default_workers())
    size = (f"{first.arch.hidden_layers} hidden layers of {first.arch.units} units (--hidden-layers, --units)"
            if source.kind == "architecture" else source.label)
    lower = "lower --epochs" + (" or --units" if source.kind == "architecture" else "")
    check.memory(
        parallel * estimate_trial_bytes(first)
        + trials * (RECORD_BYTES + RECORD_BYTES_PER_EPOCH * (first.trained_with.epochs + 1)),
        f"{trials} trial(s) (--trials) of {first.trained_with.epochs} epochs (--epochs) of {size}"
        + (f", {parallel} at once" if parallel > 1 else ""),
        lower + (" or --workers" if parallel > 1 else "") + " or --trials",
    )
    check.wait(trials * estimate_trial_seconds(first) / parallel,
               f"{trials} trial(s) (--trials) of {first.trained_with.epochs} epochs (--epochs) of {size} on "
               f"{parallel} worker(s)", lower + " or --trials, or spread the trials over a cluster (--cluster)",
               option="--trials")
    configs = [first, *(config(i) for i in range(1, trials))]
    options = Execution(out=out, cache=cache, executor=executor, workers=workers, scheduler=scheduler,
                        device=device, host=local_host(host, cluster))  # fmt: skip

    with check.write_errors({"--cache": options.cache, "--out": out}):
        output = run_two_point(configs, options)
    summary = output.summary
    records = summary["trials"]
    rows = [
        {
            **r,
            "r2_h": r.get("r2", {}).get("h"),
            "r2_y": r.get("r2", {}).get("y"),
            "r2_w": r.get("r2", {}).get("w"),
            **{f"r2_zero_{v}": r.get("r2_zero", {}).get(v) for v in "hyw"},
        }
        for r in records
    ]
    typer.echo(
        _table(
            rows,
            [
                "seed",
                "status",
                "eta_h",
                "eta_y",
                "r2_h",
                "r2_y",
                "r2_w",
                "quality",
                "h0",
                "h_final",
                "h_inf",
                "a_low",
                *(["r2_zero_h", "r2_zero_y", "r2_zero_w", "h_inf_kernel"] if kernel_every else []),
                "seconds",
            ],
        )
    )
    typer.echo(f"wrote {out / 'summary.json'} and {len(summary['files'])} files")
    fitted = [r for r in records if r.get("quality") is not None]
    poor = sum(r["quality"] != "good" for r in fitted)
    if poor:
        from repdyn.theory import POOR_R2

        typer.echo(
            f"warning: the theory's fit is poor or unfit (an R^2 of h, y or w below {POOR_R2:g}) for "
            f"{poor} of {len(fitted)} trials: their rates do not describe the run (column quality)",
            err=True,
        )
    report_unfinished(summary["counts"], out / "summary.json")
    diverged = [r["seed"] for r in records if r.get("status") == "diverged"]
    failed = [r["seed"] for r in fitted if r["quality"] == "unfit" or r.get("fit_success") is False]
    if diverged or failed:
        parts = ([f"{len(diverged)} of {len(records)} trials diverged (seeds {diverged}; lower --lr)"] if diverged
                 else []) + ([f"the fit of {len(failed)} of {len(fitted)} trials (seeds {failed}) is unfit or did "
                              "not converge"] if failed else [])
        typer.echo(f"Error: {'; '.join(parts)}; the results are kept in {out}", err=True)
        raise typer.Exit(check.EXIT_FAILED)


def _architecture_probe(config: object) -> object:
    """The trial's architecture built once with seed 0, to run it on the two points before training."""
    from repdyn.nets import build_network

    return build_network(config.arch, config.in_dim, config.out_dim, seed=0)  # type: ignore[attr-defined]


def _table(rows: list[dict], columns: list[str]) -> str:
    """A plain fixed-width text table (numbers to 4 significant digits)."""
    import math

    def cell(v: object) -> str:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return "" if v is None else str(v)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
