"""Dask workers as batch jobs of a cluster scheduler (SLURM, PBS, ...), through dask-jobqueue."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from repdyn import checks
from repdyn.sweep._trial import THREAD_ENV_VARS

#: ``JobQueue.kind`` -> dask-jobqueue's cluster class. ``"local"`` runs each
#: job as a local process (dask-jobqueue's own test double of a scheduler).
CLUSTER_KINDS = {
    "slurm": "SLURMCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
    "htcondor": "HTCondorCluster",
    "local": "LocalCluster",
}

_MEMORY = re.compile(r"\d+(\.\d+)?\s*[KMGT]i?B")
_HOST = re.compile(r"[A-Za-z0-9_.:%-]+")
#: Where a local cluster listens unless told otherwise: this machine only. A Dask
#: scheduler runs whatever code it is sent, so it must not be reachable from outside.
LOOPBACK = "127.0.0.1"


def listen_address(host: str, port: int = 0) -> str:
    """``host:port``, with an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_host(host: object, *, name: str = "host") -> str:
    """``host`` if it reads as an IP address or host name; ValueError otherwise."""
    if not isinstance(host, str) or not _HOST.fullmatch(host):
        raise ValueError(f"{name} must be an IP address or host name to listen on, such as "
                         f"{LOOPBACK!r} (this machine only) or '0.0.0.0' (every interface); got {host!r}")
    return host
_WALLTIME = re.compile(r"(\d+-)?\d{1,3}:\d{2}(:\d{2})?")


@dataclass(frozen=True)
class JobQueue:
    """Dask workers started as batch jobs; pass as ``scheduler=`` with ``executor="dask"``.

    Each job runs ``cores`` single-threaded Dask workers (one trial each at a
    time) for at most ``walltime``; ``jobs`` jobs are submitted. Needs the
    optional extra: ``pip install 'repdyn[cluster]'``.

    Parameters
    ----------
    kind : {"slurm", "pbs", "sge", "lsf", "htcondor", "local"}
        The batch scheduler. ``"local"`` runs the jobs as local processes,
        for trying a configuration without a cluster.
    cores : int, default 1
        Cores (and workers) per job.
    memory : str, default "4GB"
        Memory per job, e.g. ``"16GB"``.
    walltime : str, default "01:00:00"
        Time limit of each job, ``HH:MM:SS`` (or ``D-HH:MM:SS``).
    queue : str, optional
        Queue or partition to submit to; None uses the scheduler's default.
    jobs : int, default 1
        Number of jobs to submit.
    host : str, optional
        The address the scheduler listens on (its dashboard too). Default:
        ``"127.0.0.1"`` for ``kind="local"``, where the scheduler, the workers
        and every dashboard listen on this machine's loopback only (a reachable
        scheduler runs any code it is sent); for a batch scheduler, dask-jobqueue's
        choice (the compute nodes must reach it: give the login node's address
        on the cluster network). Workers' dashboards always listen on their
        node's loopback.

    Examples
    --------
    >>> from repdyn.sweep import JobQueue, run_sweep                      # doctest: +SKIP
    >>> cluster = JobQueue("slurm", cores=16, memory="32GB", walltime="04:00:00", jobs=4)
    >>> run_sweep(trial, configs, executor="dask", scheduler=cluster)    # doctest: +SKIP
    """

    kind: str
    cores: int = 1
    memory: str = "4GB"
    walltime: str = "01:00:00"
    queue: str | None = None
    jobs: int = 1
    host: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CLUSTER_KINDS:
            raise ValueError(
                f"kind must be one of {sorted(CLUSTER_KINDS)}; got {self.kind!r}"
            )
        for name in ("cores", "jobs"):
            checks.integer(name, getattr(self, name), minimum=1)
        if not isinstance(self.memory, str) or not _MEMORY.fullmatch(self.memory):
            raise ValueError(f"memory must read like '4GB' or '500MiB'; got {self.memory!r}")
        if not isinstance(self.walltime, str) or not _WALLTIME.fullmatch(self.walltime):
            raise ValueError(
                f"walltime must read HH:MM:SS (or D-HH:MM:SS); got {self.walltime!r}"
            )
        if self.queue is not None and (not isinstance(self.queue, str) or not self.queue):
            raise ValueError(f"queue must be a non-empty name or None; got {self.queue!r}")
        if self.host is not None:
            check_host(self.host)

    @property
    def listen(self) -> str | None:
        """The address the scheduler listens on (None: dask-jobqueue's default)."""
        return self.host if self.host is not None else (LOOPBACK if self.kind == "local" else None)

    def cluster(self) -> Any:
        """A dask-jobqueue cluster of this shape, not yet scaled (no job submitted)."""
        try:
            import dask_jobqueue
            import dask_jobqueue.local
        except ImportError as exc:
            raise ImportError(
                "a JobQueue (--cluster) needs dask-jobqueue, which is not installed; install it "
                "with `pip install 'repdyn[cluster]'`"
            ) from exc
        module = dask_jobqueue.local if self.kind == "local" else dask_jobqueue
        cls = getattr(module, CLUSTER_KINDS[self.kind])
        options: dict[str, Any] = {
            "cores": self.cores,
            "processes": self.cores,  # one single-threaded worker per core
            "memory": self.memory,
            # A worker's diagnostics page is for its own node.
            "worker_extra_args": ["--dashboard-address", listen_address(LOOPBACK)],
        }
        if self.listen is not None:
            options["scheduler_options"] = {"host": self.listen, "dashboard_address": listen_address(self.listen)}
            if self.kind == "local":  # the workers run here too
                options["worker_extra_args"] = ["--host", self.listen,
                                                "--dashboard-address", listen_address(self.listen)]
        if self.kind != "local":  # local jobs run without a shell, and inherit our environment
            # Trials run one BLAS thread each, as on the local executors.
            options["job_script_prologue"] = [f"export {name}=1" for name in THREAD_ENV_VARS]
            options["walltime"] = self.walltime
            if self.queue is not None:
                options["queue"] = self.queue
        return cls(**options)

    def job_script(self) -> str:
        """The batch script each job would run (for checking before submitting)."""
        cluster = self.cluster()
        try:
            return cluster.job_script()
        finally:
            cluster.close()
