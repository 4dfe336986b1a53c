"""Run experiments of the registry and write their summaries (and, through ``_report``, the report)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from repdyn.experiments._registry import Experiment, ExperimentOutput, RunOptions, expand_names, get
from repdyn.experiments._report import SMOKE_NOTE, write_report
from repdyn.runs import counting_each_trial_once, write_json


def estimate_seconds(names: Sequence[str], profile: str, workers: int) -> float | None:
    """Wall-clock estimate for running ``names`` with ``workers`` parallel workers; None if unknown.

    A trial that several of the experiments share is computed once (the
    result store keeps it), so it is counted once.
    """
    total = 0.0
    with counting_each_trial_once():
        for name in expand_names(names):
            seconds = get(name).estimate_seconds(profile)
            if seconds is None:
                return None
            total += seconds
    return total / max(workers, 1)


#: Default output directory of :func:`run` (one folder per experiment below it).
DEFAULT_OUT = Path("results/reproduce")


def run(
    name: str, profile: str = "quick", out: str | Path | None = None, **options: Any
) -> ExperimentOutput:
    """Run one experiment of :data:`EXPERIMENTS`, as ``repdyn reproduce NAME`` does.

    Parameters
    ----------
    name : str
        An experiment name (``repdyn list`` shows them), e.g. ``"fig6"``.
    profile : {"smoke", "quick", "paper"}, default "quick"
        ``smoke`` runs the code at a tiny scale (its numbers test the code, not
        the theory); ``quick`` a reduced scale for 2 CPU cores; ``paper`` the
        paper's settings.
    out : str or Path, optional
        Where figures, data and ``summary.json`` go; default
        ``results/reproduce/<name>``.
    **options
        Any other field of :class:`RunOptions`: ``cache`` (default ``out/cache``),
        ``executor``, ``workers``, ``scheduler``, ``device``, ``progress``,
        ``batch_trials``.

    Returns
    -------
    ExperimentOutput
        ``summary`` (what ``summary.json`` holds), ``claims``, ``figures`` (paths)
        and ``counts``; :func:`repdyn.load_run` reads ``out`` back.

    Examples
    --------
    >>> from repdyn import experiments
    >>> output = experiments.run("fig6", profile="smoke", out="results/fig6")  # doctest: +SKIP
    >>> [(c.claim, c.holds) for c in output.claims]                             # doctest: +SKIP
    """
    exp = get(name)
    out = DEFAULT_OUT / name if out is None else Path(out)
    return run_experiment(exp, RunOptions(profile=profile, out=out, **options))


def run_experiment(exp: Experiment, options: RunOptions) -> ExperimentOutput:
    """Run ``exp`` into ``options.out`` and write its ``summary.json``; return its output."""
    start = time.perf_counter()
    output = exp.run(options)
    seconds = time.perf_counter() - start
    output.summary = {
        "experiment": exp.name,
        "figure": exp.figure,
        "description": exp.description,
        "profile": options.profile,
        **({"note": SMOKE_NOTE} if options.profile == "smoke" else {}),
        "seconds": seconds,
        "counts": output.counts,
        "claims": [c.to_dict() for c in output.claims],
        "figures": [str(p.relative_to(options.out)) for p in output.figures],
        **output.summary,
    }
    write_json(options.out / "summary.json", output.summary)
    return output


def reproduce(names: Sequence[str] | None, options: RunOptions) -> dict[str, ExperimentOutput]:
    """Run the named experiments (the paper's by default), each into ``options.out / name``.

    A group's name (``"follow-up"``, :data:`GROUPS`) stands for its experiments.

    Writes per experiment its figures, data and ``summary.json`` (claims with
    ``{claim, metric, measured, threshold, holds}`` and trial counts), and for
    the whole run ``report.md`` and ``report.html`` in ``options.out``.
    Trials are cached in ``options.cache`` (default ``options.out / "cache"``),
    so a rerun with nothing changed only redraws.
    """
    experiments = [get(name) for name in expand_names(names)]  # unknown names fail before anything runs
    outputs: dict[str, ExperimentOutput] = {}
    for exp in experiments:
        # options.cache stays where it is (default: beside the experiments), shared by all of them.
        outputs[exp.name] = run_experiment(exp, replace(options, out=options.out / exp.name))
    write_report(options.out, outputs, options.profile)
    return outputs


def experiment_trials(names: Sequence[str], profile: str) -> dict[str, tuple[list[Any], int, float]]:
    """Per experiment, the distinct trials it adds to those of the experiments before it, how many it
    shares with them, and its single-core seconds besides its trials (its own analysis).

    The trials are the two-point and data-set trials the experiments' estimates
    count (each run computes exactly those), in a stable order; other trials
    (the follow-up's) count as the own time of the first experiment that runs them; a trial an earlier experiment computes
    comes from the result store, so it is counted there only.
    """
    from repdyn.runs import DatasetConfig, TwoPointConfig

    def order(config: Any) -> tuple[Any, ...]:
        kind = isinstance(config, TwoPointConfig)
        return (kind, config.arch.name, config.seed, getattr(config, "dx2", 0.0), getattr(config, "dy2", 0.0),
                repr(config))  # fmt: skip

    done: set[Any] = set()
    found: dict[str, tuple[list[Any], int, float]] = {}
    for name in names:
        with counting_each_trial_once() as counted:
            seconds = get(name).estimate_seconds(profile) or 0.0
        trials = [c for c in counted if isinstance(c, (TwoPointConfig, DatasetConfig))]
        # Other trials (the follow-up's sequence runs) no engine batches: the CPU time
        # of the experiment that runs them first.
        others = sum(s for c, s in counted.items() if c not in trials and c not in done)
        analysis = max(0.0, seconds - sum(counted.values())) + others
        new = sorted((c for c in trials if c not in done), key=order)
        found[name] = (new, len(trials) - len(new), analysis)
        done |= set(counted)
    return found


@dataclass(frozen=True)
class ReproducePlan:
    """What ``repdyn reproduce`` will cost: per experiment a :class:`repdyn.runs.TrialPlan`.

    Attributes
    ----------
    profile, device : str
    memory : float or None
        Device memory in bytes the batches were sized for (None: nothing batched).
    bandwidth : float or None
        Bytes per second of the cost model (None: unknown).
    memory_stated : bool
        Whether ``memory`` was stated (a device elsewhere) or measured here.
    experiments : dict of str to TrialPlan
    shared : dict of str to int
        Per experiment, trials an earlier experiment computes (read from the store).
    analysis : dict of str to float
        Per experiment, single-core seconds of its own analysis besides its trials.
    workers : int
        CPU processes the estimate divides the CPU's work over.
    """

    profile: str
    device: str
    memory: float | None
    bandwidth: float | None
    memory_stated: bool
    experiments: dict[str, Any]
    shared: dict[str, int]
    analysis: dict[str, float]
    workers: int

    def experiment_cpu_seconds(self, name: str) -> float:
        """Wall seconds of experiment ``name`` on the CPU: one-by-one trials, fits and its analysis."""
        return self.experiments[name].cpu_seconds + self.analysis[name] / self.workers

    def experiment_seconds(self, name: str) -> float | None:
        """Estimated wall seconds of experiment ``name``: the device's batches, then the CPU's share."""
        training = self.experiments[name].training_seconds
        return None if training is None else training + self.experiment_cpu_seconds(name)

    @property
    def refused(self) -> list[str]:
        """Every refused group, ``experiment: message``."""
        return [f"{name}: {message}" for name, plan in self.experiments.items() for message in plan.refused]

    @property
    def seconds(self) -> float | None:
        """Estimated wall seconds of the whole run (None when a batch's cost is unknown)."""
        times = [self.experiment_seconds(name) for name in self.experiments]
        return None if None in times else float(sum(times))

    def to_dict(self) -> dict[str, Any]:
        plans = self.experiments.values()
        training = [p.training_seconds for p in plans]
        return {
            "profile": self.profile, "device": self.device, "memory_bytes": self.memory,
            "memory_stated": self.memory_stated, "bandwidth_bytes_per_second": self.bandwidth,
            "experiments": {name: {**plan.to_dict(), "shared_trials": self.shared[name],
                                   "analysis_cpu_seconds": self.analysis[name],
                                   "experiment_cpu_seconds": self.experiment_cpu_seconds(name),
                                   "experiment_seconds": self.experiment_seconds(name)}
                            for name, plan in self.experiments.items()},
            "total": {"trials": sum(p.trials for p in plans), "batches": sum(len(p.batches) for p in plans),
                      "training_seconds": None if None in training else float(sum(training)),
                      "cpu_seconds": float(sum(map(self.experiment_cpu_seconds, self.experiments))),
                      "seconds": self.seconds,
                      "refused": self.refused},
        }  # fmt: skip


def plan(
    names: Sequence[str] | None,
    profile: str,
    *,
    device: str,
    workers: int,
    batched: bool | None = None,
    memory: float | None = None,
    bandwidth: float | None = None,
    calibrate_epochs: int = 0,
) -> ReproducePlan:
    """What running the experiments ``names`` (default all) at ``profile`` on ``device`` will cost.

    Trains nothing but a calibration (``calibrate_epochs``). ``batched``,
    ``memory``, ``bandwidth``, ``calibrate_epochs`` and ``workers`` as for
    :func:`repdyn.runs.plan_trials`, which plans each experiment's trials.
    """
    from repdyn.runs import plan_trials

    names = list(names) if names else list(EXPERIMENTS)
    for name in names:
        get(name)
    plans, shared, analysis = {}, {}, {}
    for name, (configs, count, seconds) in experiment_trials(names, profile).items():
        plans[name] = plan_trials(configs, device=device, batched=batched, memory=memory, bandwidth=bandwidth,
                                  calibrate_epochs=calibrate_epochs, workers=workers)  # fmt: skip
        shared[name], analysis[name] = count, seconds
    known = [p.memory for p in plans.values() if p.memory is not None]
    return ReproducePlan(profile=profile, device=device, memory=memory if memory is not None else
                         known[0] if known else None,
                         bandwidth=next((p.bandwidth for p in plans.values() if p.bandwidth), None),
                         memory_stated=memory is not None, experiments=plans, shared=shared, analysis=analysis,
                         workers=workers)  # fmt: skip
