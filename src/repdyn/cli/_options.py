"""Options shared by the commands that run trials (``run``, ``reproduce``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from repdyn.sweep import JobQueue

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
ClusterOption = Annotated[
    str | None,
    typer.Option(
        help="Submit the Dask workers as batch jobs of a cluster scheduler: slurm, pbs, sge, lsf, "
        "htcondor, or local (the jobs run as local processes, to try a setup). Needs --executor "
        "dask and `pip install 'repdyn[cluster]'`; sized by --cores, --memory, --walltime, "
        "--queue, --jobs."
    ),
]
CoresOption = Annotated[
    int | None, typer.Option(help="With --cluster: cores per job, one single-threaded worker each (default 1).")
]
MemoryOption = Annotated[
    str | None, typer.Option(help="With --cluster: memory per job, e.g. 16GB (default 4GB).")
]
WalltimeOption = Annotated[
    str | None, typer.Option(help="With --cluster: time limit of each job, HH:MM:SS (default 01:00:00).")
]
QueueOption = Annotated[
    str | None, typer.Option(help="With --cluster: queue or partition (default: the scheduler's).")
]
HostOption = Annotated[
    str | None,
    typer.Option(
        "--host", "--interface",
        help="With --executor dask and no --scheduler: the network interface (IP address or host name) the local "
        "Dask cluster, or the scheduler of the --cluster jobs, listens on. Default 127.0.0.1 for a local cluster "
        "(this machine only; a Dask scheduler runs any code it is sent, so open it to a network only behind a "
        "firewall).",
    ),
]
JobsOption = Annotated[
    int | None, typer.Option(help="With --cluster: number of jobs to submit (default 1).")
]


#: The run options' names at the command line, for messages of the sweep's checks.
SWEEP_OPTION_NAMES = {"executor": "--executor", "workers": "--workers", "scheduler": "--scheduler", "host": "--host"}


def cluster_scheduler(executor: str, workers: int | None, scheduler: str | None, cluster: str | None,
                      host: str | None = None, **resources: Any) -> str | JobQueue | None:
    """The scheduler a run uses: ``--scheduler`` as given, or a :class:`JobQueue` built from ``--cluster``.

    ``resources`` are the job options (``cores``, ``memory``, ``walltime``,
    ``queue``, ``jobs``), None where not given; each only applies with ``--cluster``.
    ``host`` (``--host``) goes to the :class:`JobQueue` with ``--cluster``;
    otherwise the run's :class:`repdyn.runs.Execution` takes it.
    """
    from repdyn.cli._errors import fail

    given = {name: value for name, value in resources.items() if value is not None}
    if host is not None:
        from repdyn.sweep import check_host

        try:
            check_host(host, name="--host")
        except ValueError as exc:
            fail(str(exc))
        if executor != "dask" or scheduler is not None:
            fail(f"--host {host} chooses where the Dask cluster that --executor dask starts listens; add --executor "
                 "dask (and --cluster for batch jobs), or leave --host out: a running --scheduler listens where it "
                 "was started")
        if cluster is not None:
            given["host"] = host
    if cluster is None:
        if given:
            names = ", ".join(f"--{name}" for name in given)
            fail(f"{names} size(s) the batch jobs of --cluster; add --cluster slurm|pbs|... "
                 "(and --executor dask), or leave the option(s) out")
        return scheduler
    if executor != "dask":
        fail(f"--cluster {cluster} submits Dask workers as batch jobs; add --executor dask "
             f"(got --executor {executor})")
    if scheduler is not None:
        fail("--cluster starts its own Dask scheduler; give either --cluster or --scheduler, not both")
    if workers is not None:
        fail("--workers sizes a local Dask cluster; with --cluster, size the jobs with --jobs and --cores")
    from repdyn.sweep import CLUSTER_KINDS, JobQueue

    if cluster not in CLUSTER_KINDS:
        fail(f"--cluster must be one of {', '.join(CLUSTER_KINDS)}; got {cluster!r}")
    if importlib.util.find_spec("dask_jobqueue") is None:
        fail("--cluster needs dask-jobqueue, which is not installed; install it with "
             "`pip install 'repdyn[cluster]'`")
    try:
        return JobQueue(cluster, **given)
    except ValueError as exc:
        # JobQueue's messages start with the parameter's name, which is the option's.
        fail(f"--{exc}")


def local_host(host: str | None, cluster: str | None) -> str | None:
    """The ``host`` of the run's :class:`repdyn.runs.Execution`: ``--host`` unless ``--cluster`` took it."""
    return host if cluster is None else None


def check_run_options(executor: str, workers: int | None, scheduler: str | JobQueue | None, out: Path,
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
