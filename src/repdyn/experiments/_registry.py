"""The registry of the paper's experiments, read by ``repdyn list`` and ``repdyn reproduce``."""

from __future__ import annotations

from collections.abc import Callable
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
        Passed to the sweep runner and the trials.
    """

    profile: str
    out: Path
    cache: Path | None = None
    executor: str = "process"
    workers: int | None = None
    scheduler: str | None = None
    device: str = "cpu"
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}; got {self.profile!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda'; got {self.device!r}")
        object.__setattr__(self, "out", Path(self.out))


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
