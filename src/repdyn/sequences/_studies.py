"""The follow-up's experiments on streaming parity, each returning its numbers, claims and figures.

Every study runs at three scales (:data:`SCALES`): ``"smoke"`` (seconds, to
test the code), ``"reduced"`` (complete data to length 8, minutes on two CPU
cores) and ``"paper"`` (the follow-up's settings: length 10, its test
lengths, a 20 x 20 grid). The thresholds of
the claims are the named constants below; ``docs/claims-sequences.md`` gives
each one's reason, fixed before the first run.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.sequences._automata import Automaton, counterexample, minimize
from repdyn.sequences._data import SequenceData, complete, length_sets, random_sequences, sampled
from repdyn.sequences._extraction import (
    AutomatonHistory,
    ExtractedAutomaton,
    automaton_history,
    close_pairs,
    cluster_states,
    extract_at,
    label_order,
    state_scale,
)
from repdyn.sequences._grid import train_elman_grid
from repdyn.sequences._models import ElmanRNN
from repdyn.sequences._pairs import fit_pairs, pair_variables, predict_merger, task_states
from repdyn.sequences._plots import (
    AGREE_COLOUR,
    DISAGREE_COLOUR,
    draw_history,
    save,
    style,
)
from repdyn.sequences._tasks import parity
from repdyn.sequences._tracking import PrefixTracking, measure_prefixes, track_prefixes
from repdyn.track import sample_pairs
from repdyn.vocabulary import json_ready

# Thresholds of the claims (docs/claims-sequences.md gives each one's reason).
#: A loss below this is "learned": the spec's statistical test's bar, 250x below the 0.25 plateau.
LEARNED_LOSS = 1e-3
#: A loss below this has "dropped": a fifth of the plateau of the constant output (0.25).
DROP_LOSS = 0.05
#: Epochs within which the losses of every length, and closure, must drop together (10% of the run).
DROP_WINDOW = 100
#: The state count must rise at least this many times over its start (the tree).
TREE_RISE = 3.0
#: ... and end at most this share of its peak (the merge).
MERGE_FALL = 0.5
#: Every merged pair agrees: the share of agreeing pairs among the final mergers.
ALL_AGREE = 1.0
#: Merger predictions must reach this balanced accuracy.
MERGER_ACCURACY = 0.8
#: A phase-diagram cell generalises at this accuracy on length-100 sequences ...
GENERALISES = 0.99
#: ... and the sparsest-data row may average at most this (chance is 0.5).
CHANCE_BAND = 0.75
#: Accuracies outside (LOW, HIGH) count as decided: a sharp boundary leaves few cells between.
SHARP_LOW, SHARP_HIGH = 0.6, 0.95
#: Share of cells that must be decided.
SHARP_SHARE = 0.8
#: The loss of the constant output (0.5, 0.5) on one-hot targets: the plateau and the baseline.
PLATEAU_LOSS = 0.25


@dataclass(frozen=True)
class ParitySettings:
    """One tracked training run on complete parity data (the follow-up's main run, its App C.1).

    Attributes
    ----------
    max_length : int
        Training data: every sequence of length 1 .. max_length.
    hidden, gain, lr, epochs, batch_size, seed
        Network and SGD (MSE loss, ReLU, ``h_0`` all ones).
    record_every : int
        Record every this many epochs.
    test_sets : tuple of (length, count)
        Random test sequences per length.
    long_check : tuple of (length, count)
        Random sequences on which the final automaton is run against the task.
    eps_factor : float
        eps = eps_factor x :func:`state_scale` over ``eps_records``.
    eps_records : {"final", "all"}
    theory_pairs : int
        Prefix pairs (half agreeing) the theory is fitted to.
    """

    max_length: int = 8
    hidden: int = 100
    gain: float = 0.1
    lr: float = 0.02
    epochs: int = 1000
    batch_size: int = 128
    seed: int = 0
    record_every: int = 5
    test_sets: tuple[tuple[int, int], ...] = ((50, 10), (1000, 10))
    long_check: tuple[int, int] = (1000, 20)
    eps_factor: float = 0.01
    eps_records: str = "final"
    theory_pairs: int = 200


@dataclass(frozen=True)
class PhaseSettings:
    """The gain x data-fraction grid (the follow-up's Fig 9).

    Attributes
    ----------
    max_length : int
    gains, fractions : tuple of float
        Initial gains and expected fractions of each length's sequences kept.
    epochs : int
        Cap; a cell stops once its epoch loss is below ``stop_loss``.
    stop_loss, lr, loss, hidden, batch_size, seed
    test_length, test_count : int
        Accuracy on this many random sequences of this length.
    eps_factor : float
        States at convergence: clusters within eps_factor x :func:`state_scale` of the final snapshot.
    """

    max_length: int = 8
    gains: tuple[float, ...] = tuple(float(g) for g in np.linspace(0.1, 1.0, 5))
    fractions: tuple[float, ...] = tuple(float(p) for p in np.linspace(0.1, 1.0, 5))
    epochs: int = 3000
    stop_loss: float = 1e-3
    lr: float = 0.03
    loss: str = "cross_entropy"
    hidden: int = 100
    batch_size: int = 128
    seed: int = 0
    test_length: int = 100
    test_count: int = 30
    eps_factor: float = 0.1


#: The scales of every study: ``"smoke"`` tests the code end to end in seconds (its numbers
#: say nothing about the follow-up), ``"reduced"`` runs on two CPU cores, ``"paper"`` is the follow-up's.
SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "parity": ParitySettings(max_length=4, hidden=16, gain=0.5, lr=0.05, epochs=30, record_every=5,
                                 test_sets=((12, 4),), long_check=(30, 4), theory_pairs=8),
        "phase": PhaseSettings(max_length=3, hidden=8, gains=(0.2, 1.0), fractions=(0.5, 1.0), epochs=10,
                               test_length=12, test_count=6),
    },
    "reduced": {"parity": ParitySettings(), "phase": PhaseSettings()},
    "paper": {
        "parity": ParitySettings(
            max_length=10,
            test_sets=((50, 100), (25, 10), (100, 10), (250, 10), (1000, 10), (2500, 10), (10000, 10)),
        ),
        "phase": PhaseSettings(
            max_length=10,
            gains=tuple(float(g) for g in np.linspace(0.1, 1.0, 20)),
            fractions=tuple(float(p) for p in np.linspace(0.1, 1.0, 20)),
            epochs=1_000_000,
        ),
    },
}


@dataclass(frozen=True)
class ClaimCheck:
    """One claim judged on a run: ``value relation threshold``."""

    name: str
    statement: str
    value: float
    relation: str
    threshold: float
    holds: bool

    def __str__(self) -> str:
        verdict = "holds" if self.holds else "FAILS"
        return f"{self.name}: {verdict} ({self.value:.4g} {self.relation} {self.threshold:.4g}) {self.statement}"


_RELATIONS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
}


def _claim(name: str, statement: str, value: float | None, relation: str, threshold: float) -> ClaimCheck:
    v = float("nan") if value is None else float(value)
    holds = bool(np.isfinite(v) and _RELATIONS[relation](v, threshold))
    return ClaimCheck(
        name=name, statement=statement, value=v, relation=relation, threshold=float(threshold), holds=holds
    )


@dataclass(frozen=True, eq=False)
class StudyResult:
    """What a study found: its numbers (JSON-ready), its claims, its figures."""

    name: str
    numbers: dict[str, Any]
    claims: list[ClaimCheck]
    figures: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return json_ready({
            "name": self.name,
            "numbers": self.numbers,
            "claims": [dataclasses.asdict(c) for c in self.claims],
            "figures": [str(p) for p in self.figures],
        })


@dataclass(frozen=True, eq=False)
class ParityRun:
    """A tracked parity run and its automata.

    Attributes
    ----------
    settings : ParitySettings
    task : Automaton
    tracking : PrefixTracking
    eps : float
        The claims' threshold (``eps_factor x state_scale(eps_records)``).
    history : AutomatonHistory
        Leader clustering at ``eps`` (the claims').
    alternatives : dict of AutomatonHistory
        ``"leader, pooled eps"`` (the authors' eps: 0.01 x the std pooled
        over the run) and ``"single linkage"`` (at ``eps``), for comparison.
    final : ExtractedAutomaton
        The last record's automaton (leader, ``eps``).
    """

    settings: ParitySettings
    task: Automaton
    tracking: PrefixTracking
    eps: float
    history: AutomatonHistory
    alternatives: dict[str, AutomatonHistory]
    final: ExtractedAutomaton


def _settings(value: Any, kind: type, scale_key: str) -> Any:
    if isinstance(value, str):
        checks.choice("settings", value, tuple(SCALES))
        return SCALES[value][scale_key]
    if not isinstance(value, kind):
        raise checks.ArgumentTypeError(
            "settings", f"settings must be a scale name ({', '.join(SCALES)}) or a {kind.__name__}; "
            f"got {checks.describe(value)}"
        )
    return value


def parity_data(settings: ParitySettings | str = "reduced") -> tuple[Automaton, SequenceData, dict[int, SequenceData]]:
    """The parity task, its complete training data and the test sets of ``settings``."""
    s = _settings(settings, ParitySettings, "parity")
    task = parity()
    tests: dict[int, SequenceData] = {}
    for i, (length, count) in enumerate(s.test_sets):
        tests[length] = length_sets(task, [length], count, seed=s.seed + 1000 + i)[length]
    return task, complete(task, s.max_length), tests


def train_parity(settings: ParitySettings | str = "reduced") -> PrefixTracking:
    """Train the follow-up's network on complete parity data, tracking every prefix (no analysis).

    Parameters
    ----------
    settings : ParitySettings or {"smoke", "reduced", "paper"}, default "reduced"

    Returns
    -------
    PrefixTracking
        What :func:`analyse_parity` reads; ``to_arrays`` makes it a cacheable trial result.
    """
    s = _settings(settings, ParitySettings, "parity")
    task, data, tests = parity_data(s)
    model = ElmanRNN(task.n_symbols, s.hidden, task.n_outputs, gain=s.gain, seed=s.seed)
    return track_prefixes(
        model, data, epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, record_every=s.record_every,
        test_sets=tests, seed=s.seed,
    )


def analyse_parity(tracking: PrefixTracking, settings: ParitySettings | str = "reduced") -> ParityRun:
    """The automata of a tracked parity run (:func:`train_parity`): eps, the histories, the final automaton.

    Parameters
    ----------
    tracking : PrefixTracking
        A run made with ``settings``.
    settings : ParitySettings or {"smoke", "reduced", "paper"}, default "reduced"
    """
    s = _settings(settings, ParitySettings, "parity")
    if not isinstance(tracking, PrefixTracking):
        raise checks.ArgumentTypeError(
            "tracking", f"tracking must be a PrefixTracking; got {checks.describe(tracking)}")
    task = parity()
    eps = s.eps_factor * state_scale(tracking, records=s.eps_records)
    history = automaton_history(tracking, eps=eps, task=task)
    pooled = 0.01 * state_scale(tracking, records="all")
    alternatives = {
        "leader, pooled eps": automaton_history(tracking, eps=pooled, task=task),
        "single linkage": automaton_history(tracking, eps=eps, method="single_linkage", task=task),
    }
    return ParityRun(
        settings=s, task=task, tracking=tracking, eps=eps, history=history, alternatives=alternatives,
        final=extract_at(tracking, -1, eps=eps),
    )


def run_parity(settings: ParitySettings | str = "reduced") -> ParityRun:
    """Train the follow-up's network on complete parity data, tracking every prefix, and extract its automata.

    :func:`train_parity`, then :func:`analyse_parity`.

    Parameters
    ----------
    settings : ParitySettings or {"smoke", "reduced", "paper"}, default "reduced"

    Returns
    -------
    ParityRun
    """
    s = _settings(settings, ParitySettings, "parity")
    return analyse_parity(train_parity(s), s)


def _drop_epoch(epochs: np.ndarray, loss: np.ndarray) -> int | None:
    hits = np.flatnonzero(loss < DROP_LOSS)
    return int(epochs[hits[0]]) if hits.size else None


def _long_accuracy(automaton: Automaton, task: Automaton, length: int, count: int, seed: int) -> float:
    test = random_sequences(task, length, count, seed=seed)
    return float(np.mean(automaton.run(test.symbols, test.lengths) == test.targets))


def length_generalisation(run: ParityRun, out: Path | str | None = None) -> StudyResult:
    """Length generalisation and the tree-then-merge history (the follow-up's Figs 1, 4, 6, 8).

    Numbers: the loss on the training set and every test length at every
    record, the epoch each drops below :data:`DROP_LOSS`, the automaton's
    states (start, peak, end), closure, conflicts and minimal size over
    training, and the final automaton against the task.

    Parameters
    ----------
    run : ParityRun
    out : path, optional
        Folder of the figure ``length_generalisation.png``; no figure without it.
    """
    tr, hist = run.tracking, run.history
    epochs = tr.epochs
    losses = {"train": tr.train_loss, **{f"length {k}": v for k, v in tr.test_loss.items()}}
    drops = {k: _drop_epoch(epochs, v) for k, v in losses.items()}
    peak = int(np.argmax(hist.n_states))
    small = minimize(run.final.automaton)
    long_len, long_count = run.settings.long_check
    long_acc = _long_accuracy(run.final.automaton, run.task, long_len, long_count, seed=run.settings.seed + 2000)
    longest = max(tr.test_loss)
    known = [d for d in drops.values() if d is not None]
    drop_spread = (max(known) - min(known)) if len(known) == len(drops) else None
    closed_correct = hist.first_correct_closed_epoch
    train_drop = drops["train"]
    closure_lag = None if closed_correct is None or train_drop is None else abs(closed_correct - train_drop)
    numbers: dict[str, Any] = {
        "seconds": tr.seconds,
        "prefixes": tr.data.n_items,
        "eps": run.eps,
        "final_loss": {k: float(v[-1]) for k, v in losses.items()},
        "final_accuracy": {"train": float(tr.train_accuracy[-1]),
                           **{f"length {k}": float(v[-1]) for k, v in tr.test_accuracy.items()}},
        "drop_epoch": drops,
        "drop_spread": drop_spread,
        "states_start": int(hist.n_states[0]),
        "states_peak": int(hist.n_states[peak]),
        "peak_epoch": int(epochs[peak]),
        "states_final": int(hist.n_states[-1]),
        "closed_final": bool(hist.closed[-1]),
        "conflicts_final": int(hist.conflicts[-1]),
        "minimal_final": int(hist.minimal_states[-1]),
        "equivalent_final": bool(hist.equivalent[-1]) if hist.equivalent is not None else None,
        "check_length": hist.check_length,
        "counterexample_final": counterexample(run.final.automaton, run.task, hist.check_length or 1),
        "long_sequence_accuracy": long_acc,
        "long_check": list(run.settings.long_check),
        "first_closed_epoch": hist.first_closed_epoch,
        "first_correct_closed_epoch": closed_correct,
        "first_generalising_epoch": hist.first_generalising_epoch,
        "closure_lag": closure_lag,
        "history": hist.to_dict(),
        "alternatives": {
            name: {"eps": h.eps, "states_final": int(h.n_states[-1]), "states_peak": int(h.n_states.max()),
                   "closed_final": bool(h.closed[-1]), "minimal_final": int(h.minimal_states[-1]),
                   "conflicts_final": int(h.conflicts[-1]),
                   "first_correct_closed_epoch": h.first_correct_closed_epoch}
            for name, h in run.alternatives.items()
        },
        "plateau_loss": PLATEAU_LOSS,
    }
    claims = [
        _claim("C1a", f"the loss at test length {longest} ends below {LEARNED_LOSS:g}",
               tr.test_loss[longest][-1], "<", LEARNED_LOSS),
        _claim("C1b", f"train and every test loss drop below {DROP_LOSS:g} within {DROP_WINDOW} epochs of each other",
               drop_spread, "<=", DROP_WINDOW),
        _claim("C2a", f"the state count rises to at least {TREE_RISE:g}x its start",
               hist.n_states[peak] / hist.n_states[0], ">=", TREE_RISE),
        _claim("C2b", f"the state count ends at most {MERGE_FALL:g}x its peak",
               hist.n_states[-1] / hist.n_states[peak], "<=", MERGE_FALL),
        _claim("C2c", "the final automaton is closed", float(hist.closed[-1]), "==", 1.0),
        _claim("C2d", "the final automaton minimises to the 2-state parity automaton",
               float(hist.minimal_states[-1]), "==", 2.0),
        _claim("C2e", f"the final automaton is right on {long_count} random length-{long_len} sequences",
               long_acc, "==", 1.0),
        _claim("C2f", f"the automaton is first closed and right on the training set within {DROP_WINDOW} "
               "epochs of the training-loss drop", closure_lag, "<=", DROP_WINDOW),
    ]
    figures = [] if out is None else [_draw_length_generalisation(run, losses, small, Path(out))]
    return StudyResult("length_generalisation", numbers, claims, figures)


def _draw_length_generalisation(run: ParityRun, losses: dict[str, np.ndarray], small: Automaton, out: Path) -> Path:
    return draw_history(
        out / "length_generalisation.png", run.tracking, run.history, small, losses=losses,
        baseline=(PLATEAU_LOSS, "constant output (baseline)"), output_names=("even", "odd"),
        title=f"Streaming parity, Elman RNN (gain {run.settings.gain}); hidden states coloured by parity "
        "(blue even, red odd), lines join a prefix to its extensions",
    )


def _final_points(run: ParityRun) -> np.ndarray:
    return run.tracking.states[-1].astype(np.float64)


def merged_pairs(run: ParityRun, out: Path | str | None = None) -> StudyResult:
    """Every pair of prefixes merged at the end agrees on all continuations (the follow-up's Sec 4.2).

    A pair is merged when its final hidden states are closer than the run's
    eps; it agrees when both prefixes lead to the same state of the task's
    minimal automaton (for parity: the same parity).
    """
    data = run.tracking.data
    states = task_states(run.task, data)[:-1]
    pairs = close_pairs(_final_points(run), run.eps)
    agree = states[pairs[:, 0]] == states[pairs[:, 1]] if len(pairs) else np.zeros(0, dtype=bool)
    n = data.n_items
    counts = np.bincount(states, minlength=int(states.max()) + 1)
    same_total = int(np.sum(counts * (counts - 1) // 2))
    all_total = n * (n - 1) // 2
    share = float(agree.mean()) if len(pairs) else None
    numbers = {
        "eps": run.eps,
        "merged_pairs": int(len(pairs)),
        "merged_agreeing": int(agree.sum()),
        "merged_disagreeing": int((~agree).sum()),
        "agreeing_share": share,
        "baseline_agreeing_share": same_total / all_total,
        "pairs_total": all_total,
        "agreeing_pairs_total": same_total,
        "merged_share_of_agreeing": float(agree.sum()) / same_total if same_total else None,
    }
    claims = [
        _claim("C3a", "some pairs of prefixes merge", len(pairs), ">=", 1),
        _claim("C3b", "every merged pair agrees on all continuations", share, ">=", ALL_AGREE),
    ]
    figures = [] if out is None else [_draw_merged_pairs(run, states, Path(out))]
    return StudyResult("merged_pairs", numbers, claims, figures)


def _draw_merged_pairs(run: ParityRun, states: np.ndarray, out: Path) -> Path:
    points = _final_points(run)
    sq = np.einsum("ij,ij->i", points, points)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * points @ points.T, 0.0))
    i, j = np.triu_indices(len(points), k=1)
    d = dist[i, j]
    agree = states[i] == states[j]
    floor = run.eps / 100
    bins = np.logspace(np.log10(floor), np.log10(max(d.max(), run.eps * 10)), 60)
    with style() as plt:
        fig, ax = plt.subplots(figsize=(6.4, 3.6), layout="constrained")
        ax.hist(np.maximum(d[agree], floor), bins=bins, color=AGREE_COLOUR, alpha=0.7,
                label=f"agreeing pairs ({agree.sum()})")
        ax.hist(np.maximum(d[~agree], floor), bins=bins, color=DISAGREE_COLOUR, alpha=0.7,
                label=f"disagreeing pairs ({(~agree).sum()})")
        ax.axvline(run.eps, color="k", ls="--", lw=1.0, label=f"eps = {run.eps:.3g} (merged below)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"final distance between hidden states (values below {floor:.2g} drawn at it)")
        ax.set_ylabel("pairs of prefixes")
        ax.set_title("Final distances of all prefix pairs: only agreeing pairs merge")
        ax.legend()
        return save(fig, out / "merged_pairs.png")


def length_threshold(run: ParityRun, out: Path | str | None = None) -> StudyResult:
    """The share of agreeing pairs merged at the end, by prefix lengths (the follow-up's Fig 7).

    ``f(m)``: merged share of agreeing pairs whose shorter prefix has length ``m``.
    """
    data = run.tracking.data
    states = task_states(run.task, data)[:-1]
    L = data.max_length
    pairs = close_pairs(_final_points(run), run.eps)
    merged = np.zeros((L + 1, L + 1))
    total = np.zeros((L + 1, L + 1))
    lengths = data.lengths
    for s in np.unique(states):
        rows = np.flatnonzero(states == s)
        counts = np.bincount(lengths[rows], minlength=L + 1)
        total += np.outer(counts, counts) - np.diag(counts)  # ordered pairs of distinct prefixes
    if len(pairs):
        ok = states[pairs[:, 0]] == states[pairs[:, 1]]
        a, b = lengths[pairs[ok, 0]], lengths[pairs[ok, 1]]
        np.add.at(merged, (a, b), 1)
        np.add.at(merged, (b, a), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = merged / total
    by_min = []
    for m in range(1, L + 1):
        mask = np.minimum.outer(np.arange(L + 1), np.arange(L + 1)) == m
        t = total[mask].sum()
        by_min.append(float(merged[mask].sum() / t) if t else float("nan"))
    f = np.array(by_min)
    positive = np.flatnonzero(f > 0) + 1
    threshold = int(positive[0]) if positive.size else None
    contiguous = bool(positive.size and np.all(f[positive[0] - 1 :] > 0))
    numbers = {
        "eps": run.eps,
        "merged_share_by_min_length": {int(m): v for m, v in zip(range(1, L + 1), by_min, strict=True)},
        "first_merging_min_length": threshold,
        "positive_from_threshold_on": contiguous,
        "share_matrix": np.where(np.isfinite(share[1:, 1:]), share[1:, 1:], -1.0).tolist(),
    }
    claims = [
        _claim("C4a", "no agreeing pair whose shorter prefix has length 1 merges", f[0], "==", 0.0),
        _claim("C4b", f"some but not all agreeing pairs of two length-{L} prefixes merge (lower bound)",
               f[L - 1], ">", 0.0),
        _claim("C4c", f"some but not all agreeing pairs of two length-{L} prefixes merge (upper bound)",
               f[L - 1], "<", 1.0),
        _claim("C4d", "the merged share is positive at every length from its first positive one on",
               float(contiguous), "==", 1.0),
    ]
    figures = [] if out is None else [_draw_length_threshold(run, share, f, Path(out))]
    return StudyResult("length_threshold", numbers, claims, figures)


def _draw_length_threshold(run: ParityRun, share: np.ndarray, f: np.ndarray, out: Path) -> Path:
    L = len(f)
    with style() as plt:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10.5, 3.8), layout="constrained", gridspec_kw={"wspace": 0.12})
        image = ax1.imshow(share[1:, 1:], origin="lower", cmap="viridis", vmin=0,
                           extent=(0.5, L + 0.5, 0.5, L + 0.5))
        fig.colorbar(image, ax=ax1, label="merged share of agreeing pairs")
        ax1.set_xlabel("length of prefix 2, $m_2$")
        ax1.set_ylabel("length of prefix 1, $m_1$")
        ax1.set_title("Mergers by prefix lengths (white: no agreeing pair)")
        ax2.plot(np.arange(1, L + 1), f, "o-", color="k")
        ax2.set_xlabel("length of the shorter prefix, min($m_1$, $m_2$)")
        ax2.set_ylabel("merged share of agreeing pairs")
        ax2.set_title("Only long enough prefixes merge")
        ax2.set_ylim(bottom=0)
        return save(fig, out / "length_threshold.png")


def _balanced_accuracy(predicted: np.ndarray, observed: np.ndarray) -> float | None:
    if observed.all() or not observed.any():
        return None
    return float(0.5 * (np.mean(predicted[observed]) + np.mean(~predicted[~observed])))


def theory_endpoint(run: ParityRun, out: Path | str | None = None) -> StudyResult:
    """The theory's final distance and merger per prefix pair against the network (the follow-up's eqs 5-7).

    Pairs are drawn half agreeing, half not. Each pair's rate ratio ``rho``
    is fitted to its own (H, Y, W) trajectory with :func:`repdyn.theory.fit`.
    The prediction that counts is *held out*: ``rho`` is the median of the
    other pairs' fitted ``rho`` with the same shorter-prefix length and
    agreement, and ``H_inf`` then follows from the pair's measured initial
    ``H``, ``Y`` and its ``D2``. Baselines: "nothing changes" (``H_0``) for
    the distance, "a pair merges iff no continuation distinguishes it" (``D2 = 0``) for mergers.
    """
    tr = run.tracking
    data = tr.data
    states = task_states(run.task, data)[:-1]
    drawn = sample_pairs(states, run.settings.theory_pairs, seed=run.settings.seed)
    variables = pair_variables(tr, drawn.pairs)
    fitted = fit_pairs(variables)
    final_h = variables.h[:, -1]
    observed = np.sqrt(final_h) < run.eps
    min_len = variables.lengths.min(axis=1)
    log_rho = np.log(fitted.rho)
    held_rho = np.full(len(final_h), np.nan)
    for p in range(len(final_h)):
        others = fitted.fitted & (np.arange(len(final_h)) != p) & (drawn.same == drawn.same[p])
        group = others & (min_len == min_len[p])
        pool = group if group.any() else others
        if pool.any():
            held_rho[p] = float(np.exp(np.median(log_rho[pool])))
    ok = fitted.fitted & np.isfinite(held_rho)
    held = predict_merger(
        np.where(ok, variables.h[:, 0], 1.0), np.where(ok, variables.y[:, 0], 0.0),
        np.where(ok, variables.d2, 0.0), np.where(ok, held_rho, 1.0),
    )
    held_merge = held.merges & ok
    d2_rule = variables.d2 == 0
    disagree = ok & (variables.d2 > 0)
    log_err = np.abs(np.log10(held.h_inf[disagree] / final_h[disagree]))
    base_err = np.abs(np.log10(variables.h[disagree, 0] / final_h[disagree]))
    in_sample_err = np.abs(np.log10(fitted.prediction.h_inf[disagree] / final_h[disagree]))
    acc_held = _balanced_accuracy(held_merge[ok], observed[ok])
    acc_d2 = _balanced_accuracy(d2_rule[ok], observed[ok])
    acc_in = _balanced_accuracy(fitted.prediction.merges[ok], observed[ok])
    med = lambda v: float(np.median(v)) if v.size else None  # noqa: E731
    # With D2 = 0 an isolated pair has W = Y >= 0, so its H can only fall; a rise means other pairs drive it.
    agree_rows = fitted.fitted & (variables.d2 == 0)
    rising = int(np.sum(variables.h[agree_rows].max(axis=1) > 2 * variables.h[agree_rows, 0]))
    numbers = {
        "pairs": int(len(final_h)),
        "fitted": int(fitted.fitted.sum()),
        "quality": {q: int(np.sum(fitted.quality == q)) for q in ("good", "poor", "unfit")},
        "median_r2": {v: med(fitted.r2[v][fitted.fitted]) for v in fitted.r2},
        "observed_mergers": int(observed[ok].sum()),
        "predicted_mergers_held_out": int(held_merge.sum()),
        "merger_balanced_accuracy": {"held_out": acc_held, "in_sample": acc_in, "baseline_d2_rule": acc_d2,
                                     "baseline_never": 0.5},
        "median_log10_error_disagreeing": {"held_out": med(log_err), "in_sample": med(in_sample_err),
                                           "baseline_no_change": med(base_err)},
        "disagreeing_pairs": int(disagree.sum()),
        "agreeing_pairs_whose_h_more_than_doubles": rising,
        "agreeing_pairs": int(agree_rows.sum()),
        "median_rho": {"agreeing": med(fitted.rho[fitted.fitted & drawn.same]),
                       "disagreeing": med(fitted.rho[fitted.fitted & ~drawn.same])},
    }
    claims = [
        _claim("C6a", f"held-out merger predictions reach balanced accuracy {MERGER_ACCURACY:g}",
               acc_held, ">=", MERGER_ACCURACY),
        _claim("C6b", "held-out merger predictions beat the D2 = 0 rule (balanced accuracy)",
               None if acc_held is None or acc_d2 is None else acc_held - acc_d2, ">", 0.0),
        _claim("C6c", "held-out H_inf of disagreeing pairs beats 'no change' (median |log10 error| difference)",
               None if not log_err.size else med(base_err) - med(log_err), ">", 0.0),  # type: ignore[operator]
    ]
    figures = [] if out is None else [
        _draw_theory_endpoint(run, variables, fitted, held.h_inf, drawn.same, ok, Path(out))
    ]
    return StudyResult("theory_endpoint", numbers, claims, figures)


def _draw_theory_endpoint(
    run: ParityRun, variables: Any, fitted: Any, held: np.ndarray, same: np.ndarray, ok: np.ndarray, out: Path,
) -> Path:
    h0, final = variables.h[:, 0], variables.h[:, -1]
    floor = (run.eps / 10) ** 2
    panels = (("theory, rho held out", held), ("theory, rho fitted to the pair", fitted.prediction.h_inf),
              ("baseline: no change (H_0)", h0))
    with style() as plt:
        fig = plt.figure(figsize=(12, 7.6), layout="constrained")
        grid = fig.add_gridspec(2, 12)
        axes = [fig.add_subplot(grid[0, 4 * k : 4 * k + 4]) for k in range(3)]
        lo = floor / 2
        hi = max(np.nanmax(final[ok]), np.nanmax(np.where(ok, held, np.nan)), np.nanmax(h0[ok])) * 2
        for ax, (title, predicted) in zip(axes, panels, strict=True):
            groups = ((ok & same, AGREE_COLOUR, "agreeing"), (ok & ~same, DISAGREE_COLOUR, "disagreeing"))
            for mask, colour, name in groups:
                ax.scatter(np.maximum(predicted[mask], floor), np.maximum(final[mask], floor), s=10, c=colour,
                           label=f"{name} ({mask.sum()})", alpha=0.8, linewidths=0)
            ax.plot([lo, hi], [lo, hi], color="0.4", lw=0.8, ls="--", label="equal")
            ax.axhline(run.eps**2, color="k", lw=0.8, ls=":", label="merged below (eps^2)")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlim(lo, hi)
            ax.set_ylim(lo, hi)
            ax.set_xlabel(f"predicted final H (below {floor:.1g} at it)")
            ax.set_ylabel("network's final H")
            ax.set_title(title)
        axes[0].legend(loc="upper left")
        # Example trajectories: two agreeing and two disagreeing pairs, network against the pair's own fit.
        fits = fitted.result.split() if fitted.result is not None else []
        order = np.flatnonzero(ok)
        examples = [*order[same[order]][:2], *order[~same[order]][:2]]
        for k, p in enumerate(examples):
            ax = fig.add_subplot(grid[1, 3 * k : 3 * k + 3])
            item = fits[int(np.flatnonzero(order == p)[0])]
            colour = AGREE_COLOUR if same[p] else DISAGREE_COLOUR
            for v, (name, style_) in enumerate((("H", "-"), ("Y", "--"))):
                ax.plot(variables.epochs, np.maximum(variables.observed()[p, :, v], floor), style_, color=colour,
                        lw=1.4, label=f"{name} network")
                ax.plot(item.t, np.maximum(item.predicted[:, v], floor), style_, color="k", lw=0.9,
                        label=f"{name} theory fit")
            a, b = run.tracking.data.labels[variables.pairs[p, 0]], run.tracking.data.labels[variables.pairs[p, 1]]
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_ylabel("H, Y")
            ax.set_title(f"{a} vs {b}: N={variables.n[p]}, D2={variables.d2[p]:g}, R2(h)={item.r2['h']:.2f}")
            if k == 0:
                ax.legend(loc="lower right")
        fig.suptitle("Prefix pairs: the theory's final H (eqs 5-7) against the network (top), "
                     "trajectories of four pairs with their own fits (bottom)")
        return save(fig, out / "theory_endpoint.png")


@dataclass(frozen=True, eq=False)
class PhaseGrid:
    """What the phase diagram measures on its trained networks, one value per (gain, fraction) cell.

    Attributes
    ----------
    accuracy : ndarray, shape (G, P)
        Argmax accuracy on the random test sequences.
    n_states : ndarray of int, shape (G, P)
        Clusters of the final hidden states (prefixes and ``h_0``) at eps_factor x their scale.
    stop_epoch : ndarray of int, shape (G, P)
    converged : ndarray of bool, shape (G, P)
        The epoch loss fell below ``stop_loss`` before the cap.
    training_items : ndarray of int, shape (P,)
        Training sequences drawn for each fraction.
    seconds : float
        Training time.
    """

    accuracy: np.ndarray
    n_states: np.ndarray
    stop_epoch: np.ndarray
    converged: np.ndarray
    training_items: np.ndarray
    seconds: float

    def to_arrays(self) -> dict[str, Any]:
        """A flat dict of arrays and scalars (a :mod:`repdyn.sweep` trial's result); :meth:`from_arrays` reads it."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Any]) -> PhaseGrid:
        """The grid :meth:`to_arrays` wrote."""
        return cls(
            accuracy=np.asarray(arrays["accuracy"], dtype=np.float64),
            n_states=np.asarray(arrays["n_states"], dtype=np.int64),
            stop_epoch=np.asarray(arrays["stop_epoch"], dtype=np.int64),
            converged=np.asarray(arrays["converged"], dtype=bool),
            training_items=np.asarray(arrays["training_items"], dtype=np.int64),
            seconds=float(arrays["seconds"]),
        )


def train_phase_grid(settings: PhaseSettings | str = "reduced") -> PhaseGrid:
    """Train one network per (gain, data fraction) cell and measure it (the follow-up's Fig 9, no claims).

    One network per cell, trained with cross-entropy until its epoch loss is
    below ``stop_loss`` (or the cap); the data of a fraction are the same for
    every gain, and every network starts from the same draw scaled by its gain.

    Parameters
    ----------
    settings : PhaseSettings or {"smoke", "reduced", "paper"}, default "reduced"
    """
    s = _settings(settings, PhaseSettings, "phase")
    task = parity()
    datasets = {p: sampled(task, s.max_length, fraction=p, seed=s.seed + j) for j, p in enumerate(s.fractions)}
    cells = [(g, p) for g in s.gains for p in s.fractions]
    models = [ElmanRNN(task.n_symbols, s.hidden, task.n_outputs, gain=g, seed=s.seed) for g, _ in cells]
    runs = train_elman_grid(
        models, [datasets[p] for _, p in cells], epochs=s.epochs, lr=s.lr, batch_size=s.batch_size,
        loss=s.loss, stop_loss=s.stop_loss, seed=s.seed,
    )
    test = random_sequences(task, s.test_length, s.test_count, seed=s.seed + 3000)
    shape = (len(s.gains), len(s.fractions))
    accuracy, n_states = np.zeros(shape), np.zeros(shape, dtype=np.int64)
    for k, ((_, p), model) in enumerate(zip(cells, runs.models, strict=True)):
        i, j = divmod(k, len(s.fractions))
        data = datasets[p]
        states, _, h0, _ = measure_prefixes(model, data)
        _, test_out, _, _ = measure_prefixes(model, test)
        accuracy[i, j] = float(np.mean(test_out.argmax(axis=1) == test.targets))
        points = np.vstack([states, h0])
        scale = state_scale(points)
        if scale > 0:
            n_states[i, j] = int(cluster_states(points, s.eps_factor * scale, order=label_order(data)).max()) + 1
        else:
            n_states[i, j] = 1
    return PhaseGrid(
        accuracy=accuracy, n_states=n_states, stop_epoch=runs.stop_epoch.reshape(shape).astype(np.int64),
        converged=(runs.status == "converged").reshape(shape),
        training_items=np.array([datasets[p].n_items for p in s.fractions], dtype=np.int64), seconds=runs.seconds,
    )


def phase_diagram(
    settings: PhaseSettings | str = "reduced", out: Path | str | None = None, grid: PhaseGrid | None = None,
) -> StudyResult:
    """Accuracy on long sequences and states at convergence over gain x data fraction (the follow-up's Fig 9).

    Parameters
    ----------
    settings : PhaseSettings or {"smoke", "reduced", "paper"}, default "reduced"
    out : path, optional
        Folder of the figure ``phase_diagram.png``; no figure without it.
    grid : PhaseGrid, optional
        The trained grid of these settings (:func:`train_phase_grid`); trained here if not given.
    """
    s = _settings(settings, PhaseSettings, "phase")
    if grid is None:
        grid = train_phase_grid(s)
    elif not isinstance(grid, PhaseGrid):
        raise checks.ArgumentTypeError("grid", f"grid must be a PhaseGrid; got {checks.describe(grid)}")
    shape = (len(s.gains), len(s.fractions))
    if grid.accuracy.shape != shape:
        raise checks.ArgumentValueError(
            "grid", f"grid has {grid.accuracy.shape} cells; the settings have {shape} (gains x fractions)")
    accuracy, n_states, converged = grid.accuracy, grid.n_states, grid.converged
    decided = float(np.mean((accuracy <= SHARP_LOW) | (accuracy >= SHARP_HIGH)))
    numbers = {
        "seconds": grid.seconds,
        "gains": list(s.gains),
        "fractions": list(s.fractions),
        "accuracy": accuracy.tolist(),
        "states": n_states.tolist(),
        "stop_epoch": grid.stop_epoch.tolist(),
        "converged": converged.tolist(),
        "converged_cells": int(converged.sum()),
        "training_items": {str(p): int(n) for p, n in zip(s.fractions, grid.training_items, strict=True)},
        "decided_share": decided,
    }
    claims = [
        _claim("C5a", f"the cell of smallest gain and most data generalises (accuracy >= {GENERALISES:g})",
               accuracy[0, -1], ">=", GENERALISES),
        _claim("C5b", f"with the least data no gain generalises (mean accuracy <= {CHANCE_BAND:g})",
               accuracy[:, 0].mean(), "<=", CHANCE_BAND),
        _claim("C5c", f"the boundary is sharp: at least {SHARP_SHARE:g} of cells at accuracy <= {SHARP_LOW:g} "
               f"or >= {SHARP_HIGH:g}", decided, ">=", SHARP_SHARE),
        _claim("C5d", "small gain generalises more than large gain (mean accuracy, smallest minus largest gain)",
               accuracy[0].mean() - accuracy[-1].mean(), ">", 0.0),
    ]
    figures = [] if out is None else [_draw_phase_diagram(s, accuracy, n_states, converged, Path(out))]
    return StudyResult("phase_diagram", numbers, claims, figures)


def _draw_phase_diagram(s: PhaseSettings, accuracy: np.ndarray, n_states: np.ndarray, converged: np.ndarray,
                        out: Path) -> Path:
    from matplotlib.colors import LogNorm

    gains, fractions = np.array(s.gains), np.array(s.fractions)

    def edges(v: np.ndarray) -> np.ndarray:
        step = (v[-1] - v[0]) / max(len(v) - 1, 1) if len(v) > 1 else 0.1
        return np.concatenate([[v[0] - step / 2], v + step / 2])

    with style() as plt:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
        panels = ((accuracy, "viridis", None, f"accuracy on {s.test_count} length-{s.test_length} sequences"),
                  (n_states, "magma", LogNorm(vmin=max(1, n_states.min()), vmax=max(2, n_states.max())),
                   "states at the end (leader clustering)"))
        for ax, (values, cmap, norm, label) in zip(axes, panels, strict=True):
            kwargs = {"norm": norm} if norm is not None else {"vmin": 0.5, "vmax": 1.0}
            image = ax.pcolormesh(edges(fractions), edges(gains), values, cmap=cmap, **kwargs)
            fig.colorbar(image, ax=ax, label=label)
            for i in range(len(gains)):
                for j in range(len(fractions)):
                    text = f"{values[i, j]:.2f}" if values.dtype.kind == "f" else str(values[i, j])
                    red, green, blue, _ = image.cmap(image.norm(values[i, j]))
                    dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                    ax.text(fractions[j], gains[i], text + ("" if converged[i, j] else "*"), ha="center",
                            va="center", color="w" if dark else "k")
            ax.set_xticks(fractions, [f"{p:.2g}" for p in fractions])
            ax.set_yticks(gains, [f"{g:.2g}" for g in gains])
            ax.set_xlabel("training data fraction p")
            ax.set_ylabel("initial weight gain")
        axes[0].set_title("Generalisation to length " + str(s.test_length) + " (* = not converged)")
        axes[1].set_title("Automaton size at the end (* = not converged)")
        fig.suptitle(f"Streaming parity phase diagram: train to length {s.max_length}, cross-entropy until loss "
                     f"< {s.stop_loss:g} (cap {s.epochs} epochs)")
        return save(fig, out / "phase_diagram.png")


def run_studies(scale: str | dict[str, Any] = "reduced", out: Path | str | None = None) -> dict[str, StudyResult]:
    """Every study at one scale; figures and ``summary.json`` in ``out`` if given.

    Parameters
    ----------
    scale : {"smoke", "reduced", "paper"} or dict, default "reduced"
        A scale name, or ``{"parity": ParitySettings(...), "phase": PhaseSettings(...)}``.
    out : path, optional
    """
    if isinstance(scale, str):
        checks.choice("scale", scale, tuple(SCALES))
        scale = SCALES[scale]
    if not isinstance(scale, dict) or set(scale) != {"parity", "phase"}:
        raise checks.ArgumentTypeError(
            "scale", f"scale must be one of {', '.join(SCALES)} or a dict with keys 'parity' and 'phase'; "
            f"got {checks.describe(scale)}"
        )
    folder = None if out is None else Path(out)
    run = run_parity(scale["parity"])
    results = {
        "length_generalisation": length_generalisation(run, folder),
        "merged_pairs": merged_pairs(run, folder),
        "length_threshold": length_threshold(run, folder),
        "theory_endpoint": theory_endpoint(run, folder),
        "phase_diagram": phase_diagram(scale["phase"], folder),
    }
    if folder is not None:
        import json

        folder.mkdir(parents=True, exist_ok=True)
        summary = {name: r.to_dict() for name, r in results.items()}
        (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    return results
