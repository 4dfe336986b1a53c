"""Run experiments of the registry and write their summaries (and, through ``_report``, the report)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
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
