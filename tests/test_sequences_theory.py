"""The theory for prefix pairs: the follow-up's equations against repdyn.theory, counts, measurement."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import repdyn.sequences as sq
from repdyn.theory import rhs, solve


def _eq4(H, Y, W, D2, N, tau_h, tau_y):
    """The follow-up's eq 4, transcribed as printed."""
    dH = -(1 / (2 * tau_h)) * W
    dY = -0.5 * (H / (N * tau_y) + Y / (tau_h * H)) * W
    dW = -(1 / (4 * N * tau_y)) * (3 * W - Y + D2) * H - (1 / (4 * tau_h)) * (W / H) * (Y + W)
    return np.stack([dH, dY, dW], axis=-1)


def _eq35(H0, Y0, t, N, tau_y, tau_h):
    """The follow-up's eq 35 (D2 = 0), transcribed: A_high = H0 - rho Y0 / H0, rho = N tau_y / tau_h."""
    a_high = H0 - (N * tau_y / tau_h) * Y0 / H0
    with np.errstate(over="ignore"):  # exp overflows to inf once a merging pair has reached 0
        return a_high / (1 + (a_high / H0 - 1) * np.exp(-a_high * t / (2 * N * tau_y)))


def test_eq4_is_the_2024_right_hand_side_under_the_mapping():
    rng = np.random.default_rng(0)
    H, Y, D2 = rng.uniform(0.01, 2, 50), rng.uniform(0, 1, 50), rng.choice([0.0, 2.0, 0.7], 50)
    W = Y - rng.uniform(-1, 1, 50) * np.sqrt(D2 * Y)
    N, tau_h, tau_y = rng.integers(1, 1024, 50), rng.uniform(1, 100, 50), rng.uniform(1, 100, 50)
    eta_h, eta_y = sq.theory_rates(tau_h=tau_h, tau_y=tau_y, n=N)
    ours = rhs(np.stack([H, Y, W], axis=-1), eta_h=eta_h, eta_y=eta_y, dx2=1.0, dy2=D2)
    np.testing.assert_allclose(ours, _eq4(H, Y, W, D2, N, tau_h, tau_y), rtol=1e-12, atol=1e-15)
    # rho = N tau_y / tau_h is the rate ratio the endpoint depends on.
    np.testing.assert_allclose(eta_h / eta_y, N * tau_y / tau_h, rtol=1e-12)


@pytest.mark.parametrize(("h0", "y0"), [(0.5, 0.02), (0.01, 0.5), (1.0, 1e-4)])
def test_agreeing_pair_closed_form_is_eq35(h0, y0):
    t = np.linspace(0, 4000, 41)
    ours = sq.agreeing_pair_distance(h0, y0, t, tau_h=30.0, tau_y=50.0, n=7)
    np.testing.assert_allclose(ours, _eq35(h0, y0, t, 7, 50.0, 30.0), rtol=1e-10)
    # A second integrator: repdyn.theory.solve on the same rates.
    eta_h, eta_y = sq.theory_rates(tau_h=30.0, tau_y=50.0, n=7)
    z = solve([h0, y0, y0], t, eta_h=eta_h, eta_y=eta_y, dx2=1.0, dy2=0.0)
    np.testing.assert_allclose(ours, z[:, 0], rtol=1e-6, atol=1e-12 * h0)


def test_merger_condition_and_endpoints():
    # D2 = 0 and A_high < 0: merges, H_inf = 0.
    merge = sq.predict_merger(0.1, 0.5, 0.0, 2.0)  # A_high = 0.1 - 2 * 0.5 / 0.1 < 0
    assert merge.merges and merge.h_inf == 0.0 and merge.a_low == 0.0
    # D2 = 0 and A_high > 0: stays apart at A_high.
    apart = sq.predict_merger(2.0, 0.01, 0.0, 1.0)
    assert not apart.merges and apart.h_inf == pytest.approx(2.0 - 0.01 / 2.0, rel=1e-12)
    # D2 > 0 never merges: H_inf > 0 whatever A_high.
    never = sq.predict_merger([0.1, 2.0], [0.5, 0.01], 2.0, 1.0)
    assert not never.merges.any() and np.all(never.h_inf > 0)
    np.testing.assert_allclose(never.a_low, np.sqrt(2.0))
    # The marginal case A_high = 0 is not a merger.
    assert not sq.merger_condition(0.0, 0.0)
    assert sq.merger_condition([0.0, 0.0, 0.1], [-1e-9, 1e-9, -1.0]).tolist() == [True, False, False]


def test_counts_on_complete_data_to_length_10():
    data = sq.complete(sq.parity(), 10)
    assert data.n_items == 2046
    n = data.n_items
    assert n * (n - 1) // 2 == 2_092_035
    odd = int(data.targets.sum())
    assert odd * (odd - 1) // 2 + (n - odd) * (n - odd - 1) // 2 == 1_045_506
    assert sq.steps_per_epoch(data, 128) == 21
    for m, expected in ((1, 1023), (5, 63), (10, 1)):
        assert sq.continuations(data, "0" * m, "1" + "0" * (m - 1)).n == expected
    # N = 2^(L - max(m1, m2) + 1) - 1 for any pair.
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, n, 2)
        m = max(data.lengths[a], data.lengths[b])
        assert sq.continuations(data, int(a), int(b)).n == 2 ** (10 - m + 1) - 1


def test_parity_pairs_have_d2_zero_or_two():
    data = sq.complete(sq.parity(), 6)
    for a, b in (("0", "00"), ("1", "01"), ("0", "1"), ("011", "10"), ("11", "0")):
        cont = sq.continuations(data, a, b)
        same = sum(map(int, a)) % 2 == sum(map(int, b)) % 2
        assert cont.d2 == (0.0 if same else 2.0)
        assert np.all(np.sum(cont.delta**2, axis=1) == (0.0 if same else 2.0))
    # The empty prefix against a prefix: only non-empty continuations, those of the prefix's length budget.
    assert sq.continuations(data, sq.INITIAL, "0").n == 2**6 - 2


def test_sampled_data_share_only_continuations_present_for_both():
    data = sq.SequenceData.from_prefixes(["0", "1", "00", "10", "11", "011"], [0, 1, 0, 1, 0, 0])
    cont = sq.continuations(data, "0", "1")
    assert set(cont.suffixes) == {(), (0,)}  # "01" is missing, "011"/"111" not both there
    np.testing.assert_array_equal(cont.rows, [[data.row("0"), data.row("1")], [data.row("00"), data.row("10")]])


def _fake_tracking(data, states, outputs, h0, y0):
    epochs = np.arange(states.shape[0]) * 10
    return sq.PrefixTracking(
        data=data, epochs=epochs, states=states.astype(np.float32), outputs=outputs.astype(np.float32),
        initial_states=h0.astype(np.float32), initial_outputs=y0.astype(np.float32),
        train_loss=np.zeros(len(epochs)), train_accuracy=np.ones(len(epochs)), epoch_loss=np.zeros(1),
        test_loss={}, test_accuracy={}, loss="mse", status="done", stop_epoch=int(epochs[-1]), seconds=0.0,
    )


def test_pair_variables_against_a_direct_computation():
    rng = np.random.default_rng(3)
    data = sq.complete(sq.parity(), 4)
    R, n = 3, data.n_items
    tracking = _fake_tracking(data, rng.normal(size=(R, n, 5)), rng.normal(size=(R, n, 2)),
                              rng.normal(size=(R, 5)), rng.normal(size=(R, 2)))
    pairs = np.array([[data.row("0"), data.row("1")], [data.row("01"), data.row("1")], [sq.INITIAL, data.row("00")]])
    pv = sq.pair_variables(tracking, pairs)
    states = np.concatenate([tracking.states, tracking.initial_states[:, None]], axis=1).astype(np.float64)
    seqs = list(data.sequences) + [()]
    for p, (a, b) in enumerate(pairs):
        pa, pb = seqs[a], seqs[b]
        suffixes = [s for k in range(0, 5) for s in itertools.product((0, 1), repeat=k)
                    if pa + s in data.index and pb + s in data.index]
        assert pv.n[p] == len(suffixes)
        assert pv.lengths[p].tolist() == [len(pa), len(pb)]
        np.testing.assert_allclose(pv.h[p], np.sum((states[:, b] - states[:, a]) ** 2, axis=1), rtol=1e-12)
        out = tracking.outputs.astype(np.float64)
        dy = np.stack([out[:, data.index[pb + s]] - out[:, data.index[pa + s]] for s in suffixes], axis=1)
        delta = np.stack([np.eye(2)[data.targets[data.index[pb + s]]] - np.eye(2)[data.targets[data.index[pa + s]]]
                          for s in suffixes])
        y = np.mean(np.sum(dy**2, axis=-1), axis=1)
        np.testing.assert_allclose(pv.y[p], y, rtol=1e-12)
        np.testing.assert_allclose(pv.w[p], y - np.mean(np.einsum("rnk,nk->rn", dy, delta), axis=1), rtol=1e-12)
        assert pv.d2[p] == pytest.approx(np.mean(np.sum(delta**2, axis=1)))


def test_fit_pairs_recovers_rho_from_trajectories_of_the_theory():
    t = np.arange(0, 3001, 20)
    z0 = np.array([[0.02, 1e-3, 1e-3], [0.5, 1e-3, 1e-3 - np.sqrt(2 * 1e-3) * 0.5]])
    d2 = np.array([0.0, 2.0])
    eta_h, eta_y = np.array([0.01, 0.002]), np.array([0.002, 0.05])  # rho = 5 (A_high < 0), 0.04
    z = solve(z0, t, eta_h=eta_h, eta_y=eta_y, dx2=1.0, dy2=d2)
    pv = sq.PairVariables(pairs=np.array([[0, 1], [2, 3]]), epochs=t, h=z[..., 0], y=z[..., 1], w=z[..., 2],
                          d2=d2, n=np.array([3, 3]), lengths=np.array([[1, 1], [1, 1]]))
    fitted = sq.fit_pairs(pv)
    np.testing.assert_allclose(fitted.rho, eta_h / eta_y, rtol=1e-3)
    expected = sq.predict_merger(z0[:, 0], z0[:, 1], d2, eta_h / eta_y)
    np.testing.assert_allclose(fitted.prediction.h_inf, expected.h_inf, rtol=1e-3, atol=1e-12)
    assert fitted.prediction.merges.tolist() == expected.merges.tolist() == [True, False]


def test_agreeing_means_the_same_minimal_task_state():
    data = sq.complete(sq.parity(), 3)
    pairs = np.array([[data.row("0"), data.row("00")], [data.row("0"), data.row("1")], [sq.INITIAL, data.row("11")]])
    assert sq.agreeing(sq.parity(), data, pairs).tolist() == [True, False, True]
