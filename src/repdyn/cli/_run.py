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
    JobsOption,
    MemoryOption,
    QueueOption,
    SchedulerOption,
    WalltimeOption,
    WorkersOption,
    check_run_options,
    cluster_scheduler,
    report_unfinished,
)

app = typer.Typer(
    help="Train networks while tracking the theory's variables, and fit the theory.",
    no_args_is_help=True,
)

DEFAULT_OUT = Path("results/two-point")


@app.command("two-point")
def two_point(
    arch: Annotated[
        str, typer.Option(help="Architecture name (Table 1 or 2 of the paper).")
    ] = "default",
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Training epochs (default: the architecture's).")
    ] = None,
    trials: Annotated[
        int, typer.Option(min=1, help="Independent trials (seeds seed, seed+1, ...).")
    ] = 1,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the first trial.")] = 0,
    units: Annotated[
        int | None, typer.Option(min=1, help="Hidden width (default: the architecture's).")
    ] = None,
    hidden_layers: Annotated[
        int | None, typer.Option(min=1, help="Hidden layers (default: the architecture's).")
    ] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            help="Tracked layer: a hidden layer number counted from 1, or a submodule name "
            "(default: hidden layer L // 2 + 1, the authors' choice)."
        ),
    ] = None,
    lr: Annotated[
        float | None,
        typer.Option(help="Learning rate (default: the architecture's for the chosen optimizer)."),
    ] = None,
    gain: Annotated[
        float | None, typer.Option(help="Xavier-normal gain (default: the architecture's).")
    ] = None,
    optimizer: Annotated[
        str | None,
        typer.Option(
            help="sgd or adam (default: the architecture's). adam without --lr takes the "
            "architecture's documented Adam rate, never its SGD rate."
        ),
    ] = None,
    dx2: Annotated[float, typer.Option(help="Squared input distance of the two points.")] = 1.0,
    dy2: Annotated[float, typer.Option(help="Squared target distance of the two points.")] = 0.5,
    device: DeviceOption = "cpu",
    executor: ExecutorOption = "process",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    cluster: ClusterOption = None,
    cores: CoresOption = None,
    memory: MemoryOption = None,
    walltime: WalltimeOption = None,
    queue: QueueOption = None,
    jobs: JobsOption = None,
    out: Annotated[Path, typer.Option(help="Output directory.")] = DEFAULT_OUT,
    cache: CacheOption = None,
) -> None:
    """Train ARCH on two points, track h, y, w at one hidden layer and fit the theory.

    Reported beside the theory's h_inf: the "no change" baseline h0 and the
    rich limit A_low.
    """
    from repdyn.runs import Execution, TwoPointConfig, estimate_trial_bytes, run_two_point
    from repdyn.nets import adam_learning_rate, get_architecture
    from repdyn.sweep import default_workers

    check.number("--dx2", dx2, above=0)
    check.number("--dy2", dy2, at_least=0)
    check.number("--lr", lr, above=0)
    check.number("--gain", gain, above=0)
    if device not in ("cpu", "cuda"):
        check.fail(f"--device must be cpu or cuda; got {device!r}")
    scheduler = cluster_scheduler(executor, workers, scheduler, cluster, cores=cores, memory=memory,
                                  walltime=walltime, queue=queue, jobs=jobs)
    check_run_options(executor, workers, scheduler, out, cache)
    try:
        spec = get_architecture(arch)
    except (ValueError, TypeError, KeyError) as exc:
        check.fail(f"--arch: {exc}")
    changes = {
        k: v
        for k, v in (
            ("epochs", epochs), ("units", units), ("hidden_layers", hidden_layers),
            ("gain", gain), ("optimizer", optimizer), ("lr", lr),
        )
        if v is not None
    }  # fmt: skip
    for key, value in changes.items():
        try:
            spec.replace(**{key: value})
        except (ValueError, TypeError) as exc:
            check.fail(f"--{key.replace('_', '-')}: {exc}")
    spec = spec.replace(**changes)
    if spec.optimizer == "adam" and lr is None and get_architecture(arch).optimizer != "adam":
        try:
            spec = spec.replace(lr=adam_learning_rate(arch))
        except ValueError as exc:
            check.fail(f"--optimizer adam: {exc}")
    try:
        configs = [
            TwoPointConfig(arch=spec, seed=seed + i, dx2=dx2, dy2=dy2, layer=layer, device=device)
            for i in range(trials)
        ]
        options = Execution(
            out=out,
            cache=cache,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            device=device,
        )
    except (ValueError, TypeError) as exc:
        option = "--layer" if "layer" in str(exc) else "--device" if "device" in str(exc).lower() else "input"
        check.fail(f"{option}: {exc}")
    parallel = 1 if executor == "local" else min(trials, workers or default_workers())
    check.memory(
        parallel * estimate_trial_bytes(configs[0]),
        f"a trial of {spec.epochs} epochs (--epochs) of {spec.hidden_layers} hidden layers of "
        f"{spec.units} units (--hidden-layers, --units)" + (f", {parallel} at once" if parallel > 1 else ""),
        "lower --epochs or --units" + (" or --workers" if parallel > 1 else ""),
    )

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
