"""Deterministic automata with outputs on states (Moore machines), Hopcroft minimisation, equivalence.

An :class:`Automaton` describes the output after every *non-empty* input
sequence: the empty prefix has no target in any task here, so the initial
state's own output matters only when some transition re-enters the initial
state. A transition may be missing (``-1``), as in an automaton extracted from
a network's hidden states; such an automaton is *open*, and running it off a
missing transition leaves the sequence without an output (``-1``). The
minimisation refines with missing transitions leading to one extra sink
state, whose output differs from every real one, and leaves them missing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn import checks

IntArray = NDArray[np.int64]

#: The index of a missing transition, and the output of a sequence that falls off one.
MISSING = -1


@dataclass(frozen=True, eq=False)
class Automaton:
    """A deterministic automaton over the symbols ``0 .. n_symbols - 1`` with outputs on states.

    Parameters
    ----------
    transitions : array_like of int, shape (n_states, n_symbols)
        ``transitions[q, c]``: the state after reading symbol ``c`` in state
        ``q``; :data:`MISSING` (-1) where the transition is unknown.
    outputs : array_like of int, shape (n_states,)
        The output class (``0 .. n_outputs - 1``) of each state.
    initial : int, default 0
        The state before any symbol is read.
    n_outputs : int, optional
        The number of output classes; by default ``max(outputs) + 1``.

    Attributes
    ----------
    n_states, n_symbols : int
    closed : bool
        Every state has a transition on every symbol (the automaton is finite
        and fixes an output at every length).
    """

    transitions: IntArray
    outputs: IntArray
    initial: int = 0
    n_outputs: int = field(default=0)

    def __post_init__(self) -> None:
        trans = int_array("transitions", self.transitions, ndim=2)
        outs = int_array("outputs", self.outputs, ndim=1)
        n_states, n_symbols = trans.shape
        if n_states == 0 or n_symbols == 0:
            raise checks.ArgumentValueError(
                "transitions", f"transitions must have at least one state and one symbol; got shape {trans.shape}"
            )
        if outs.shape != (n_states,):
            raise checks.ArgumentValueError(
                "outputs", f"outputs must hold one class per state, shape ({n_states},); got {outs.shape}"
            )
        if trans.min() < MISSING or trans.max() >= n_states:
            raise checks.ArgumentValueError(
                "transitions",
                f"transitions must be state indices in [0, {n_states - 1}] or {MISSING} (missing); "
                f"got values in [{trans.min()}, {trans.max()}]",
            )
        initial = checks.integer("initial", self.initial, minimum=0, maximum=n_states - 1)
        n_outputs = int(outs.max()) + 1 if self.n_outputs == 0 else checks.integer(
            "n_outputs", self.n_outputs, minimum=1
        )
        if outs.min() < 0 or outs.max() >= n_outputs:
            raise checks.ArgumentValueError(
                "outputs",
                f"outputs must be classes in [0, {n_outputs - 1}]; got values in [{outs.min()}, {outs.max()}]",
            )
        trans.setflags(write=False)
        outs.setflags(write=False)
        object.__setattr__(self, "transitions", trans)
        object.__setattr__(self, "outputs", outs)
        object.__setattr__(self, "initial", initial)
        object.__setattr__(self, "n_outputs", n_outputs)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"open, {self.n_missing} missing transitions"
        return f"Automaton({self.n_states} states, {self.n_symbols} symbols, {self.n_outputs} outputs, {state})"

    @property
    def n_states(self) -> int:
        """Number of states."""
        return int(self.transitions.shape[0])

    @property
    def n_symbols(self) -> int:
        """Number of input symbols."""
        return int(self.transitions.shape[1])

    @property
    def n_missing(self) -> int:
        """Number of missing transitions."""
        return int(np.count_nonzero(self.transitions == MISSING))

    @property
    def closed(self) -> bool:
        """Every state has a transition on every symbol."""
        return self.n_missing == 0

    @cached_property
    def initial_entered(self) -> bool:
        """Whether some transition leads into the initial state (then its output counts)."""
        return bool(np.any(self.transitions == self.initial))

    def states_after(self, symbols: ArrayLike, lengths: ArrayLike | None = None) -> IntArray:
        """The state reached after each sequence (:data:`MISSING` once a transition is missing).

        Parameters
        ----------
        symbols : array_like of int, shape (B, T)
            Sequences, one per row; entries after a row's length are ignored.
        lengths : array_like of int, shape (B,), optional
            Length of each row; all ``T`` by default.
        """
        seqs, lens = _sequences(symbols, lengths, self.n_symbols)
        state = np.full(seqs.shape[0], self.initial, dtype=np.int64)
        for t in range(seqs.shape[1]):
            active = (lens > t) & (state != MISSING)
            state[active] = self.transitions[state[active], seqs[active, t]]
        return state

    def run(self, symbols: ArrayLike, lengths: ArrayLike | None = None) -> IntArray:
        """The output class after each whole sequence; :data:`MISSING` where the run fell off.

        Parameters are those of :meth:`states_after`.
        """
        state = self.states_after(symbols, lengths)
        out = np.full(state.shape, MISSING, dtype=np.int64)
        ok = state != MISSING
        out[ok] = self.outputs[state[ok]]
        return out

    def run_steps(self, symbols: ArrayLike) -> IntArray:
        """The output class after every step of each sequence, shape (B, T).

        Parameters
        ----------
        symbols : array_like of int, shape (B, T)
            Sequences of one length.
        """
        seqs, _ = _sequences(symbols, None, self.n_symbols)
        state = np.full(seqs.shape[0], self.initial, dtype=np.int64)
        out = np.full(seqs.shape, MISSING, dtype=np.int64)
        for t in range(seqs.shape[1]):
            ok = state != MISSING
            state[ok] = self.transitions[state[ok], seqs[ok, t]]
            ok = state != MISSING
            out[ok, t] = self.outputs[state[ok]]
        return out


def int_array(name: str, value: Any, *, ndim: int) -> IntArray:
    """``value`` as a fresh int64 array of ``ndim`` dimensions; a TypeError naming ``name`` otherwise."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raw = np.asarray(None)
    if raw.ndim != ndim or (raw.size and raw.dtype.kind not in "iu"):
        raise checks.ArgumentTypeError(
            name, f"{name} must be a {ndim}-D array of integers; got {checks.describe(value)}"
        )
    return raw.astype(np.int64, copy=True)


def _sequences(symbols: ArrayLike, lengths: ArrayLike | None, n_symbols: int) -> tuple[IntArray, IntArray]:
    seqs = int_array("symbols", symbols, ndim=2)
    if lengths is None:
        lens = np.full(seqs.shape[0], seqs.shape[1], dtype=np.int64)
    else:
        lens = int_array("lengths", lengths, ndim=1)
        if lens.shape != (seqs.shape[0],) or lens.min(initial=0) < 0 or lens.max(initial=0) > seqs.shape[1]:
            raise checks.ArgumentValueError(
                "lengths", f"lengths must give each of the {seqs.shape[0]} rows a length in [0, {seqs.shape[1]}]"
            )
    used = np.arange(seqs.shape[1])[None, :] < lens[:, None]
    if np.any(used & ((seqs < 0) | (seqs >= n_symbols))):
        raise checks.ArgumentValueError(
            "symbols", f"symbols must lie in [0, {n_symbols - 1}] within each sequence's length"
        )
    return seqs, lens


def with_sink(automaton: Automaton) -> tuple[IntArray, IntArray]:
    """Transitions and outputs with every missing transition sent to a sink (output ``n_outputs``).

    Without missing transitions the automaton is returned unchanged (no sink).
    """
    trans = automaton.transitions.copy()
    outs = automaton.outputs.copy()
    if automaton.closed:
        return trans, outs
    sink = automaton.n_states
    trans[trans == MISSING] = sink
    trans = np.vstack([trans, np.full((1, automaton.n_symbols), sink, dtype=np.int64)])
    return trans, np.append(outs, automaton.n_outputs)


def _reachable(trans: IntArray, initial: int) -> IntArray:
    seen = np.zeros(trans.shape[0], dtype=bool)
    seen[initial] = True
    frontier = [initial]
    while frontier:
        nxt = np.unique(trans[frontier].ravel())
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt.tolist()
    return np.flatnonzero(seen)


def hopcroft_blocks(trans: IntArray, outputs: IntArray) -> IntArray:
    """The coarsest partition of a complete automaton's states that respects outputs and transitions.

    Hopcroft's algorithm: start from the states grouped by output and split
    blocks by the predecessor sets of a worklist of splitters, adding the
    smaller half of every split block to the worklist.

    Parameters
    ----------
    trans : ndarray of int, shape (n, S)
        Complete transitions (no missing entries).
    outputs : ndarray of int, shape (n,)

    Returns
    -------
    ndarray of int, shape (n,)
        Block index of each state, numbered in order of first appearance.
    """
    n, n_symbols = trans.shape
    _, block = np.unique(outputs, return_inverse=True)
    block = block.astype(np.int64)
    members: list[set[int]] = [set(np.flatnonzero(block == b).tolist()) for b in range(block.max() + 1)]
    predecessors = [[[] for _ in range(n)] for _ in range(n_symbols)]
    for q in range(n):
        for c in range(n_symbols):
            predecessors[c][trans[q, c]].append(q)
    work = set(range(len(members)))
    while work:
        splitter = list(members[work.pop()])
        for c in range(n_symbols):
            pred = {p for q in splitter for p in predecessors[c][q]}
            touched: dict[int, set[int]] = {}
            for p in pred:
                touched.setdefault(int(block[p]), set()).add(p)
            for b, inside in touched.items():
                if len(inside) == len(members[b]):
                    continue
                outside = members[b] - inside
                small, large = (inside, outside) if len(inside) <= len(outside) else (outside, inside)
                members[b] = large
                new = len(members)
                members.append(small)
                block[list(small)] = new
                # Hopcroft: a waiting block is replaced by both halves (b stays
                # waiting), a settled one needs only its smaller half.
                work.add(new)
    _, first = np.unique(block, return_index=True)
    order = np.argsort(np.argsort(first))
    return order[block]


def minimize(automaton: Automaton) -> Automaton:
    """The minimal automaton with the same outputs on every non-empty sequence (Hopcroft).

    States that cannot be reached from the initial one are dropped; missing
    transitions lead to a sink (an output of its own) while the partition is
    refined, and stay missing in the result; an initial state that no
    transition enters takes whichever output lets it merge (its own output is
    never observed).

    Parameters
    ----------
    automaton : Automaton

    Returns
    -------
    Automaton
        Minimal, initial state 0; open exactly where some reachable state
        of ``automaton`` lacks a transition that matters.
    """
    if not isinstance(automaton, Automaton):
        raise checks.ArgumentTypeError("automaton", f"automaton must be an Automaton; got {checks.describe(automaton)}")
    trans, outs = with_sink(automaton)
    sink = automaton.n_states if not automaton.closed else None
    keep = _reachable(trans, automaton.initial)
    index = np.full(trans.shape[0], MISSING, dtype=np.int64)
    index[keep] = np.arange(keep.size)
    trans, outs = index[trans[keep]], outs[keep]
    initial = int(index[automaton.initial])
    sink_index = None if sink is None or index[sink] == MISSING else int(index[sink])
    free = not np.any(trans == initial)
    real = outs[np.arange(outs.size) != sink_index] if sink_index is not None else outs
    candidates = np.unique(real) if free else [outs[initial]]
    best: tuple[int, np.ndarray, np.ndarray] | None = None
    for output in candidates:
        trial = outs.copy()
        trial[initial] = output
        block = hopcroft_blocks(trans, trial)
        if best is None or block.max() < best[0].max():
            best = (block, trial)  # type: ignore[assignment]
    assert best is not None
    block, trial = best  # type: ignore[misc]
    n_blocks = int(block.max()) + 1
    sink_block = None if sink_index is None else int(block[sink_index])
    order = [int(block[initial])] + [b for b in range(n_blocks) if b not in (block[initial], sink_block)]
    relabel = np.full(n_blocks, MISSING, dtype=np.int64)
    relabel[order] = np.arange(len(order))
    rep = np.unique(block, return_index=True)[1][order]
    return Automaton(
        transitions=relabel[block[trans[rep]]],
        outputs=trial[rep],
        initial=0,
        n_outputs=automaton.n_outputs,
    )


def counterexample(first: Automaton, second: Automaton, max_length: int) -> tuple[int, ...] | None:
    """A shortest non-empty sequence of length <= ``max_length`` on which two automata differ.

    Outputs are compared after every non-empty sequence; falling off a missing
    transition is an output of its own (so an open automaton differs from a
    closed one wherever its run falls off). Breadth-first search over pairs of
    states, so the cost grows with the pairs reached, not with the number of
    sequences.

    Parameters
    ----------
    first, second : Automaton
        Over the same symbols.
    max_length : int
        Longest sequence compared, >= 1.

    Returns
    -------
    tuple of int or None
        The sequence, or None when the automata agree on every sequence up to ``max_length``.
    """
    for name, value in (("first", first), ("second", second)):
        if not isinstance(value, Automaton):
            raise checks.ArgumentTypeError(name, f"{name} must be an Automaton; got {checks.describe(value)}")
    if first.n_symbols != second.n_symbols:
        raise checks.ArgumentValueError(
            "second", f"second must read the same {first.n_symbols} symbols as first; it reads {second.n_symbols}"
        )
    max_length = checks.integer("max_length", max_length, minimum=1)
    a_trans, a_out = with_sink(first)
    b_trans, b_out = with_sink(second)
    # Each automaton's sink is "no output"; the two sinks are the same output.
    a_out = np.where(a_out == first.n_outputs, MISSING, a_out) if not first.closed else a_out
    b_out = np.where(b_out == second.n_outputs, MISSING, b_out) if not second.closed else b_out
    start = (first.initial, second.initial)
    # parent of every compared pair of states; the start pair is compared only
    # once a transition re-enters it (the empty sequence has no output).
    parent: dict[tuple[int, int], tuple[tuple[int, int], int]] = {}
    queue: deque[tuple[tuple[int, int], int]] = deque([(start, 0)])
    while queue:
        (p, q), depth = queue.popleft()
        if depth == max_length:
            continue
        for c in range(first.n_symbols):
            nxt = (int(a_trans[p, c]), int(b_trans[q, c]))
            if nxt in parent:
                continue
            parent[nxt] = ((p, q), c)
            if a_out[nxt[0]] != b_out[nxt[1]]:
                # Each parent was discovered one step earlier, so depth + 1 steps lead back to the start.
                word = []
                node = nxt
                for _ in range(depth + 1):
                    node, symbol = parent[node]
                    word.append(symbol)
                return tuple(reversed(word))
            queue.append((nxt, depth + 1))
    return None


def equivalent(first: Automaton, second: Automaton, max_length: int) -> bool:
    """Whether two automata give the same output on every non-empty sequence up to ``max_length``.

    See :func:`counterexample`.
    """
    return counterexample(first, second, max_length) is None
