"""Sequence data, networks and prefix tracking; the batched grid against single runs; the slow parity run."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

import repdyn.sequences as sq
from repdyn.track import record_epochs

PACKAGE = Path(sq.__file__).parent


def test_complete_and_per_step_data_agree():
    task = sq.parity()
    data = sq.complete(task, 4)
    assert data.n_items == 30 and data.max_length == 4
    assert data.labels[:6] == ("0", "1", "00", "01", "10", "11")
    longest = [s for s in itertools.product((0, 1), repeat=4)]
    steps = [np.cumsum(s) % 2 for s in longest]
    from_steps = sq.SequenceData.from_steps(longest, steps, n_symbols=2, n_outputs=2)
    assert from_steps.sequences == data.sequences
    np.testing.assert_array_equal(from_steps.targets, data.targets)
    with pytest.raises(ValueError, match="step_targets"):
        sq.SequenceData.from_steps(["01", "00"], [[0, 1], [1, 0]])  # "0" gets two targets


def test_sampled_data_are_distinct_subsets_and_fraction_one_is_complete():
    task = sq.parity()
    full = sq.complete(task, 6)
    part = sq.sampled(task, 6, fraction=0.3, seed=4)
    assert set(part.sequences) < set(full.sequences)
    np.testing.assert_array_equal(part.targets, [full.targets[full.index[s]] for s in part.sequences])
    assert sq.sampled(task, 6, fraction=1.0).sequences == full.sequences
    # Binomial(2^n, p) per length: the expected total over many draws.
    totals = [sq.sampled(task, 6, fraction=0.3, seed=k).n_items for k in range(200)]
    assert abs(np.mean(totals) - 0.3 * 126) < 4 * np.sqrt(126 * 0.3 * 0.7 / 200)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="fraction"):
        sq.sampled(sq.parity(), 5, fraction=0.0)
    with pytest.raises(TypeError, match="max_length"):
        sq.complete(sq.parity(), 4.0)
    with pytest.raises(ValueError, match="distinct"):
        sq.SequenceData.from_prefixes(["01", "01"], [1, 1])
    with pytest.raises(TypeError, match="task"):
        sq.complete("parity", 3)
    with pytest.raises(ValueError, match="k must be"):
        sq.count_mod(1)
    with pytest.raises(ValueError, match="max_length=30"):
        sq.complete(sq.parity(), 30)
    with pytest.raises(ValueError, match="transitions must be state indices"):
        sq.Automaton(transitions=[[0, 5]], outputs=[0])
    with pytest.raises(TypeError, match="transitions must be a 2-D array of integers"):
        sq.Automaton(transitions=[[0.0, 1.0]], outputs=[0])
    run = sq.track_prefixes(sq.ElmanRNN(hidden=2), sq.complete(sq.parity(), 2), epochs=1)
    with pytest.raises(ValueError, match="pairs must have shape"):
        sq.pair_variables(run, [[0, 1, 2]])
    with pytest.raises(ValueError, match="pairs must hold rows"):
        sq.pair_variables(run, [[0, 6]])
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        sq.cluster_states(np.zeros((3, 2)), 0.0)


def test_elman_initialisation_matches_the_follow_up():
    net = sq.ElmanRNN(hidden=400, seed=0)
    assert net.rnn.weight_hh_l0.std().item() == pytest.approx(0.1 * np.sqrt(2 / 800), rel=0.02)
    assert net.rnn.weight_ih_l0.std().item() == pytest.approx(0.1 * np.sqrt(2 / 402), rel=0.1)
    assert torch.all(net.rnn.bias_hh_l0 == 0) and torch.all(net.h0 == 1)
    # The forward pass is h_t = relu(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), y = W_hy h_T + b_hy.
    x = sq.one_hot([[0, 1, 1]], 2)
    h = net.h0
    for t in range(3):
        rnn = net.rnn
        h = torch.relu(rnn.weight_ih_l0 @ x[0, t] + rnn.bias_ih_l0 + rnn.weight_hh_l0 @ h + rnn.bias_hh_l0)
    hidden, out = net(x)
    torch.testing.assert_close(hidden[0], h)
    torch.testing.assert_close(out[0], net.readout(h))


def test_discontinuity_forward_and_gradient():
    net = sq.ElmanRNN(hidden=3, discontinuity=True, seed=2)
    z = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    out = net.read(z)
    expected = net.readout(torch.tensor([0.0, 1.5, 3.0]))
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    relu_z = z.detach().clone().requires_grad_(True)
    net.readout(torch.relu(relu_z)).sum().backward()
    torch.testing.assert_close(z.grad, relu_z.grad)


@pytest.mark.parametrize("make", [lambda: sq.ElmanRNN(hidden=12, seed=3), lambda: sq.GRUNetwork(hidden=12, seed=3)])
def test_tracking_records_every_prefix_as_a_fresh_measurement(make):
    data = sq.complete(sq.parity(), 4)
    model = make()
    before = sq.measure_prefixes(model, data)
    tests = sq.length_sets(sq.parity(), [12], 4, seed=1)
    run = sq.track_prefixes(model, data, epochs=7, record_every=3, test_sets=tests, lr=0.05)
    assert isinstance(model, sq.SequenceModel)
    assert run.epochs.tolist() == record_epochs(7, 3).tolist() == [0, 3, 6, 7]
    assert run.states.shape == (4, 30, 12) and run.outputs.shape == (4, 30, 2)
    np.testing.assert_array_equal(run.states[0], before[0])
    np.testing.assert_array_equal(run.initial_states[0], before[2])
    after = sq.measure_prefixes(model, data)
    np.testing.assert_array_equal(run.states[-1], after[0])
    np.testing.assert_array_equal(run.outputs[-1], after[1])
    expected_loss = np.mean((after[1] - np.eye(2)[data.targets]) ** 2)
    assert run.train_loss[-1] == pytest.approx(expected_loss, rel=1e-5)
    assert run.test_loss[12].shape == (4,) and np.isfinite(run.test_loss[12]).all()
    assert run.epoch_loss.shape == (7,)


def test_schedule_steps_once_per_minibatch_within_a_length():
    data = sq.complete(sq.parity(), 8)
    steps = []

    class Counting(torch.optim.SGD):
        def step(self, closure=None):
            steps.append(1)
            return super().step(closure)

    sq.track_prefixes(sq.ElmanRNN(hidden=4), data, epochs=2, record_every=2,
                      optimizer=lambda params: Counting(params, lr=0.01), batch_size=100)
    # Lengths 1..6 one batch each, 7: 128 -> 2, 8: 256 -> 3.
    assert sq.steps_per_epoch(data, 100) == 6 + 2 + 3
    assert len(steps) == 2 * 11


def test_record_bound_is_checked_before_the_run():
    data = sq.complete(sq.parity(), 10)
    assert sq.record_megabytes(1001, 2046, 100, 2) == pytest.approx(836.0, abs=0.1)
    model = sq.ElmanRNN()
    weights = model.rnn.weight_hh_l0.detach().clone()
    with pytest.raises(ValueError, match=r"836 MB.*record_every=2: 418 MB"):
        sq.track_prefixes(model, data, epochs=1000)
    assert torch.equal(model.rnn.weight_hh_l0, weights)  # refused before any step


def test_model_protocol_errors_are_clear():
    data = sq.complete(sq.parity(), 2)
    with pytest.raises(TypeError, match="SequenceModel"):
        sq.track_prefixes(torch.nn.Linear(2, 2), data, epochs=1)

    class WrongOutputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 3)

        def forward(self, x):
            return x[:, -1], self.lin(x[:, -1])

        def initial_state(self):
            return None

    with pytest.raises(ValueError, match=r"output \(1, 2\)"):
        sq.track_prefixes(WrongOutputs(), data, epochs=1)


def test_a_model_without_initial_state_is_tracked_but_gives_no_automaton():
    class LastToken(torch.nn.Module):
        """A one-layer causal-free toy: the mean of the inputs, then a linear map (no initial state)."""

        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Linear(2, 6)
            self.out = torch.nn.Linear(6, 2)

        def forward(self, x):
            h = torch.tanh(self.enc(x)).mean(dim=1)
            return h, self.out(h)

        def initial_state(self):
            return None

    data = sq.complete(sq.parity(), 3)
    run = sq.track_prefixes(LastToken(), data, epochs=2)
    assert run.initial_states is None and run.states.shape == (3, 14, 6)
    with pytest.raises(ValueError, match="initial state"):
        sq.automaton_history(run, eps=0.1)


def test_grid_trains_each_network_as_its_own_run():
    task = sq.parity()
    datasets = [sq.sampled(task, 6, fraction=f, seed=2) for f in (0.4, 1.0)]
    gains = (0.1, 0.8)
    grid = sq.train_elman_grid([sq.ElmanRNN(hidden=16, gain=g, seed=5) for g in gains], datasets,
                               epochs=15, lr=0.05, loss="cross_entropy", seed=3)
    for k, (g, data) in enumerate(zip(gains, datasets, strict=True)):
        alone = sq.ElmanRNN(hidden=16, gain=g, seed=5)
        run = sq.track_prefixes(alone, data, epochs=15, lr=0.05, loss="cross_entropy", seed=3, record_every=15)
        np.testing.assert_allclose(grid.epoch_loss[k], run.epoch_loss, rtol=1e-4)
        for a, b in zip(alone.parameters(), grid.models[k].parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_grid_stops_a_network_at_its_loss_threshold():
    data = sq.complete(sq.parity(), 2)
    grid = sq.train_elman_grid([sq.ElmanRNN(hidden=8, gain=1.0, seed=0), sq.ElmanRNN(hidden=8, gain=0.1, seed=0)],
                               [data, data], epochs=400, lr=0.5, loss="cross_entropy", stop_loss=0.05)
    for k in range(2):
        if grid.status[k] == "converged":
            stop = grid.stop_epoch[k]
            assert grid.epoch_loss[k, stop - 1] < 0.05 and np.all(grid.epoch_loss[k, : stop - 1] >= 0.05)
            assert np.all(np.isnan(grid.epoch_loss[k, stop:]))
    assert "converged" in grid.status.tolist()


def test_sequences_imports_only_lower_layers_and_their_public_names():
    allowed = {"checks", "vocabulary", "theory", "track", "nets", "sequences"}
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for module in modules:
                parts = module.split(".")
                if parts[0] != "repdyn" or len(parts) < 2:
                    continue
                assert parts[1] in allowed, f"{path.name} imports {module}"
                if parts[1] != "sequences":
                    assert not any(p.startswith("_") for p in parts[2:]), f"{path.name} imports private {module}"


@pytest.mark.slow
def test_reduced_parity_run_learns_a_closed_two_state_automaton():
    """The spec's statistical test: length 8, gain 0.1, seed 0 (claims C1a, C2c, C2d at a cheaper record)."""
    torch.set_num_threads(1)
    task = sq.parity()
    data = sq.complete(task, 8)
    tests = {1000: sq.random_sequences(task, 1000, 10, seed=1000)}
    run = sq.track_prefixes(sq.ElmanRNN(gain=0.1, seed=0), data, epochs=1000, record_every=100, test_sets=tests)
    assert run.test_loss[1000][-1] < 1e-3
    eps = 0.01 * sq.state_scale(run, records="final")
    final = sq.extract_at(run, -1, eps=eps)
    assert final.closed
    small = sq.minimize(final.automaton)
    assert small.n_states == 2 and sq.equivalent(small, task, 30)
