"""The registry of the paper's experiments, read by ``repdyn list`` and ``repdyn reproduce``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repdyn import checks
from repdyn.experiments._claims import Claim
from repdyn.runs import Execution

PROFILES = ("smoke", "quick", "paper")


@dataclass(frozen=True, kw_only=True)
class RunOptions(Execution):
    """How to run an experiment: its profile (scale) and its execution.

    Parameters
    ----------
    profile : {"smoke", "quick", "paper"}
        ``paper`` uses the paper's settings; ``quick`` a documented reduced
        scale for 2 CPU cores; ``smoke`` a tiny scale for end-to-end tests.
    out, cache, executor, workers, scheduler, device, progress, batch_trials
        Where to write and how to execute trials: see :class:`repdyn.runs.Execution`
        (``out`` is the experiment's own output directory; ``cache`` the
        result store shared by all experiments, by default ``out / "cache"``).
    """

    profile: str

    def __post_init__(self) -> None:
        checks.choice("profile", self.profile, PROFILES)
        super().__post_init__()


@dataclass
class ExperimentOutput:
    """What an experiment returns: JSON-able summary, claims, figure paths, trial counts."""

    summary: dict[str, Any]
    claims: list[Claim]
    figures: list[Path] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Experiment:
    """A named experiment of the paper: what it reproduces, and the module that runs it.

    Parameters
    ----------
    name : str
        Name for ``repdyn reproduce NAME`` and :func:`repdyn.experiments.run`.
    figure : str
        The paper figure(s) it reproduces.
    description : str
        One sentence: what it trains and what it checks.
    module : str
        Module below :mod:`repdyn.experiments` (``"figures._fig2"``) whose
        ``run(options)`` returns an :class:`ExperimentOutput` and whose
        ``estimate_seconds(profile)`` gives a rough single-core run time. It is
        imported only to run, so listing the registry never imports torch.
    function, estimate : str
        Names of those two functions in the module, for a module that holds
        several experiments.
    """

    name: str
    figure: str
    description: str
    module: str
    function: str = "run"
    estimate: str = "estimate_seconds"

    def _module(self) -> Any:
        return importlib.import_module(f"repdyn.experiments.{self.module}")

    def run(self, options: RunOptions) -> ExperimentOutput:
        """Run the experiment into ``options.out`` (figures, data) and return its output."""
        return getattr(self._module(), self.function)(options)

    def estimate_seconds(self, profile: str) -> float | None:
        """Rough single-core seconds for ``profile``; None if the module gives no estimate."""
        estimate = getattr(self._module(), self.estimate, None)
        return None if estimate is None else float(estimate(profile))


#: Every experiment, in the paper's figure order: the one list that ``repdyn
#: list``, ``repdyn reproduce`` and :func:`repdyn.experiments.run` read. To add
#: an experiment, write its module in ``figures/`` (``run`` and
#: ``estimate_seconds``) and add an entry here (docs/extending.md).
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "fig2",
            figure="Fig 2",
            description=(
                "Two-point dynamics (h, y, w) of every Table 1 architecture against the fitted "
                "theory."
            ),
            module="figures._fig2",
        ),
        Experiment(
            "fig3",
            figure="Fig 3",
            description=(
                "Initial weight scale: plateau then drop at small init, immediate decay at "
                "large init, and where the theory stops matching."
            ),
            module="figures._fig3",
        ),
        Experiment(
            "fig4",
            figure="Fig 4",
            description=(
                "MNIST: the first 0 and first 1 tracked during minibatch training, fitted by "
                "the theory."
            ),
            module="figures._fig4",
        ),
        Experiment(
            "fig5",
            figure="Fig 5",
            description=(
                "Final representational distance: h_inf predicted from averaged fitted rates "
                "against the measured final h over a 5 x 5 grid of input and target distances."
            ),
            module="figures._fig5",
        ),
        Experiment(
            "fig6",
            figure="Fig 6",
            description=(
                "XOR: same-target representations merge at small init, not at large init; the "
                "2-layer network merges one pair."
            ),
            module="figures._fig6",
        ),
        Experiment(
            "fig8",
            figure="Figs 7, 8, 12",
            description=(
                "Context task: each context collapses along its irrelevant feature at low init, "
                "onto one line at very low init, and keeps its square at high init."
            ),
            module="figures._fig8",
        ),
        Experiment(
            "fig9",
            figure="Fig 9",
            description=(
                "MNIST: the hidden-layer distance matrix of 100 digits against the theory with "
                "exponential weighing."
            ),
            module="figures._fig9",
        ),
        Experiment(
            "fig10",
            figure="Fig 10",
            description=(
                "Depth: the theory fitted at every hidden layer of the default network (fit "
                "error and effective learning rates per layer)."
            ),
            module="figures._fig10",
        ),
        Experiment(
            "fig11",
            figure="Fig 11 (C.1)",
            description=(
                "Loss curves: the theory's loss with a fitted eta_m against the network's "
                "training loss, every Table 1 network."
            ),
            module="figures._fig11",
        ),
        Experiment(
            "random-features",
            figure="App. A.6",
            description=(
                "Random features (appendix A.6, Eq. 48): the spread of the final distance over "
                "random initialisations at six gains, network seeds beside the theory's sampled "
                "initial maps."
            ),
            module="figures._random_features",
        ),
        Experiment(
            "kernel-rates",
            figure="beyond the paper",
            description=(
                "The two rates measured from the network's tangent kernels instead of fitted: the "
                "theory with no fit against the Table 1 networks, the fitted constants against the "
                "rates' time average, the final distance from the rates at epoch 0 over fig5's grid."
            ),
            module="figures._kernel_rates",
        ),
        Experiment(
            "adam",
            figure="Figs 13-14",
            description=(
                "Adam instead of SGD: the two-point dynamics against the fitted theory, and the "
                "final distance predicted from averaged rates over the 5 x 5 grid."
            ),
            module="figures._adam",
        ),
        Experiment(
            "adam-xor",
            figure="Figs 15-16 (XOR)",
            description=(
                "XOR trained with Adam: fig6's claims and metrics, the theory's rates fitted under "
                "Adam, SGD's numbers beside them."
            ),
            module="figures._adam_structure",
            function="run_xor",
            estimate="xor_seconds",
        ),
        Experiment(
            "adam-context",
            figure="Figs 15-16 (context)",
            description=(
                "Context task trained with Adam: fig8's collapse claims and metrics, rates fitted "
                "under Adam, SGD's numbers beside them."
            ),
            module="figures._adam_structure",
            function="run_context",
            estimate="context_seconds",
        ),
        Experiment(
            "adam-mnist",
            figure="Figs 15-16 (MNIST)",
            description=(
                "MNIST structure trained with Adam: fig9's claims, exponential weighing with the "
                "rate ratio fitted under Adam beside the raw pixel distances, SGD's numbers "
                "beside them."
            ),
            module="figures._adam_structure",
            function="run_mnist",
            estimate="_mnist_seconds",
        ),
    )
}


def get(name: str) -> Experiment:
    """The experiment called ``name``; a ValueError listing the names if there is none."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(
            f"unknown experiment {name!r}; choose from: {', '.join(EXPERIMENTS)}"
        ) from None
