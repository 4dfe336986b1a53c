"""The last-token transformer: a SequenceModel tracked like the RNNs, its pair variables against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import repdyn.sequences as sq


@pytest.fixture(scope="module")
def tracked():
    task = sq.parity()
    data = sq.complete(task, 4)
    model = sq.LastTokenTransformer(width=16, heads=2, gain=0.5, seed=1)
    tests = sq.length_sets(task, [200], 3, seed=5)  # far beyond the training lengths: positions are not learned
    return task, sq.track_prefixes(model, data, epochs=6, record_every=2, lr=0.05, test_sets=tests)


def test_it_meets_the_protocol_and_its_seed_alone_sets_its_weights():
    before = torch.get_rng_state()
    a, b, c = (sq.LastTokenTransformer(seed=s) for s in (4, 4, 5))
    assert torch.equal(torch.get_rng_state(), before)  # the global random state is left alone
    assert isinstance(a, sq.SequenceModel)
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not all(torch.equal(pa[k], pc[k]) for k in pa)
    hidden, output = a(torch.eye(2)[torch.tensor([[0, 1, 1]])])
    assert hidden.shape == (1, 32) and output.shape == (1, 2)
    h0, y0 = a.initial_state()
    assert h0.shape == (32,) and y0.shape == (2,)


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"width": 7}, "width"), ({"width": 8, "heads": 3}, "heads"), ({"layers": 0}, "layers"),
    ({"gain": -1.0}, "gain"), ({"gain": True}, "gain"), ({"seed": "1"}, "seed"),
])
def test_bad_settings_are_refused_by_name(kwargs, named):
    with pytest.raises((ValueError, TypeError), match=named):
        sq.LastTokenTransformer(**kwargs)


def test_at_gain_zero_a_prefix_is_only_its_length():
    # Every weight matrix zero: attention and feedforward add constants, so the last token's activation
    # depends on its position alone. Exact answer: one automaton state per length, plus the initial state.
    data = sq.complete(sq.parity(), 3)
    model = sq.LastTokenTransformer(width=8, gain=0.0, seed=0)
    states, _, h0, y0 = sq.measure_prefixes(model, data)
    for rows in data.by_length().values():
        np.testing.assert_array_equal(states[rows], np.broadcast_to(states[rows[0]], states[rows].shape))
    extracted = sq.extract(states, np.zeros((data.n_items, 2)), data, initial_state=h0, initial_output=y0, eps=1e-6)
    assert extracted.automaton.n_states == 3 + 1
    assert not extracted.automaton.closed  # the longest prefixes have no successors
    assert extracted.conflicts == 0


def test_it_is_tracked_like_the_rnns(tracked):
    task, run = tracked
    assert run.states.shape == (4, 30, 16) and run.initial_states.shape == (4, 16)
    assert np.isfinite(run.states).all() and np.isfinite(run.outputs).all()
    assert np.isfinite(run.test_loss[200]).all()
    history = sq.automaton_history(run, eps=0.01 * sq.state_scale(run), task=task)
    assert history.n_states.shape == (4,) and (history.n_states >= 1).all()


def _brute_force(run, a, b):
    """(H, Y, W) per record, D2 and N of the prefixes in rows a and b, by enumerating continuations."""
    data = run.data
    index = data.index
    seq_a, seq_b = data.sequences[a], data.sequences[b]
    continuations = [()]
    for n in range(1, data.max_length + 1):
        continuations += list(itertools.product(range(data.n_symbols), repeat=n))
    shared = [(index[seq_a + s], index[seq_b + s]) for s in continuations
              if seq_a + s in index and seq_b + s in index]
    one_hot = np.eye(data.n_outputs)
    out = run.outputs.astype(np.float64)
    dy = np.stack([out[:, j] - out[:, i] for i, j in shared], axis=1)            # (R, N, K)
    delta = np.stack([one_hot[data.targets[j]] - one_hot[data.targets[i]] for i, j in shared])  # (N, K)
    states = run.states.astype(np.float64)
    h = np.sum((states[:, b] - states[:, a]) ** 2, axis=1)
    y = np.mean(np.sum(dy**2, axis=2), axis=1)
    w = np.mean(np.sum(dy**2, axis=2) - np.einsum("rnk,nk->rn", dy, delta), axis=1)
    return h, y, w, float(np.mean(np.sum(delta**2, axis=1))), len(shared)


def test_its_pair_variables_are_the_brute_force_ones(tracked):
    _, run = tracked
    data = run.data
    pairs = np.array([[data.row("0"), data.row("11")], [data.row("1"), data.row("01")],
                      [data.row("10"), data.row("0110")], [data.row("011"), data.row("110")]])
    variables = sq.pair_variables(run, pairs)
    for p, (a, b) in enumerate(pairs):
        h, y, w, d2, n = _brute_force(run, a, b)
        np.testing.assert_allclose(variables.h[p], h, rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(variables.y[p], y, rtol=1e-5, atol=1e-12)
        np.testing.assert_allclose(variables.w[p], w, rtol=1e-5, atol=1e-9)
        assert variables.d2[p] == pytest.approx(d2) and variables.n[p] == n
    # "0" and "11" agree (both even): no continuation tells them apart, so D2 = 0 and W = Y.
    assert variables.d2[0] == 0 and np.allclose(variables.w[0], variables.y[0])
    # N = 2^(L - max(m1, m2) + 1) - 1 on complete data to length L = 4.
    assert list(variables.n) == [2 ** (4 - 2 + 1) - 1, 2 ** (4 - 2 + 1) - 1, 1, 2 ** (4 - 3 + 1) - 1]
    fits = sq.fit_pairs(variables)
    assert fits.fitted.all()
    assert np.all(np.isfinite(fits.rho) & (fits.rho > 0))
    assert np.all(np.isfinite(fits.prediction.h_inf) & (fits.prediction.h_inf >= 0))
