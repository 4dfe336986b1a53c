"""Automata: minimal sizes of known languages, Hopcroft against brute force, equivalence, extraction."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import repdyn.sequences as sq


def _brute_force_minimal_size(a: sq.Automaton) -> int:
    """States of the minimal automaton by Myhill-Nerode, from outputs on every sequence up to n + 1 symbols.

    Falling off a missing transition counts as an output of its own (-1).

    Two reachable states are equivalent iff they give the same output after every
    non-empty sequence (and have the same own output, unless the state is the
    initial one and never re-entered); sequences of length <= n suffice.
    """
    trans = a.transitions
    n = a.n_states
    sink = n
    full = np.vstack([np.where(trans < 0, sink, trans), np.full((1, a.n_symbols), sink)])
    outputs = np.append(a.outputs, -1)
    reach = {a.initial}
    frontier = [a.initial]
    while frontier:
        frontier = [int(q) for p in frontier for q in full[p] if int(q) not in reach]
        reach.update(frontier)
    words = [w for k in range(1, n + 2) for w in itertools.product(range(a.n_symbols), repeat=k)]

    def future(q: int) -> tuple[int, ...]:
        out = []
        for w in words:
            s = q
            for c in w:
                s = full[s, c]
            out.append(int(outputs[s]))
        return tuple(out)

    entered = any(int(q) == a.initial for p in reach for q in full[p])
    signatures = {q: (int(outputs[q]), future(q)) for q in reach}
    # The sink (falling off) is no state of the result: its transitions stay missing.
    classes = {sig for q, sig in signatures.items() if (q != a.initial or entered) and q != sink}
    if not entered:
        # The unentered initial state's own output is free: it joins a class whose futures match.
        init_future = signatures[a.initial][1]
        if not any(sig[1] == init_future for sig in classes):
            classes.add(signatures[a.initial])
    return len(classes)


def test_minimal_sizes_of_known_languages():
    contains_11 = sq.Automaton(transitions=[[0, 1], [0, 2], [2, 2]], outputs=[0, 0, 1])
    # "last symbol is 1", written with a separate initial state that nothing re-enters.
    last_is_1 = sq.Automaton(transitions=[[1, 2], [1, 2], [1, 2]], outputs=[1, 0, 1])
    assert sq.minimize(sq.parity()).n_states == 2
    assert sq.minimize(sq.count_mod(3)).n_states == 3
    assert sq.minimize(contains_11).n_states == 3
    assert sq.minimize(last_is_1).n_states == 2
    assert sq.equivalent(sq.minimize(last_is_1), last_is_1, 10)


def test_duplicated_states_reduce_to_the_original():
    # Parity written with every state twice (the copies cross over on symbol 0).
    doubled = sq.Automaton(transitions=[[2, 1], [3, 0], [0, 3], [1, 2]], outputs=[0, 1, 0, 1])
    small = sq.minimize(doubled)
    assert small.n_states == 2
    assert sq.equivalent(small, sq.parity(), 12)
    assert sq.counterexample(small, sq.parity(), 12) is None


@pytest.mark.parametrize("seed", range(12))
def test_hopcroft_agrees_with_brute_force_on_random_machines(seed):
    rng = np.random.default_rng(seed)
    n, symbols = int(rng.integers(2, 7)), int(rng.integers(1, 4))
    trans = rng.integers(0, n, size=(n, symbols))
    trans[rng.random((n, symbols)) < 0.15] = sq.MISSING  # some open machines
    machine = sq.Automaton(transitions=trans, outputs=rng.integers(0, 2, size=n), initial=int(rng.integers(0, n)))
    small = sq.minimize(machine)
    assert small.n_states == _brute_force_minimal_size(machine)
    assert sq.equivalent(small, machine, n + 2)


def test_random_regular_machines_minimise_consistently():
    for seed in range(5):
        task = sq.random_regular(seed=seed, fresh_initial=True, p_new=0.6)
        assert task.closed and task.n_states <= 7
        assert not task.initial_entered  # the authors' initial state is never re-entered
        assert sq.minimize(task).n_states == _brute_force_minimal_size(task)


def test_counterexample_is_shortest_and_real():
    contains_11 = sq.Automaton(transitions=[[0, 1], [0, 2], [2, 2]], outputs=[0, 0, 1])
    ones_mod_3 = sq.Automaton(transitions=[[0, 1], [1, 2], [2, 0]], outputs=[1, 0, 0])  # output 1 iff count % 3 == 0
    word = sq.counterexample(contains_11, ones_mod_3, 6)
    assert word == (0,)  # after "0": no "11" (0) but 0 ones (1)
    assert contains_11.run([list(word)]) != ones_mod_3.run([list(word)])
    assert sq.counterexample(sq.parity(), sq.count_mod(2), 20) is None


def test_open_automaton_differs_where_it_falls_off_and_stays_open_when_minimised():
    # Parity known only on the first symbol.
    partial = sq.Automaton(transitions=[[1, 2], [-1, -1], [-1, -1]], outputs=[0, 0, 1])
    assert not partial.closed and partial.n_missing == 4
    assert sq.counterexample(partial, sq.parity(), 5) == (0, 0)
    small = sq.minimize(partial)
    assert not small.closed and small.n_states == 3  # initial, even, odd; no transitions after them
    assert sq.equivalent(small, partial, 5)
    assert list(partial.run([[0, 1]])) == [sq.MISSING]


def test_initial_output_counts_only_when_the_initial_state_is_re_entered():
    re_entered = sq.Automaton(transitions=[[0, 1], [1, 0]], outputs=[1, 1])  # outputs constant 1: one state
    assert sq.minimize(re_entered).n_states == 1
    wrong_initial = sq.Automaton(transitions=[[0, 1], [1, 0]], outputs=[0, 1])  # parity with its own outputs
    assert sq.minimize(wrong_initial).n_states == 2


def _parity_network() -> sq.ElmanRNN:
    """The spec's hand-built parity RNN: unit (s, c) = "in state s, about to read c"."""
    units = [(s, c) for s in (0, 1) for c in (0, 1)]
    delta = lambda s, c: (s + c) % 2  # noqa: E731
    w_hh = np.array([[1.0 if delta(s, c) == s2 else 0.0 for (s, c) in units] for (s2, c2) in units])
    w_ih = np.array([[1.0 if c == c2 else 0.0 for c in (0, 1)] for (_, c2) in units])
    w_hy = np.array([[1.0 if delta(s, c) == k else 0.0 for (s, c) in units] for k in (0, 1)])
    h0 = np.array([1.0 if u == (0, 0) else 0.0 for u in units])
    return sq.ElmanRNN.from_weights(w_ih=w_ih, w_hh=w_hh, bias=-np.ones(4), w_hy=w_hy, initial=h0)


@pytest.mark.parametrize("eps", [1e-3, 0.5, 1.0, 1.4142])
def test_hand_built_parity_rnn_gives_the_parity_automaton(eps):
    net = _parity_network()
    data = sq.complete(sq.parity(), 8)
    states, outputs, h0, y0 = sq.measure_prefixes(net, data)
    ex = sq.extract(states, outputs, data, initial_state=h0, initial_output=y0, eps=eps)
    assert ex.n_states == 4 and ex.closed and ex.conflicts == 0 and ex.output_conflicts == 0
    assert ex.train_accuracy == 1.0
    small = sq.minimize(ex.automaton)
    assert small.n_states == 2 and sq.equivalent(small, sq.parity(), 20)
    same = sq.extract(states, outputs, data, initial_state=h0, initial_output=y0, eps=eps, method="single_linkage")
    assert same.n_states == 4 and same.closed


def test_hand_built_parity_rnn_is_exact_on_length_10000():
    net = _parity_network()
    test = sq.random_sequences(sq.parity(), 10_000, 3, seed=7)
    _, outputs, _, _ = sq.measure_prefixes(net, test)
    expected = np.eye(2)[test.targets]
    np.testing.assert_array_equal(outputs, expected)
    data = sq.complete(sq.parity(), 4)
    states, outs, h0, y0 = sq.measure_prefixes(net, data)
    ex = sq.extract(states, outs, data, initial_state=h0, initial_output=y0, eps=0.5)
    np.testing.assert_array_equal(ex.automaton.run(test.symbols), test.targets)


@pytest.mark.parametrize("length", [3, 6, 10])
def test_tree_rnn_keeps_every_prefix_apart(length):
    # One unit, h' = 2h + (1 or 2): every sequence lands on its own integer.
    net = sq.ElmanRNN.from_weights(w_ih=[[1.0, 2.0]], w_hh=[[2.0]], bias=[0.0], w_hy=[[1.0], [0.0]], initial=[0.0])
    data = sq.complete(sq.parity(), length)
    states, outputs, h0, y0 = sq.measure_prefixes(net, data)
    for method in sq.CLUSTERINGS:
        ex = sq.extract(states, outputs, data, initial_state=h0, initial_output=y0, eps=0.9, method=method)
        assert ex.n_states == 2 ** (length + 1) - 1
        without = np.all(ex.automaton.transitions == sq.MISSING, axis=1).sum()
        assert without == 2**length
        assert not ex.closed and ex.conflicts == 0


def test_leader_clustering_depends_on_order_single_linkage_does_not():
    points = np.array([[0.0], [0.6], [1.2]])
    assert sq.cluster_states(points, 1.0, order=[0, 1, 2]).tolist() == [0, 0, 1]
    assert sq.cluster_states(points, 1.0, order=[1, 0, 2]).tolist() == [0, 0, 0]
    rng = np.random.default_rng(0)
    cloud = rng.normal(size=(40, 3))
    reference = sq.cluster_states(cloud, 0.8, method="single_linkage")
    for _ in range(5):
        labels = sq.cluster_states(cloud, 0.8, method="single_linkage", order=rng.permutation(40))
        # Same partition: equal labels for exactly the same pairs.
        assert np.array_equal(labels[:, None] == labels[None, :], reference[:, None] == reference[None, :])
    # A brute-force check of single linkage: points closer than eps share a group.
    d = np.linalg.norm(cloud[:, None] - cloud[None, :], axis=-1)
    i, j = np.nonzero(d < 0.8)
    assert np.all(reference[i] == reference[j])


def test_conflicting_transitions_are_counted_and_the_majority_kept():
    data = sq.SequenceData.from_prefixes(["0", "1", "00", "10", "01"], [0, 1, 0, 1, 1])
    # "0" and "1" share a state; after reading 0 they go to two different states ("00" vs "10"),
    # and after reading 1 to the same one.
    states = np.array([[0.0], [0.0], [5.0], [10.0], [10.0]])
    outputs = np.eye(2)[[0, 0, 0, 1, 1]]
    ex = sq.extract(states, outputs, data, initial_state=[20.0], initial_output=[1.0, 0.0], eps=0.5)
    assert ex.n_states == 4 and ex.conflicts == 1
    q = ex.assignment[data.row("0")]
    # On 0 the class of {"0", "1"} saw "00" once and "10" once: the first observed (label order) wins the tie.
    assert ex.automaton.transitions[q, 0] == ex.assignment[data.row("00")]
    assert ex.automaton.transitions[q, 1] == ex.assignment[data.row("01")]


def test_tracked_history_counts_states_per_record():
    torch.manual_seed(0)
    data = sq.complete(sq.parity(), 3)
    run = sq.track_prefixes(sq.ElmanRNN(hidden=8, seed=1), data, epochs=4, record_every=2)
    eps = 0.01 * sq.state_scale(run, records="final")
    history = sq.automaton_history(run, eps=eps, task=sq.parity())
    assert history.epochs.tolist() == [0, 2, 4]
    for r in range(run.n_records):
        ex = sq.extract_at(run, r, eps=eps)
        assert history.n_states[r] == ex.n_states
        assert history.minimal_states[r] == sq.minimize(ex.automaton).n_states
    assert history.check_length == 3


def test_state_scale_is_the_norm_of_the_per_unit_std():
    rng = np.random.default_rng(1)
    points = rng.normal(size=(50, 4)) * [1.0, 2.0, 3.0, 0.0] + 1e6
    assert sq.state_scale(points) == pytest.approx(np.linalg.norm(points.std(axis=0)), rel=1e-9)
