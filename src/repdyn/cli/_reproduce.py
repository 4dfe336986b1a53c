"""``repdyn list`` and ``repdyn reproduce``: the paper's experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from repdyn.cli import _errors as check
from repdyn.cli._errors import fail, write_errors
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

DEFAULT_OUT = Path("results/reproduce")


def list_experiments() -> None:
    """Show every experiment, the figure it reproduces and what it does: the paper's, then the follow-up's."""
    from repdyn.experiments import EXPERIMENTS, GROUPS, in_group

    width = max(len(name) for name in EXPERIMENTS)
    figure_width = max(len(exp.figure) for exp in EXPERIMENTS.values())
    for number, (group, title) in enumerate(GROUPS.items()):
        names = in_group(group)
        if not names:
            continue
        how = "run by default" if group == "paper" else f"run by name, or all with 'repdyn reproduce {group}'"
        typer.echo(("\n" if number else "") + f"{title} ({how}):")
        for name in names:
            exp = EXPERIMENTS[name]
            typer.echo(f"{exp.name:<{width}} {exp.figure:<{figure_width}} {exp.description}")


@check.checked()
def reproduce(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Experiments to run (default: the paper's); 'follow-up' names the follow-up's "
                       "sequence experiments; see 'repdyn list'."),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help="smoke (tiny: tests the code, not the theory), quick (2 CPU cores, minutes) "
            "or paper (the paper's settings)."
        ),
    ] = "quick",
    out: Annotated[Path, typer.Option(help="Output directory.")] = DEFAULT_OUT,
    cache: CacheOption = None,
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
    device: DeviceOption = "cpu",
) -> None:
    """Run experiments, check the paper's (or the follow-up's) claims and write figures, summaries and a report."""
    from repdyn.experiments import EXPERIMENTS as registry
    from repdyn.experiments import GROUPS, SMOKE_NOTE, RunOptions, estimate_seconds, expand_names
    from repdyn.experiments import reproduce as run
    from repdyn.sweep import default_workers

    selected = expand_names(names)
    unknown = [n for n in selected if n not in registry]
    if unknown:
        fail(f"unknown experiment(s) {unknown} (NAMES); choose from: {', '.join([*registry, *GROUPS])}")
    scheduler = cluster_scheduler(executor, workers, scheduler, cluster, host, cores=cores, memory=memory,
                                  walltime=walltime, queue=queue, jobs=jobs)
    check_run_options(executor, workers, scheduler, out, cache)
    options = RunOptions(profile=profile, out=out, cache=cache, executor=executor, workers=workers,
                         scheduler=scheduler, device=device, host=local_host(host, cluster))  # fmt: skip
    estimate = estimate_seconds(selected, profile, workers or default_workers())
    if estimate is not None:
        typer.echo(
            f"estimated run time on this executor: about {estimate / 60:.0f} min (cached trials are skipped)"
        )
    if profile == "smoke":
        typer.echo(SMOKE_NOTE)
    with write_errors({"--cache": options.cache, "--out": out}):
        outputs = run(selected, options)
    held = sum(c.holds for o in outputs.values() for c in o.claims)
    total = sum(len(o.claims) for o in outputs.values())
    unsure = sum(c.inconclusive for o in outputs.values() for c in o.claims)
    for name, output in outputs.items():
        for c in output.claims:
            mark = ("holds" if c.holds else "DOES NOT HOLD") + (" (inconclusive)" if c.inconclusive else "")
            typer.echo(
                f"[{name}] {c.claim}: {c.metric} = {c.measured:.4g}, 95 % interval {c.uncertainty()} "
                f"({c.relation} {c.threshold:.4g}) {mark}"
            )
    typer.echo(f"{held} of {total} claims hold ({unsure} inconclusive); report: {out / 'report.md'}")
    counts: dict[str, int] = {}
    for output in outputs.values():
        for key, value in output.counts.items():
            counts[key] = counts.get(key, 0) + value
    report_unfinished(counts, f"each experiment's summary.json under {out}")
