"""The registry of the experiments, the paper's and the follow-up's, read by ``repdyn list`` and ``repdyn reproduce``."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repdyn import checks
from repdyn.experiments._claims import Claim
from repdyn.runs import Execution

PROFILES = ("smoke", "quick", "paper")

#: The groups of experiments, in listing order: the 2024 paper's, repdyn's own beyond it, and
#: the follow-up's (its sequence models; ``followup/``), kept apart so that the paper's report
#: stays the paper's.
GROUPS = {
    "paper": "van Rossem & Saxe 2024, the effective theory (the paper)",
    "beyond": "Beyond the paper: the effective rates measured from the tangent kernel (repdyn's own)",
    "follow-up": "van Rossem & Saxe 2025, recurrent networks on streaming parity (the follow-up)",
}


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
    group : {"paper", "follow-up"}, default "paper"
        Whose experiment it is (:data:`GROUPS`); ``figure`` names a figure of that group's paper.
    """

    name: str
    figure: str
    description: str
    module: str
    function: str = "run"
    estimate: str = "estimate_seconds"
    group: str = "paper"

    def __post_init__(self) -> None:
        checks.choice("group", self.group, tuple(GROUPS))

    def _module(self) -> Any:
        return importlib.import_module(f"repdyn.experiments.{self.module}")

    def run(self, options: RunOptions) -> ExperimentOutput:
        """Run the experiment into ``options.out`` (figures, data) and return its output."""
        return getattr(self._module(), self.function)(options)

    def estimate_seconds(self, profile: str) -> float | None:
        """Rough single-core seconds for ``profile``; None if the module gives no estimate."""
        estimate = getattr(self._module(), self.estimate, None)
        return None if estimate is None else float(estimate(profile))


#: Every experiment, the paper's in its figure order, then the follow-up's: the
#: one list that ``repdyn list``, ``repdyn reproduce`` and
#: :func:`repdyn.experiments.run` read. To add an experiment, write its module
#: in ``figures/`` (the follow-up's: ``followup/``) with ``run`` and
#: ``estimate_seconds``, and add an entry here (docs/extending.md).
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
            group="beyond",
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
        # The follow-up's experiments (followup/): listed apart, run by name or by group.
        Experiment(
            "seq-length",
            figure="Figs 1, 4, 6, 8",
            description=(
                "Streaming parity, Elman RNN: loss at every length drops at once, and the extracted automaton "
                "grows as a prefix tree, then merges into a closed automaton that minimises to parity's 2 states."
            ),
            module="followup._sequences",
            function="run_length",
            estimate="length_seconds",
            group="follow-up",
        ),
        Experiment(
            "seq-mergers",
            figure="Sec 4.2, Fig 7",
            description=(
                "Streaming parity: every pair of prefixes merged at the end agrees on all continuations, and "
                "only pairs of long enough prefixes merge."
            ),
            module="followup._sequences",
            function="run_mergers",
            estimate="mergers_seconds",
            group="follow-up",
        ),
        Experiment(
            "seq-theory",
            figure="Eqs 5-7",
            description=(
                "Streaming parity: the theory's final distance and merger per prefix pair, rates fitted to the "
                "network, against the network and the 'merges iff D2 = 0' rule."
            ),
            module="followup._sequences",
            function="run_theory",
            estimate="theory_seconds",
            group="follow-up",
        ),
        Experiment(
            "seq-phase",
            figure="Fig 9",
            description=(
                "Streaming parity: accuracy on length-100 sequences and automaton size over initial gain x "
                "training data fraction."
            ),
            module="followup._sequences",
            function="run_phase",
            estimate="phase_seconds",
            group="follow-up",
        ),
    )
}


def in_group(group: str) -> list[str]:
    """The names of the experiments of ``group`` (:data:`GROUPS`), in registry order."""
    checks.choice("group", group, tuple(GROUPS))
    return [name for name, exp in EXPERIMENTS.items() if exp.group == group]


def expand_names(names: Sequence[str] | None) -> list[str]:
    """The experiments ``names`` asks for: a group's name (:data:`GROUPS`) stands for its experiments.

    None or empty asks for the paper's experiments; the follow-up's run when named (``"follow-up"``
    or one by one). Unknown names stay in the list, for :func:`get` to refuse.
    """
    if not names:
        return in_group("paper")
    out: list[str] = []
    for name in names:
        for each in in_group(name) if name in GROUPS else [name]:
            if each not in out:
                out.append(each)
    return out


def get(name: str) -> Experiment:
    """The experiment called ``name``; a ValueError listing the names if there is none."""
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ValueError(
            f"unknown experiment {name!r}; choose from: {', '.join(EXPERIMENTS)}"
        ) from None
