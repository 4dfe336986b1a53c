"""A researcher's own sequence run: a task or their own sequences, a model, the automaton it learns.

:class:`SequenceRunConfig` resolves and checks everything a user gives
(``repdyn sequences`` builds one from its options); :func:`run_sequences`
trains with every prefix tracked (:func:`repdyn.sequences.track_prefixes`),
extracts the automaton at every record, counts the mergers and, for drawn
pairs of prefixes, fits the theory and predicts each pair's endpoint, and
writes it all to a folder.
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.runs._outputs import RunOutput, atomic_path, retire_index, write_json

#: Tasks by name: streaming parity, counting a symbol mod k, a random regular language (Moore machine).
SEQUENCE_TASKS = ("parity", "count", "random")
#: Sequence models by name (:mod:`repdyn.sequences`).
SEQUENCE_MODELS = ("elman", "gru", "transformer")
#: Each model's default gain: the follow-up's small init for its Elman RNN, PyTorch's scale for the others.
DEFAULT_GAINS = {"elman": 0.1, "gru": 1.0, "transformer": 1.0}
#: Test lengths when a task labels them (the reduced scale's).
DEFAULT_TEST_LENGTHS = (50, 1000)
#: Most symbols of a sequence file (one digit each).
MAX_FILE_SYMBOLS = 10


@dataclass(frozen=True, kw_only=True)
class SequenceRunConfig:
    """Everything a sequence run needs, checked when built.

    Parameters
    ----------
    task : {"parity", "count", "random"} or None, default "parity"
        The task that labels the training sequences (and test sequences); None
        with ``data``.
    modulus : int, default 3
        ``count``: the output is the number of ones mod ``modulus``.
    task_seed, max_states : int
        ``random``: the seed and the most states of the random Moore machine.
    data : path, optional
        A text file of the user's sequences: one per line, the symbols as
        digits, a space, the target class (``0110 0``); ``#`` starts a comment.
        Replaces ``task`` (no test sets, no comparison with a task).
    max_length : int, default 8
        With a task: training sequences of length 1 .. max_length.
    fraction : float, default 1.0
        With a task: the expected share of each length's sequences kept (1: complete data).
    model : {"elman", "gru", "transformer"}, default "elman"
    hidden : int, default 100
        Hidden units (the transformer's width).
    gain : float, optional
        Initial weight scale; default :data:`DEFAULT_GAINS` of the model.
    nonlinearity : {"relu", "tanh"}, default "relu"
        The Elman RNN's.
    heads, layers : int
        The transformer's attention heads and blocks.
    lr, optimizer, loss, epochs, batch_size, record_every, seed
        Training (:func:`repdyn.sequences.track_prefixes`).
    test_lengths : tuple of int, optional
        Test-set lengths (a task only); default :data:`DEFAULT_TEST_LENGTHS`.
    test_count : int, default 10
        Random sequences per test length.
    eps_factor : float, default 0.01
        Two states are one when closer than eps_factor x :func:`repdyn.sequences.state_scale`.
    eps_records : {"final", "all"}, default "final"
    clustering : {"leader", "single_linkage"}, default "leader"
    pairs : int, default 0
        Pairs of prefixes (half agreeing) whose theory is fitted; 0 fits none.
    max_record_mb : float, default 500
    """

    task: str | None = "parity"
    modulus: int = 3
    task_seed: int = 0
    max_states: int = 7
    data: Path | None = None
    max_length: int = 8
    fraction: float = 1.0
    model: str = "elman"
    hidden: int = 100
    gain: float | None = None
    nonlinearity: str = "relu"
    heads: int = 2
    layers: int = 1
    lr: float = 0.02
    optimizer: str = "sgd"
    loss: str = "mse"
    epochs: int = 1000
    batch_size: int = 128
    record_every: int = 5
    seed: int = 0
    test_lengths: tuple[int, ...] | None = None
    test_count: int = 10
    eps_factor: float = 0.01
    eps_records: str = "final"
    clustering: str = "leader"
    pairs: int = 0
    max_record_mb: float = 500.0

    def __post_init__(self) -> None:
        from repdyn.sequences import CLUSTERINGS, ELMAN_NONLINEARITIES, LOSSES

        if self.data is None:
            checks.choice("task", self.task, SEQUENCE_TASKS, fix="Or give your own sequences as data")
        elif self.task is not None:
            raise checks.ArgumentValueError(
                "task", f"give a task or data, not both; got task {self.task!r} and data {str(self.data)!r}")
        elif not isinstance(self.data, str | Path):
            raise checks.ArgumentTypeError("data", f"data must be a file path; got {checks.describe(self.data)}")
        checks.integer("modulus", self.modulus, minimum=2)
        checks.seed("task_seed", self.task_seed)
        checks.integer("max_states", self.max_states, minimum=1)
        checks.integer("max_length", self.max_length, minimum=1)
        checks.real("fraction", self.fraction, above=0.0, at_most=1.0)
        checks.choice("model", self.model, SEQUENCE_MODELS)
        checks.integer("hidden", self.hidden, minimum=1)
        checks.real("gain", self.gain, at_least=0.0, allow_none=True)
        checks.choice("nonlinearity", self.nonlinearity, ELMAN_NONLINEARITIES)
        checks.integer("heads", self.heads, minimum=1)
        checks.integer("layers", self.layers, minimum=1)
        if self.model == "transformer" and self.hidden % (2 * self.heads):
            raise checks.ArgumentValueError(
                "hidden", f"the transformer's width (hidden) must be a multiple of 2 x heads ({2 * self.heads}); "
                f"got {self.hidden}")
        checks.real("lr", self.lr, above=0.0)
        checks.choice("optimizer", self.optimizer, ("sgd", "adam"))
        checks.choice("loss", self.loss, LOSSES)
        checks.integer("epochs", self.epochs, minimum=1)
        checks.integer("batch_size", self.batch_size, minimum=1)
        checks.integer("record_every", self.record_every, minimum=1)
        checks.seed("seed", self.seed)
        if self.test_lengths is not None:
            if self.data is not None and self.test_lengths:
                raise checks.ArgumentValueError(
                    "test_lengths", "test sets need a task to label them; leave test_lengths out with data")
            for length in self.test_lengths:
                checks.integer("test_lengths", length, minimum=1)
        checks.integer("test_count", self.test_count, minimum=1)
        checks.real("eps_factor", self.eps_factor, above=0.0)
        checks.choice("eps_records", self.eps_records, ("final", "all"))
        checks.choice("clustering", self.clustering, CLUSTERINGS)
        checks.integer("pairs", self.pairs, minimum=0)
        checks.real("max_record_mb", self.max_record_mb, above=0.0)

    @property
    def model_gain(self) -> float:
        """The gain the model is built with."""
        return DEFAULT_GAINS[self.model] if self.gain is None else float(self.gain)

    def automaton(self) -> Any:
        """The task's Moore machine (None with data)."""
        import repdyn.sequences as sq

        if self.data is not None:
            return None
        if self.task == "parity":
            return sq.parity()
        if self.task == "count":
            return sq.count_mod(self.modulus)
        return sq.random_regular(max_states=self.max_states, seed=self.task_seed)

    def training_data(self) -> Any:
        """The training :class:`repdyn.sequences.SequenceData` (the file read, or the task's sequences)."""
        import repdyn.sequences as sq

        if self.data is not None:
            return read_sequences(Path(self.data))
        if self.fraction == 1.0:
            return sq.complete(self.automaton(), self.max_length)
        return sq.sampled(self.automaton(), self.max_length, fraction=self.fraction, seed=self.seed)

    def test_sets(self) -> dict[int, Any]:
        """Random test sequences per length, labelled by the task (none with data)."""
        import repdyn.sequences as sq

        task = self.automaton()
        if task is None:
            return {}
        lengths = DEFAULT_TEST_LENGTHS if self.test_lengths is None else self.test_lengths
        return {n: sq.length_sets(task, [n], self.test_count, seed=self.seed + 1000 + i)[n]
                for i, n in enumerate(lengths)}

    def build_model(self, n_symbols: int, n_outputs: int) -> Any:
        """The untrained model."""
        import repdyn.sequences as sq

        if self.model == "elman":
            return sq.ElmanRNN(n_symbols, self.hidden, n_outputs, nonlinearity=self.nonlinearity,
                               gain=self.model_gain, seed=self.seed)
        if self.model == "gru":
            return sq.GRUNetwork(n_symbols, self.hidden, n_outputs, gain=self.model_gain, seed=self.seed)
        return sq.LastTokenTransformer(n_symbols, self.hidden, n_outputs, heads=self.heads, layers=self.layers,
                                       gain=self.model_gain, seed=self.seed)


def read_sequences(path: Path) -> Any:
    """A user's sequences from a text file: ``<digits> <target class>`` per line, ``#`` comments.

    Raises
    ------
    repdyn.checks.ArgumentValueError
        Naming ``data`` and the line at fault.
    """
    import repdyn.sequences as sq

    if not path.is_file():
        raise checks.ArgumentValueError("data", f"data {path} does not exist or is not a file; give a text file "
                                                "with one sequence per line: '0110 1' (symbols, space, target)")
    sequences, targets = [], []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
            raise checks.ArgumentValueError(
                "data", f"data {path}, line {number}: {raw.strip()!r} is not '<symbols as digits> <target class>' "
                "(e.g. '0110 1')")
        sequences.append(parts[0])
        targets.append(int(parts[1]))
    if not sequences:
        raise checks.ArgumentValueError("data", f"data {path} holds no sequences; write one per line: '0110 1'")
    try:
        return sq.SequenceData.from_prefixes(sequences, targets)
    except checks.BadArgument as exc:
        raise checks.ArgumentValueError("data", f"data {path}: {exc}") from None


def _constant_loss(data: Any, loss: str) -> float:
    """The training loss of the best constant output: the plateau of a small-init run, and its baseline."""
    share = np.bincount(data.targets, minlength=data.n_outputs) / data.n_items
    if loss == "mse":
        return float(np.mean(share * (1 - share)))
    nonzero = share[share > 0]
    return float(-np.sum(nonzero * np.log(nonzero)))


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _automaton_dict(automaton: Any) -> dict[str, Any]:
    return {"states": int(automaton.n_states), "initial": int(automaton.initial),
            "transitions": automaton.transitions.tolist(), "outputs": automaton.outputs.tolist(),
            "closed": bool(automaton.closed)}


def run_sequences(config: SequenceRunConfig, out: Path) -> RunOutput:
    """Train, track, extract the automaton's history and fit the theory to prefix pairs; write it to ``out``.

    Writes ``history.csv`` (per record: losses, states, closure, conflicts,
    minimal states, training accuracy, equivalence with the task),
    ``automaton.json`` (the final automaton and its minimisation),
    ``pairs.csv`` (with ``config.pairs``: per pair its prefixes, D2, N, the
    fitted rho and R^2, the predicted final H and merger, and the network's),
    ``summary.json`` and ``history.png``.

    Returns
    -------
    RunOutput
        The summary (what ``summary.json`` holds) and the figure.
    """
    import torch

    import repdyn.sequences as sq

    if not isinstance(config, SequenceRunConfig):
        raise checks.ArgumentTypeError("config", f"config must be a SequenceRunConfig; got {checks.describe(config)}")
    out = Path(out)
    retire_index(out / "summary.json")
    task = config.automaton()
    data = config.training_data()
    tests = config.test_sets()
    model = config.build_model(data.n_symbols, data.n_outputs)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks: one thread is fastest, and leaves the other cores free
    try:
        run = sq.track_prefixes(model, data, epochs=config.epochs, lr=config.lr, optimizer=config.optimizer,
                                batch_size=config.batch_size, loss=config.loss, record_every=config.record_every,
                                test_sets=tests, seed=config.seed, max_record_mb=config.max_record_mb)
    finally:
        torch.set_num_threads(threads)
    eps = config.eps_factor * sq.state_scale(run, records=config.eps_records)
    history = sq.automaton_history(run, eps=eps, method=config.clustering, task=task)
    final = sq.extract_at(run, -1, eps=eps, method=config.clustering)
    small = sq.minimize(final.automaton)
    merged = sq.close_pairs(run.states[-1].astype(np.float64), eps)
    labels = sq.task_states(task, data)[:-1] if task is not None else data.targets
    agree = labels[merged[:, 0]] == labels[merged[:, 1]] if len(merged) else np.zeros(0, dtype=bool)

    source = config.task if config.data is None else Path(config.data).name
    figure = sq.draw_history(
        out / "history.png", run, history, small, baseline=(_constant_loss(data, config.loss), "constant output"),
        title=f"{source} ({data.n_items} training sequences), {config.model} (gain {config.model_gain:g}); "
              "hidden states coloured by target, lines join a prefix to its extensions",
    )
    tests_header = [f"loss_length_{k}" for k in run.test_loss]
    rows = [
        [int(run.epochs[r]), float(run.train_loss[r]), *[float(v[r]) for v in run.test_loss.values()],
         int(history.n_states[r]), bool(history.closed[r]), int(history.conflicts[r]),
         int(history.minimal_states[r]), float(history.train_accuracy[r]),
         "" if history.equivalent is None else bool(history.equivalent[r])]
        for r in range(run.n_records)
    ]
    _write_csv(out / "history.csv", ["epoch", "train_loss", *tests_header, "states", "closed", "conflicts",
                                     "minimal_states", "automaton_train_accuracy", "equivalent_to_task"], rows)
    write_json(out / "automaton.json", {"eps": eps, "clustering": config.clustering,
                                        "final": _automaton_dict(final.automaton), "minimal": _automaton_dict(small),
                                        "conflicts": int(final.conflicts)})
    summary: dict[str, Any] = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(config).items()},
        "training_sequences": data.n_items,
        "status": run.status,
        "seconds": run.seconds,
        "final_loss": {"train": float(run.train_loss[-1]), **{str(k): float(v[-1]) for k, v in run.test_loss.items()}},
        "eps": eps,
        "states": {"start": int(history.n_states[0]), "peak": int(history.n_states.max()),
                   "final": int(history.n_states[-1]), "minimal_final": int(small.n_states)},
        "closed_final": bool(history.closed[-1]),
        "conflicts_final": int(history.conflicts[-1]),
        "first_closed_epoch": history.first_closed_epoch,
        "first_correct_closed_epoch": history.first_correct_closed_epoch,
        "first_generalising_epoch": history.first_generalising_epoch,
        "equivalent_to_task_final": None if history.equivalent is None else bool(history.equivalent[-1]),
        "check_length": history.check_length,
        "merged_pairs": int(len(merged)),
        "merged_pairs_agreeing": int(agree.sum()),
    }
    if config.pairs:
        summary["theory"] = _theory_pairs(run, labels, config, eps, out)
    write_json(out / "summary.json", summary)
    return RunOutput(summary=summary, figures=[figure], counts={"trials": 1, run.status: 1})


def _theory_pairs(run: Any, labels: np.ndarray, config: SequenceRunConfig, eps: float, out: Path) -> dict[str, Any]:
    """Fit the theory to drawn prefix pairs; ``pairs.csv`` and a summary of the predictions."""
    import repdyn.sequences as sq
    from repdyn.track import sample_pairs

    drawn = sample_pairs(labels, config.pairs, seed=config.seed)
    variables = sq.pair_variables(run, drawn.pairs)
    fits = sq.fit_pairs(variables)
    final_h = variables.h[:, -1]
    merged = np.sqrt(final_h) < eps
    prediction = fits.prediction
    names = run.data.labels
    rows = [
        [names[a], names[b], bool(drawn.same[p]), int(variables.n[p]), float(variables.d2[p]),
         float(variables.h[p, 0]), float(final_h[p]), bool(merged[p]), bool(fits.fitted[p]), float(fits.rho[p]),
         float(fits.r2["h"][p]), str(fits.quality[p]), float(prediction.h_inf[p]), bool(prediction.merges[p])]
        for p, (a, b) in enumerate(variables.pairs)
    ]
    _write_csv(out / "pairs.csv", ["prefix_1", "prefix_2", "agree", "N", "D2", "H_0", "H_final", "merged",
                                   "fitted", "rho", "r2_h", "quality", "H_inf_predicted", "merges_predicted"], rows)
    ok = fits.fitted
    return {
        "pairs": int(len(rows)),
        "fitted": int(ok.sum()),
        "quality": {q: int(np.sum(fits.quality == q)) for q in ("good", "poor", "unfit")},
        "mergers_observed": int(merged[ok].sum()),
        "mergers_predicted": int(prediction.merges[ok].sum()),
        "merger_predictions_right": int(np.sum(prediction.merges[ok] == merged[ok])),
    }
