"""Sequence tasks as Moore machines: streaming parity, counting mod k, random regular languages."""

from __future__ import annotations

import numpy as np

from repdyn import checks
from repdyn.sequences._automata import MISSING, Automaton


def count_mod(k: int, *, n_symbols: int = 2, counted: int = 1) -> Automaton:
    """Counting mod ``k``: the output after a prefix is the number of ``counted`` symbols in it, mod ``k``.

    State ``j`` means "count = j mod k"; the initial state is 0. With ``k = 2``
    and two symbols this is streaming parity (:func:`parity`).

    Parameters
    ----------
    k : int
        Modulus and number of output classes, >= 2.
    n_symbols : int, default 2
        Alphabet size, >= 1.
    counted : int, default 1
        The symbol that is counted.

    Returns
    -------
    Automaton
        ``k`` states, closed, ``k`` outputs.
    """
    k = checks.integer("k", k, minimum=2)
    n_symbols = checks.integer("n_symbols", n_symbols, minimum=1)
    counted = checks.integer("counted", counted, minimum=0, maximum=n_symbols - 1)
    states = np.arange(k, dtype=np.int64)
    transitions = np.repeat(states[:, None], n_symbols, axis=1)
    transitions[:, counted] = (states + 1) % k
    return Automaton(transitions=transitions, outputs=states, initial=0, n_outputs=k)


def parity() -> Automaton:
    """Streaming parity over {0, 1}: output 0 after an even number of ones, 1 after an odd number.

    Targets are one-hot in the networks: even = (1, 0), odd = (0, 1).
    """
    return count_mod(2)


def random_regular(
    *,
    max_states: int = 7,
    p_new: float = 0.75,
    seed: int = 0,
    n_symbols: int = 2,
    n_outputs: int = 2,
    fresh_initial: bool = False,
) -> Automaton:
    """A random Moore machine (the follow-up's random regular tasks, its App D.5).

    States are created breadth first from the initial state: each (state,
    symbol) pair, in order, leads to a new state with probability ``p_new``
    while fewer than ``max_states`` exist, else to an existing state drawn
    uniformly. Each state gets an output class drawn uniformly. The machine is
    not rejected when it is small or its outputs constant; minimise it
    (:func:`minimize`) to see the language's true size.

    Parameters
    ----------
    max_states : int, default 7
        Most states (the paper's 7).
    p_new : float, default 0.75
        Probability of a new state (the paper's 0.75; the authors' code uses 0.6).
    seed : int, default 0
    n_symbols, n_outputs : int, default 2
    fresh_initial : bool, default False
        As the authors' code: every transition of the initial state leads to a
        new state (while states remain) and no transition re-enters it.

    Returns
    -------
    Automaton
        Closed; states numbered in order of creation, initial state 0.
    """
    max_states = checks.integer("max_states", max_states, minimum=1)
    p_new = checks.real("p_new", p_new, at_least=0.0, at_most=1.0)
    seed = checks.seed("seed", seed)
    n_symbols = checks.integer("n_symbols", n_symbols, minimum=1)
    n_outputs = checks.integer("n_outputs", n_outputs, minimum=1)
    fresh_initial = checks.flag("fresh_initial", fresh_initial)
    rng = np.random.default_rng(seed)
    rows: list[list[int]] = [[MISSING] * n_symbols]
    state = 0
    while state < len(rows):
        for c in range(n_symbols):
            room = len(rows) < max_states
            if room and ((fresh_initial and state == 0) or rng.random() < p_new):
                rows.append([MISSING] * n_symbols)
                rows[state][c] = len(rows) - 1
            else:
                low = 1 if fresh_initial and len(rows) > 1 else 0
                rows[state][c] = int(rng.integers(low, len(rows)))
        state += 1
    outputs = rng.integers(0, n_outputs, size=len(rows))
    return Automaton(transitions=np.array(rows, dtype=np.int64), outputs=outputs, initial=0, n_outputs=n_outputs)
