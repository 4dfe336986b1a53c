"""Sequence data sets: prefixes with the target after each, complete or sampled, and test sets."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray

from repdyn import checks
from repdyn.sequences._automata import MISSING, Automaton, int_array

IntArray = NDArray[np.int64]

#: The row that stands for the empty prefix (the initial state) in pair indices.
INITIAL = -1

#: Most sequences a complete data set or a length's sample may enumerate.
MAX_ENUMERATED = 2**22


@dataclass(frozen=True, eq=False)
class SequenceData:
    """A set of distinct sequences, each with the target class after its last symbol.

    Every item is one training example of a many-to-one network: it reads the
    whole sequence and is trained on the output after its last symbol. Targets
    at every step of longer sequences are the same thing once each prefix is an
    item (:meth:`from_steps`).

    Parameters
    ----------
    symbols : array_like of int, shape (n, T)
        Sequences, one per row, over the symbols ``0 .. n_symbols - 1``; the
        entries after a row's length are ``-1``.
    lengths : array_like of int, shape (n,)
        Length of each sequence, >= 1.
    targets : array_like of int, shape (n,)
        The target class after each whole sequence.
    n_symbols, n_outputs : int
        Alphabet size and number of target classes.

    Attributes
    ----------
    n_items, max_length : int
    """

    symbols: IntArray
    lengths: IntArray
    targets: IntArray
    n_symbols: int
    n_outputs: int

    def __post_init__(self) -> None:
        n_symbols = checks.integer("n_symbols", self.n_symbols, minimum=1)
        n_outputs = checks.integer("n_outputs", self.n_outputs, minimum=1)
        lengths = int_array("lengths", self.lengths, ndim=1)
        n = lengths.size
        if n == 0:
            raise checks.ArgumentValueError("lengths", "a sequence data set needs at least one sequence")
        if lengths.min() < 1:
            raise checks.ArgumentValueError(
                "lengths", f"every sequence needs length >= 1 (the empty prefix has no target); got {lengths.min()}"
            )
        symbols = int_array("symbols", self.symbols, ndim=2)
        if symbols.shape != (n, int(lengths.max())):
            raise checks.ArgumentValueError(
                "symbols", f"symbols must have shape ({n}, {int(lengths.max())}) (one row per sequence, "
                f"as long as the longest); got {symbols.shape}"
            )
        used = np.arange(symbols.shape[1])[None, :] < lengths[:, None]
        if np.any(used & ((symbols < 0) | (symbols >= n_symbols))) or np.any(~used & (symbols != MISSING)):
            raise checks.ArgumentValueError(
                "symbols", f"symbols must lie in [0, {n_symbols - 1}] within each length and be -1 after it"
            )
        targets = int_array("targets", self.targets, ndim=1)
        if targets.shape != (n,) or targets.min() < 0 or targets.max() >= n_outputs:
            raise checks.ArgumentValueError(
                "targets", f"targets must hold one class in [0, {n_outputs - 1}] per sequence ({n})"
            )
        for name, value in (("symbols", symbols), ("lengths", lengths), ("targets", targets)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "n_symbols", n_symbols)
        object.__setattr__(self, "n_outputs", n_outputs)
        if len(self.index) != n:
            dup = next(s for s, count in _counts(self.sequences).items() if count > 1)
            raise checks.ArgumentValueError(
                "symbols", f"sequences must be distinct; {_label(dup, n_symbols)!r} appears more than once"
            )

    def __repr__(self) -> str:
        return (
            f"SequenceData({self.n_items} sequences of lengths {int(self.lengths.min())}-{self.max_length}, "
            f"{self.n_symbols} symbols, {self.n_outputs} outputs)"
        )

    def __len__(self) -> int:
        return self.n_items

    @property
    def n_items(self) -> int:
        """Number of sequences."""
        return int(self.lengths.size)

    @property
    def max_length(self) -> int:
        """Length of the longest sequence."""
        return int(self.lengths.max())

    @cached_property
    def sequences(self) -> tuple[tuple[int, ...], ...]:
        """Every sequence as a tuple of symbols."""
        return tuple(tuple(row[:n].tolist()) for row, n in zip(self.symbols, self.lengths, strict=True))

    @cached_property
    def index(self) -> dict[tuple[int, ...], int]:
        """Row of each sequence."""
        return {s: i for i, s in enumerate(self.sequences)}

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """Every sequence written out: digits for up to 10 symbols ("0110"), else dot-separated."""
        return tuple(_label(s, self.n_symbols) for s in self.sequences)

    def row(self, sequence: Any) -> int:
        """The row of a sequence (a string of digits or a sequence of ints); :data:`INITIAL` for the empty one.

        Raises
        ------
        KeyError
            The sequence is not in the data set.
        """
        seq = as_sequence(sequence, self.n_symbols)
        if not seq:
            return INITIAL
        try:
            return self.index[seq]
        except KeyError:
            raise KeyError(f"{_label(seq, self.n_symbols)!r} is not in the data set") from None

    def by_length(self) -> dict[int, IntArray]:
        """Rows of each length, shortest first (the order of the training schedule)."""
        return {int(n): np.flatnonzero(self.lengths == n) for n in np.unique(self.lengths)}

    def subset(self, rows: Any) -> SequenceData:
        """The sequences at ``rows``, in that order."""
        rows = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[rows]
        return SequenceData(
            symbols=self.symbols[rows, : int(lengths.max())],
            lengths=lengths,
            targets=self.targets[rows],
            n_symbols=self.n_symbols,
            n_outputs=self.n_outputs,
        )

    @classmethod
    def from_prefixes(
        cls,
        sequences: Iterable[Any],
        targets: Any,
        *,
        n_symbols: int | None = None,
        n_outputs: int | None = None,
    ) -> SequenceData:
        """A data set from distinct sequences and the target class after each.

        Parameters
        ----------
        sequences : iterable
            Each a string of digits (``"0110"``) or a sequence of ints, length >= 1.
        targets : array_like of int
            One class per sequence.
        n_symbols, n_outputs : int, optional
            By default one more than the largest symbol and target.
        """
        seqs = [as_sequence(s, n_symbols) for s in sequences]
        target_array = int_array("targets", targets, ndim=1)
        if target_array.size != len(seqs):
            raise checks.ArgumentValueError(
                "targets", f"targets must give one class per sequence ({len(seqs)}); got {target_array.size}"
            )
        return _build(seqs, target_array, n_symbols, n_outputs)

    @classmethod
    def from_steps(
        cls,
        sequences: Iterable[Any],
        step_targets: Iterable[Any],
        *,
        n_symbols: int | None = None,
        n_outputs: int | None = None,
    ) -> SequenceData:
        """A data set of every prefix of the given sequences, from the target after every step.

        A prefix shared by several sequences is one item; its targets must agree.

        Parameters
        ----------
        sequences : iterable
            Each a string of digits or a sequence of ints.
        step_targets : iterable
            For each sequence, the target class after each of its steps (as many as its symbols).
        n_symbols, n_outputs : int, optional
            By default one more than the largest symbol and target.
        """
        found: dict[tuple[int, ...], int] = {}
        seqs = [as_sequence(s, n_symbols) for s in sequences]
        steps = list(step_targets)
        if len(steps) != len(seqs):
            raise checks.ArgumentValueError(
                "step_targets", f"step_targets must hold one row per sequence ({len(seqs)}); got {len(steps)}"
            )
        for i, (seq, row) in enumerate(zip(seqs, steps, strict=True)):
            row = int_array(f"step_targets[{i}]", row, ndim=1)
            if row.size != len(seq):
                raise checks.ArgumentValueError(
                    "step_targets", f"step_targets[{i}] must give one class per step ({len(seq)}); got {row.size}"
                )
            for t in range(1, len(seq) + 1):
                prefix, target = seq[:t], int(row[t - 1])
                if found.setdefault(prefix, target) != target:
                    raise checks.ArgumentValueError(
                        "step_targets",
                        f"step_targets give the prefix {_label(prefix, n_symbols or 10)!r} the targets "
                        f"{found[prefix]} and {target} in different sequences; a prefix's target must be one class",
                    )
        ordered = sorted(found, key=lambda s: (len(s), s))
        return _build(ordered, np.array([found[s] for s in ordered], dtype=np.int64), n_symbols, n_outputs)


def as_sequence(value: Any, n_symbols: int | None = None) -> tuple[int, ...]:
    """A sequence as a tuple of ints, from a string of digits or a sequence of ints."""
    if isinstance(value, str):
        if not all(ch.isdigit() for ch in value):
            raise checks.ArgumentValueError("sequence", f"a sequence string must hold digits only; got {value!r}")
        seq = tuple(int(ch) for ch in value)
    else:
        arr = np.asarray(value)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise checks.ArgumentTypeError(
                "sequence",
                f"a sequence must be a string of digits or a 1-D sequence of ints; got {checks.describe(value)}",
            )
        seq = tuple(int(v) for v in arr)
    if any(v < 0 for v in seq) or (n_symbols is not None and any(v >= n_symbols for v in seq)):
        top = "" if n_symbols is None else f" and < {n_symbols}"
        raise checks.ArgumentValueError("sequence", f"symbols must be >= 0{top}; got {seq!r}")
    return seq


def _label(seq: tuple[int, ...], n_symbols: int) -> str:
    return "".join(map(str, seq)) if n_symbols <= 10 else ".".join(map(str, seq))


def _counts(seqs: Iterable[tuple[int, ...]]) -> dict[tuple[int, ...], int]:
    out: dict[tuple[int, ...], int] = {}
    for s in seqs:
        out[s] = out.get(s, 0) + 1
    return out


def _build(
    seqs: Sequence[tuple[int, ...]], targets: IntArray, n_symbols: int | None, n_outputs: int | None
) -> SequenceData:
    if not seqs:
        raise checks.ArgumentValueError("sequences", "a sequence data set needs at least one sequence")
    if any(len(s) == 0 for s in seqs):
        raise checks.ArgumentValueError(
            "sequences", "every sequence needs length >= 1 (the empty prefix has no target)"
        )
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    symbols = np.full((len(seqs), int(lengths.max())), MISSING, dtype=np.int64)
    for i, s in enumerate(seqs):
        symbols[i, : len(s)] = s
    return SequenceData(
        symbols=symbols,
        lengths=lengths,
        targets=targets,
        n_symbols=int(symbols.max()) + 1 if n_symbols is None else n_symbols,
        n_outputs=int(targets.max()) + 1 if n_outputs is None else n_outputs,
    )


def _task(task: Any) -> Automaton:
    if not isinstance(task, Automaton):
        raise checks.ArgumentTypeError(
            "task",
            f"task must be an Automaton (parity(), count_mod(k), random_regular(...)); got {checks.describe(task)}",
        )
    return task


def label(task: Automaton, sequences: Iterable[Any]) -> SequenceData:
    """A data set of the given sequences with the task's output after each as its target."""
    task = _task(task)
    seqs = [as_sequence(s, task.n_symbols) for s in sequences]
    data = _build(seqs, np.zeros(len(seqs), dtype=np.int64), task.n_symbols, task.n_outputs)
    targets = task.run(np.where(data.symbols < 0, 0, data.symbols), data.lengths)
    return SequenceData(
        symbols=data.symbols, lengths=data.lengths, targets=targets, n_symbols=task.n_symbols, n_outputs=task.n_outputs
    )


def _all_of_length(n_symbols: int, length: int) -> IntArray:
    return np.array(list(itertools.product(range(n_symbols), repeat=length)), dtype=np.int64).reshape(-1, length)


def _enumerable(task: Automaton, max_length: int) -> None:
    total = sum(task.n_symbols**n for n in range(1, max_length + 1))
    if total > MAX_ENUMERATED:
        raise checks.ArgumentValueError(
            "max_length",
            f"max_length={max_length} gives {total} sequences over {task.n_symbols} symbols, more than "
            f"{MAX_ENUMERATED}; give a smaller max_length",
        )


def complete(task: Automaton, max_length: int, *, min_length: int = 1) -> SequenceData:
    """Every sequence of length ``min_length .. max_length``, by length then in lexicographic order.

    Parameters
    ----------
    task : Automaton
        Gives the targets.
    max_length : int
        Longest sequence, >= ``min_length``.
    min_length : int, default 1
    """
    task = _task(task)
    min_length = checks.integer("min_length", min_length, minimum=1)
    max_length = checks.integer("max_length", max_length, minimum=min_length)
    _enumerable(task, max_length)
    seqs = [tuple(row) for n in range(min_length, max_length + 1) for row in _all_of_length(task.n_symbols, n).tolist()]
    return label(task, seqs)


def sampled(task: Automaton, max_length: int, *, fraction: float, seed: int = 0) -> SequenceData:
    """A random part of the complete data: per length ``n``, Binomial(S^n, fraction) distinct sequences.

    As the follow-up's data sweep (its Fig 9): ``fraction`` is the expected
    share of each length's ``S^n`` sequences that is kept. A length may keep
    none; at least one sequence is kept overall (the draw is repeated with the
    next seed otherwise, and an error is raised if ten draws keep none).

    Parameters
    ----------
    task : Automaton
    max_length : int, >= 1
    fraction : float
        In (0, 1].
    seed : int, default 0
    """
    task = _task(task)
    max_length = checks.integer("max_length", max_length, minimum=1)
    fraction = checks.real("fraction", fraction, above=0.0, at_most=1.0)
    seed = checks.seed("seed", seed)
    _enumerable(task, max_length)
    for attempt in range(10):
        rng = np.random.default_rng(seed + attempt)
        seqs: list[tuple[int, ...]] = []
        for n in range(1, max_length + 1):
            total = task.n_symbols**n
            keep = int(rng.binomial(total, fraction))
            picked = np.sort(rng.choice(total, size=keep, replace=False))
            rows = _all_of_length(task.n_symbols, n)[picked]
            seqs += [tuple(row) for row in rows.tolist()]
        if seqs:
            return label(task, seqs)
    raise checks.ArgumentValueError(
        "fraction", f"fraction={fraction} kept no sequence of length <= {max_length} in ten draws; give a larger one"
    )


def random_sequences(task: Automaton, length: int, count: int, *, seed: int = 0) -> SequenceData:
    """``count`` random sequences of one length (distinct where there are enough), labelled by the task.

    Parameters
    ----------
    task : Automaton
    length, count : int, >= 1
    seed : int, default 0
    """
    task = _task(task)
    length = checks.integer("length", length, minimum=1)
    count = checks.integer("count", count, minimum=1)
    seed = checks.seed("seed", seed)
    rng = np.random.default_rng(seed)
    possible = task.n_symbols**length if length * np.log2(max(task.n_symbols, 2)) < 62 else None
    if possible is not None and count > possible:
        raise checks.ArgumentValueError(
            "count", f"there are only {possible} sequences of length {length}; ask for at most that many"
        )
    found: dict[tuple[int, ...], None] = {}
    while len(found) < count:
        rows = rng.integers(0, task.n_symbols, size=(count - len(found), length))
        for row in rows.tolist():
            found.setdefault(tuple(row), None)
    return label(task, list(found)[:count])


def length_sets(
    task: Automaton, lengths: Iterable[int], count: int, *, seed: int = 0
) -> dict[int, SequenceData]:
    """One :func:`random_sequences` set per length (seeds ``seed, seed + 1, ...``), keyed by length."""
    lengths = [checks.integer("lengths", n, minimum=1) for n in lengths]
    if len(set(lengths)) != len(lengths):
        raise checks.ArgumentValueError("lengths", f"lengths must be distinct; got {lengths}")
    return {n: random_sequences(task, n, count, seed=seed + i) for i, n in enumerate(lengths)}


def check_test_sets(value: Any, n_symbols: int) -> Mapping[int, SequenceData]:
    """``value`` as a mapping from a name (usually the length) to test :class:`SequenceData`."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, SequenceData) for v in value.values()):
        raise checks.ArgumentTypeError(
            "test_sets",
            f"test_sets must map a length to a SequenceData (see length_sets()); got {checks.describe(value)}",
        )
    for key, data in value.items():
        if data.n_symbols != n_symbols:
            raise checks.ArgumentValueError(
                "test_sets", f"test_sets[{key!r}] reads {data.n_symbols} symbols; the training data reads {n_symbols}"
            )
    return value
