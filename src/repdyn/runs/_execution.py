"""How and where a run executes: one frozen, checked object instead of six loose options."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repdyn import checks

if TYPE_CHECKING:
    from repdyn.sweep import JobQueue

#: Devices a run can train on.
DEVICES = ("cpu", "cuda")
#: The result store's directory below a run's output directory, unless told otherwise.
CACHE_DIR = "cache"


def check_device(name: str, value: Any, *, here: bool = True) -> str:
    """``value`` if it is one of :data:`DEVICES` (and, with ``here``, usable on this machine).

    ``here=False`` only checks the name: trials that run on a remote Dask
    worker use that worker's GPU, not this machine's.
    """
    device = checks.choice(name, value, DEVICES)
    if device == "cuda" and here:
        import torch  # only here: importing this module stays cheap

        if not torch.cuda.is_available():
            raise checks.ArgumentValueError(
                name, "CUDA is not available on this machine; use --device cpu (device='cpu'), "
                "or a Dask scheduler whose workers have a GPU"
            )
    return device


@dataclass(frozen=True)
class Execution:
    """Where a run writes and how its trials execute, checked when built.

    Parameters
    ----------
    out : path
        The run's output directory.
    cache : path, optional
        The result store (reruns read finished trials from it); default
        ``out / "cache"``, resolved here once.
    executor : {"local", "process", "dask"}, default "process"
    workers : int, optional
        Worker processes (default: one per core); not with a ``scheduler``.
    scheduler : str or repdyn.sweep.JobQueue, optional
        A Dask scheduler: an address, a scheduler file (``*.json``), or the
        batch jobs of a cluster scheduler (:class:`repdyn.sweep.JobQueue`).
        Needs ``executor="dask"``.
    device : {"cpu", "cuda"}, default "cpu"
        ``"cuda"`` needs a GPU here, unless a ``scheduler`` runs the trials elsewhere.
    progress : bool, optional
        Progress bars; default: on a terminal only.
    batch_trials : bool, optional
        Train two-point trials of one architecture together as one batched
        computation; None (auto) batches on ``device="cuda"`` without a scheduler.
    host : str, optional
        The interface the local Dask cluster of ``executor="dask"`` (without a
        ``scheduler``) listens on; default :data:`repdyn.sweep.LOOPBACK`, this
        machine only. A :class:`repdyn.sweep.JobQueue` takes its own ``host``.

    Raises
    ------
    repdyn.checks.BadArgument
        A ValueError or TypeError whose ``parameter`` names the bad field.
    """

    out: Path
    cache: Path | None = None
    executor: str = "process"
    workers: int | None = None
    scheduler: str | JobQueue | None = None
    device: str = "cpu"
    progress: bool | None = None
    batch_trials: bool | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        from repdyn.sweep import check_executor

        out = _path("out", self.out)
        cache = out / CACHE_DIR if self.cache is None else _path("cache", self.cache)
        object.__setattr__(self, "out", out)
        object.__setattr__(self, "cache", cache)
        checks.integer("workers", self.workers, minimum=1, allow_none=True)
        try:
            check_executor(self.executor, self.workers, self.scheduler)
        except ValueError as exc:
            raise checks.ArgumentValueError(_first_word(str(exc)), str(exc)) from None
        check_device("device", self.device, here=self.scheduler is None)
        if self.host is not None:
            _check_host(self.host, self.executor, self.scheduler)
        for name in ("progress", "batch_trials"):
            if getattr(self, name) is not None:
                checks.flag(name, getattr(self, name))

    def sweep(self, fn: Callable[[Any], Any], configs: Sequence[Any]) -> list[dict[str, Any]]:
        """Run (or load from :attr:`cache`) trial ``fn`` on every config; results in config order."""
        from repdyn.sweep import run_sweep

        return run_sweep(fn, list(configs), store=self.cache, progress=self.progress, **self.dispatch)

    @property
    def dispatch(self) -> dict[str, Any]:
        """The arguments of :func:`repdyn.sweep.run_sweep` that choose where trials run."""
        where: dict[str, Any] = {"executor": self.executor, "workers": self.workers, "scheduler": self.scheduler}
        if self.host is not None:
            where["host"] = self.host
        return where


def _check_host(host: Any, executor: str, scheduler: Any) -> None:
    """``host`` chooses where a local Dask cluster listens: with ``executor="dask"`` and no scheduler only."""
    from repdyn.sweep import check_host

    try:
        check_host(host)
    except ValueError as exc:
        raise checks.ArgumentValueError("host", str(exc)) from None
    if executor != "dask" or scheduler is not None:
        raise checks.ArgumentValueError(
            "host", "host chooses the interface of the local Dask cluster that executor='dask' starts without a "
            "scheduler; a running scheduler listens where it was started, and a JobQueue takes its own host")


def _path(name: str, value: Any) -> Path:
    if not isinstance(value, str | os.PathLike):
        raise checks.ArgumentTypeError(name, f"{name} must be a directory path; got {checks.describe(value)}")
    return Path(value)


def _first_word(message: str) -> str:
    """The parameter a message of :func:`repdyn.sweep.check_executor` starts with."""
    return message.split(" ", 1)[0]
