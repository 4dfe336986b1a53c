"""Options shared by the commands that run trials (``run``, ``reproduce``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

CacheOption = Annotated[
    Path | None, typer.Option(help="Result cache shared by reruns (default: OUT/cache).")
]
ExecutorOption = Annotated[str, typer.Option(help="local, process or dask.")]
WorkersOption = Annotated[
    int | None, typer.Option(help="Worker processes (default: one per core).")
]
SchedulerOption = Annotated[
    str | None, typer.Option(help="Dask scheduler address (tcp://host:port).")
]
DeviceOption = Annotated[str, typer.Option(help="cpu or cuda.")]


#: The run options' names at the command line, for messages of the sweep's checks.
SWEEP_OPTION_NAMES = {"executor": "--executor", "workers": "--workers", "scheduler": "--scheduler"}


def check_run_options(executor: str, workers: int | None, scheduler: str | None, out: Path,
                      cache: Path | None) -> None:
    """Check the options shared by ``run`` and ``reproduce`` before anything runs or is written."""
    from repdyn.cli._errors import fail, output_dir
    from repdyn.sweep import check_executor

    try:
        check_executor(executor, workers, scheduler, connect=True, names=SWEEP_OPTION_NAMES)
    except ValueError as exc:
        fail(str(exc))
    output_dir("--out", out)
    output_dir("--cache", cache)


def report_unfinished(counts: dict[str, int], where: str) -> None:
    """Exit with status 1 (after the outputs are written) if any trial errored or lost its worker."""
    from repdyn.cli._errors import EXIT_FAILED

    error, failed = counts.get("error", 0), counts.get("failed", 0)
    if error or failed:
        typer.echo(
            f"Error: {error + failed} of {counts.get('trials', '?')} trials did not finish ({error} raised, "
            f"{failed} lost their worker process); the finished trials are kept, and each failed trial's "
            f"error text is in {where}. A rerun computes only the failed trials again.",
            err=True,
        )
        raise typer.Exit(EXIT_FAILED)
