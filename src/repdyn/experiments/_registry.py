"""The registry of the paper's experiments, read by ``repdyn list`` and ``repdyn reproduce``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repdyn.experiments._claims import Claim

PROFILES = ("smoke", "quick", "paper")


@dataclass(frozen=True)
class RunOptions:
    """How to run an experiment: scale, where to write, how to execute trials.

    Parameters
    ----------
    profile : {"smoke", "quick", "paper"}
        ``paper`` uses the paper's settings; ``quick`` a documented reduced
        scale for 2 CPU cores; ``smoke`` a tiny scale for end-to-end tests.
    out : Path
        The experiment's own output directory.
    cache : Path or None
        Result-store directory shared by all experiments (reruns reuse it).
    executor, workers, scheduler, device, progress
        Passed to the sweep runner and the trials. ``device="cuda"`` needs a
        GPU here, unless a Dask ``scheduler`` runs the trials elsewhere.
    batch_trials : bool or None
        Train two-point trials of one architecture together as one batched
        computation; None (auto) batches on ``device="cuda"`` without a scheduler.
    """

    profile: str
    out: Path
    cache: Path | None = None
    executor: str = "process"
    workers: int | None = None
    scheduler: str | None = None
    device: str = "cpu"
    progress: bool | None = None
    batch_trials: bool | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}; got {self.profile!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda'; got {self.device!r}")
        if self.device == "cuda" and self.scheduler is None:
            import torch  # only here: the CLI imports this module and must stay light

            if not torch.cuda.is_available():
                raise ValueError(
                    "CUDA is not available on this machine; use --device cpu (device='cpu'), "
                    "or a Dask scheduler whose workers have a GPU"
                )
        if self.batch_trials is not None and not isinstance(self.batch_trials, bool):
            raise ValueError(
                f"batch_trials must be True, False or None (auto); got {self.batch_trials!r}"
            )
        object.__setattr__(self, "out", Path(self.out))

    def sweep(self, fn: Callable[[Any], Any], configs: Sequence[Any]) -> list[dict[str, Any]]:
        """Run (or load from :attr:`cache`) trial ``fn`` on every config with these options; config order."""
        from repdyn.sweep import run_sweep

        return run_sweep(
            fn,
            list(configs),
            store=self.cache,
            executor=self.executor,
            workers=self.workers,
            scheduler=self.scheduler,
            progress=self.progress,
        )


@dataclass
class ExperimentOutput:
    """What an experiment returns: JSON-able summary, claims, figure paths, trial counts."""

    summary: dict[str, Any]
    claims: list[Claim]
    figures: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A named experiment of the paper."""

    name: str
    figure: str
    description: str
    run: Callable[[RunOptions], ExperimentOutput]
    estimate_seconds: Callable[[str], float] | None = None


EXPERIMENTS: dict[str, Experiment] = {}


def register(name: str, *, figure: str, description: str, estimate_seconds=None):
    """Decorator registering ``run(options) -> ExperimentOutput`` under ``name``."""

    def wrap(run: Callable[[RunOptions], ExperimentOutput]):
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered twice")
        EXPERIMENTS[name] = Experiment(name, figure, description, run, estimate_seconds)
        return run

    return wrap


def get(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(
            f"unknown experiment {name!r}; choose from: {', '.join(EXPERIMENTS)}"
        ) from None
