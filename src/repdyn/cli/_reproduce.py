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
#: Epochs a dry run times each batch size for on this machine's GPU, unless told.
CALIBRATE_EPOCHS = 5


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


@check.checked({"memory": "--device-memory", "bandwidth": "--device-bandwidth"})
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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Train nothing: print per experiment its trials, the batches a GPU trains, each batch's "
            "memory and the estimated time, then exit (2 if a batch cannot fit the device's memory).",
        ),
    ] = False,
    device_memory: Annotated[
        str | None,
        typer.Option(
            help="With --dry-run: the device's memory, e.g. 141GB or 80GiB, to plan for a GPU elsewhere "
            "(default: the free memory of this machine's device)."
        ),
    ] = None,
    device_bandwidth: Annotated[
        str | None,
        typer.Option(
            help="With --dry-run: the device's memory bandwidth per second, e.g. 4.8TB, for the cost model "
            "(default: measured on this machine's device; else the time is unknown)."
        ),
    ] = None,
    calibrate_epochs: Annotated[
        int | None,
        typer.Option(
            help="With --dry-run: epochs each batch size is timed for on this machine's GPU (0: the cost "
            f"model, the bandwidth floor; default {CALIBRATE_EPOCHS} when the device is here, else 0)."
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="With --dry-run: print the plan as JSON.")
    ] = False,
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
    planning = {"--device-memory": device_memory, "--device-bandwidth": device_bandwidth,
                "--calibrate-epochs": calibrate_epochs, "--json": json_output or None}  # fmt: skip
    if not dry_run and any(value is not None for value in planning.values()):
        given = ", ".join(name for name, value in planning.items() if value is not None)
        fail(f"{given} only shape the plan of --dry-run; add --dry-run, or leave the option(s) out")
    scheduler = cluster_scheduler(executor, workers, scheduler, cluster, host, cores=cores, memory=memory,
                                  walltime=walltime, queue=queue, jobs=jobs)
    if dry_run:
        show_plan(selected, profile, device=device, workers=workers or default_workers(),
                  batched=None if scheduler is None else False, memory=device_memory,
                  bandwidth=device_bandwidth, calibrate_epochs=calibrate_epochs, as_json=json_output)  # fmt: skip
        return
    check_run_options(executor, workers, scheduler, out, cache)
    options = RunOptions(profile=profile, out=out, cache=cache, executor=executor, workers=workers,
                         scheduler=scheduler, device=device, host=local_host(host, cluster))  # fmt: skip
    if device == "cuda" and scheduler is None:
        # The plan of the batches, from the cost model: refuses a trial that cannot fit before anything trains.
        from repdyn.experiments import plan as make_plan

        planned = make_plan(selected, profile, device=device, workers=workers or default_workers())
        if planned.refused:
            fail("a batch of one trial does not fit the GPU's memory (" + "; ".join(planned.refused) + ")")
        typer.echo(f"planned: {sum(p.trials for p in planned.experiments.values())} trials in "
                   f"{sum(len(p.batches) for p in planned.experiments.values())} batches on the GPU; at least "
                   f"{planned.seconds / 60:.0f} min (the bandwidth floor of training, the CPU model of the fits; "
                   "--dry-run says more; cached trials are skipped)")  # fmt: skip
    else:
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


def show_plan(names: list[str], profile: str, *, device: str, workers: int, batched: bool | None,
              memory: str | None, bandwidth: str | None, calibrate_epochs: int | None, as_json: bool) -> None:  # fmt: skip
    """Print what ``repdyn reproduce`` would cost (``--dry-run``); exit 2 if a batch cannot fit the device."""
    import json

    from repdyn import checks
    from repdyn.experiments import PROFILES
    from repdyn.experiments import plan as make_plan

    checks.choice("profile", profile, PROFILES)
    checks.choice("device", device, ("cpu", "cuda"))
    size = None if memory is None else checks.byte_size("device_memory", memory)
    rate = None if bandwidth is None else checks.byte_size("device_bandwidth", bandwidth.removesuffix("/s"))
    if calibrate_epochs is None:
        calibrate_epochs = CALIBRATE_EPOCHS if device == "cuda" and _cuda_here() else 0
    checks.integer("calibrate_epochs", calibrate_epochs, minimum=0)
    result = make_plan(names, profile, device=device, workers=workers, batched=batched, memory=size,
                       bandwidth=rate, calibrate_epochs=calibrate_epochs)  # fmt: skip
    typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else format_plan(result))
    if result.refused:
        fail("a batch of one trial does not fit the device's memory (" + "; ".join(result.refused)
             + "); plan for a device with more memory (--device-memory) or leave those experiments out")


def _cuda_here() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _seeds_text(count: int) -> str:
    return f" (of them, {count} batches of one network's seeds, timed by the CPU model)" if count else ""


#: How the text of a plan names where a batch's time comes from.
COST_WORDS = {
    "measured": "measured on this machine's device",
    "floor": "the cost model: weights read and written once per step at the memory bandwidth, a lower bound",
    "unknown": "unknown: state --device-bandwidth for the cost model",
}


def format_plan(plan: object) -> str:
    """The text of a :class:`repdyn.experiments.ReproducePlan`: one block per experiment, a total."""
    from repdyn.runs import format_bytes

    def minutes(seconds: float | None) -> str:
        return "?" if seconds is None else f"{seconds / 60:.1f} min"

    memory = "nothing batched" if plan.memory is None else (
        f"{format_bytes(plan.memory)} {'stated' if plan.memory_stated else 'free here'}")  # fmt: skip
    bandwidth = "" if plan.bandwidth is None else f", bandwidth {format_bytes(plan.bandwidth)}/s"
    lines = [f"plan of 'repdyn reproduce --profile {plan.profile} --device {plan.device}' (device memory "
             f"{memory}{bandwidth}); nothing trained"]  # fmt: skip
    sources = set()
    for name, trials in plan.experiments.items():
        shared = plan.shared[name]
        lines.append(
            f"{name}: {trials.trials} trials ({shared} more shared with earlier experiments), {len(trials.batches)} "
            f"batches, {trials.one_by_one} one by one{_seeds_text(trials.seed_batches)}; about {minutes(plan.experiment_seconds(name))} (device "
            f"{minutes(trials.training_seconds)}, CPU {minutes(plan.experiment_cpu_seconds(name))} on "
            f"{trials.workers} workers)")  # fmt: skip
        for batch in trials.batches:
            sources.add(batch.cost)
            per_epoch = "?" if batch.epoch_seconds is None else f"{1e3 * batch.epoch_seconds:.3g} ms/epoch"
            lines.append(
                f"    {batch.architecture} ({batch.variant}, {batch.optimizer}, {batch.units} x {batch.hidden_layers}): "
                f"{batch.trials} trials x {batch.epochs} epochs, {batch.trainer}, {format_bytes(batch.bytes)}, "
                f"{per_epoch} ({batch.cost}), {minutes(batch.seconds)}")  # fmt: skip
        for message in trials.refused:
            lines.append(f"    REFUSED {message}")
    total = sum(p.trials for p in plan.experiments.values())
    batches = sum(len(p.batches) for p in plan.experiments.values())
    lines.append(f"total: {total} trials, {batches} batches; about {minutes(plan.seconds)}")
    for source in sorted(sources):
        lines.append(f"time per epoch '{source}': {COST_WORDS[source]}")
    lines.append("one-by-one trials and fits: the single-core CPU model, divided over the workers; a trial "
                 "that stops once converged ends sooner than its epochs (times are upper bounds there)")
    return "\n".join(lines)
