"""The follow-up's streaming-parity studies as experiments: profiles, cached trials, claims and figures.

Three experiments (``seq-length``, ``seq-mergers``, ``seq-theory``) read one
tracked training run, the trial ``sequence-parity``, which the result store
computes once; ``seq-phase`` reads the trial ``sequence-phase``, the whole
gain x fraction grid trained together. What each computes from the trial (the
automata, the pair fits, the claims) is :mod:`repdyn.sequences`' studies;
their thresholds and reasons are in docs/claims-sequences.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repdyn.experiments._claims import Claim
from repdyn.experiments._registry import ExperimentOutput, RunOptions
from repdyn.runs import failed, once, status_counts
from repdyn.sequences import (
    SCALES,
    ParityRun,
    ParitySettings,
    PhaseGrid,
    PhaseSettings,
    PrefixTracking,
    StudyResult,
    analyse_parity,
    length_generalisation,
    length_threshold,
    merged_pairs,
    parity_data,
    phase_diagram,
    theory_endpoint,
    train_parity,
    train_phase_grid,
)
from repdyn.sweep import trial
from repdyn.vocabulary import json_ready

#: The sequence studies' scale of each profile: the documented reduced scale is the quick profile.
PROFILE_SCALES = {"smoke": "smoke", "quick": "reduced", "paper": "paper"}

# Rough single-core costs, measured on the reduced scale (docs/sequences.md, "Scales and measured times").
#: Training: seconds per prefix and epoch of the 100-unit network (26-93 s for 510 prefixes x 1000 epochs).
TRAIN_SECONDS = 8e-5
#: The three automaton histories: seconds per prefix and record (about 22 s for 511 x 201).
HISTORY_SECONDS = 2e-4
#: Fitting the theory: seconds per pair and record (84-305 s for 200 pairs x 201 records).
FIT_SECONDS = 4e-3
#: The phase grid: seconds per cell, epoch and expected training sequence (235-399 s for 25 cells x 3000
#: epochs x about 280 sequences; most cells stop early, so the cap's cost is an upper bound).
GRID_SECONDS = 1.5e-5


def scale(profile: str) -> dict[str, Any]:
    """The parity and phase settings of ``profile``."""
    return SCALES[PROFILE_SCALES[profile]]


@trial("sequence-parity")
def parity_trial(settings: ParitySettings) -> dict[str, Any]:
    """Train on complete parity data, recording every prefix: :meth:`PrefixTracking.to_arrays`."""
    return train_parity(settings).to_arrays()


@trial("sequence-phase")
def phase_trial(settings: PhaseSettings) -> dict[str, Any]:
    """Train and measure the gain x fraction grid: :meth:`PhaseGrid.to_arrays`."""
    return {**train_phase_grid(settings).to_arrays(), "status": "done"}


def _parity_items(s: ParitySettings) -> int:
    return 2 ** (s.max_length + 1) - 2  # every binary sequence of length 1 .. max_length


def _records(s: ParitySettings) -> int:
    return s.epochs // s.record_every + 2


def _train_seconds(s: ParitySettings) -> float:
    return once(("sequence-parity", s), TRAIN_SECONDS * s.hidden / 100 * _parity_items(s) * s.epochs)


def _history_seconds(s: ParitySettings) -> float:
    return HISTORY_SECONDS * _parity_items(s) * _records(s)


def length_seconds(profile: str) -> float:
    s = scale(profile)["parity"]
    return _train_seconds(s) + _history_seconds(s)


def mergers_seconds(profile: str) -> float:
    return length_seconds(profile)


def theory_seconds(profile: str) -> float:
    s = scale(profile)["parity"]
    return length_seconds(profile) + FIT_SECONDS * s.theory_pairs * _records(s)


def phase_seconds(profile: str) -> float:
    s = scale(profile)["phase"]
    sequences = sum(2**n for n in range(1, s.max_length + 1)) * sum(s.fractions) / len(s.fractions)
    return once(("sequence-phase", s), GRID_SECONDS * s.hidden / 100 * len(s.gains) * len(s.fractions)
                * s.epochs * sequences)


def _claims(result: StudyResult) -> list[Claim]:
    return [
        Claim(claim=c.statement, metric=f"{c.name} (docs/claims-sequences.md)", measured=c.value,
              relation=c.relation, threshold=c.threshold, seeds=1)
        for c in result.claims
    ]


def _output(results: list[StudyResult], settings: Any, counts: dict[str, int]) -> ExperimentOutput:
    return ExperimentOutput(
        summary=json_ready({"settings": dataclasses.asdict(settings), "numbers": {r.name: r.numbers for r in results}}),
        claims=[c for r in results for c in _claims(r)],
        figures=[p for r in results for p in r.figures],
        counts=counts,
    )


def _unfinished(record: dict[str, Any], settings: Any, counts: dict[str, int]) -> ExperimentOutput:
    """No claims from a trial that raised: its error goes to the summary (the command line exits 1)."""
    return ExperimentOutput(summary=json_ready({"settings": dataclasses.asdict(settings), "error": record.get("error")}),
                            claims=[], counts=counts)


def _run_on_parity(options: RunOptions, studies: list[Callable[[ParityRun, Path], StudyResult]]) -> ExperimentOutput:
    settings = scale(options.profile)["parity"]
    [record] = options.sweep(parity_trial, [settings])
    counts = status_counts([record])
    if failed(record):
        return _unfinished(record, settings, counts)
    _, data, _ = parity_data(settings)
    run = analyse_parity(PrefixTracking.from_arrays(data, record), settings)
    options.out.mkdir(parents=True, exist_ok=True)
    return _output([study(run, options.out) for study in studies], settings, counts)


def run_length(options: RunOptions) -> ExperimentOutput:
    """``seq-length``: length generalisation and the tree-then-merge history (claims C1, C2)."""
    return _run_on_parity(options, [length_generalisation])


def run_mergers(options: RunOptions) -> ExperimentOutput:
    """``seq-mergers``: every merged pair agrees, and the length threshold of mergers (claims C3, C4)."""
    return _run_on_parity(options, [merged_pairs, length_threshold])


def run_theory(options: RunOptions) -> ExperimentOutput:
    """``seq-theory``: the theory's endpoint per prefix pair against the network (claims C6)."""
    return _run_on_parity(options, [theory_endpoint])


def run_phase(options: RunOptions) -> ExperimentOutput:
    """``seq-phase``: the gain x data-fraction phase diagram (claims C5)."""
    settings = scale(options.profile)["phase"]
    [record] = options.sweep(phase_trial, [settings])
    counts = status_counts([record])
    if failed(record):
        return _unfinished(record, settings, counts)
    options.out.mkdir(parents=True, exist_ok=True)
    return _output([phase_diagram(settings, options.out, grid=PhaseGrid.from_arrays(record))], settings, counts)
