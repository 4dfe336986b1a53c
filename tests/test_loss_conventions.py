"""Loss conventions: every trainer steps on the convention it is given, and records the theory's loss.

The oracle of each engine is one SGD step written out here: the explicit
loss of the convention as the authors' code writes it (``0.5 *
F.mse_loss``, ``nn.MSELoss()``, or the theory's ``1/2 mean_i ||e_i||^2``),
differentiated by autograd on a copy of the network, and the update
``p - lr * grad`` applied by hand. In float64 the engines must match it to
1e-12.
"""

from __future__ import annotations

import copy
import dataclasses
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repdyn.fast import train_pair_fast, train_pairs_batched
from repdyn.nets import ArchSpec, build_network
from repdyn.runs import DatasetConfig, Training, TwoPointConfig, reference_loss
from repdyn.sweep import cache_key
from repdyn.track import (
    LOSSES,
    THEORY_LOSS,
    loss_scale,
    project_loss,
    track_pair,
    track_pairs,
    train_tracking_pair,
)

torch.set_num_threads(1)

SPEC = ArchSpec(name="tiny", units=8, hidden_layers=3, lr=0.05, epochs=1, gain=1.0)
OUT = 3  # output values per point: the conventions differ by 1/3 and 2/3

#: The conventions written as the reference code writes them.
EXPLICIT = {
    "half_sum": lambda pred, y: 0.5 * ((pred - y) ** 2).sum(dim=1).mean(),
    "half_mse": lambda pred, y: 0.5 * F.mse_loss(pred, y),
    "mse": lambda pred, y: nn.MSELoss()(pred, y),
}


def _network(seed: int = 0) -> nn.Module:
    return build_network(SPEC, 2, OUT, seed=seed, dtype=torch.float64)


def _points(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 2, generator=generator, dtype=torch.float64),
            torch.randn(n, OUT, generator=generator, dtype=torch.float64))


def _one_step_by_hand(network: nn.Module, x: torch.Tensor, y: torch.Tensor, loss: str, lr: float) -> nn.Module:
    """A copy of ``network`` after one full-batch SGD step on the explicit loss ``loss``."""
    stepped = copy.deepcopy(network)
    value = EXPLICIT[loss](stepped(x), y)
    grads = torch.autograd.grad(value, list(stepped.parameters()))
    with torch.no_grad():
        for p, g in zip(stepped.parameters(), grads, strict=True):
            p -= lr * g
    return stepped


def _assert_same_weights(trained: nn.Module, expected: nn.Module) -> None:
    for (name, p), q in zip(trained.named_parameters(), expected.parameters(), strict=True):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=0, atol=1e-12, err_msg=name)


def test_loss_scale_matches_the_explicit_losses():
    generator = torch.Generator().manual_seed(3)
    pred, y = torch.randn(2, 5, OUT, generator=generator, dtype=torch.float64)
    for loss in LOSSES:
        want = float(EXPLICIT[loss](pred, y))
        assert loss_scale(loss, OUT) * float(project_loss(pred, y)) == pytest.approx(want, rel=1e-14)
    assert loss_scale(THEORY_LOSS, 7) == 1.0
    assert loss_scale("half_mse", 10) == pytest.approx(0.1)
    assert loss_scale(" MSE ", 10) == pytest.approx(0.2)


@pytest.mark.parametrize("bad", ["l1", "", True, 2, None])
def test_unknown_loss_is_refused_by_name(bad):
    with pytest.raises((ValueError, TypeError), match="loss"):
        loss_scale(bad, 3)
    with pytest.raises((ValueError, TypeError), match="loss"):
        train_pair_fast(_network(), None, *_points(2), lr=0.1, epochs=1, loss=bad)
    if bad is not None:
        with pytest.raises((ValueError, TypeError), match="loss"):
            Training(loss=bad)


def test_loss_scale_refuses_a_bad_output_count():
    for bad in (0, -1, 1.5, True):
        with pytest.raises((ValueError, TypeError), match="n_outputs"):
            loss_scale("mse", bad)


def _autograd_pair(network, x, y, loss, lr):
    return track_pair(network, None, x, y, optimizer=functools.partial(torch.optim.SGD, lr=lr), epochs=1,
                      loss=loss)


def _fast_pair(network, x, y, loss, lr):
    return train_pair_fast(network, None, x, y, lr=lr, epochs=1, loss=loss)


def _batched(trainer):
    def run(network, x, y, loss, lr):
        return train_pairs_batched([network], x[None], y[None], lr=lr, epochs=1, loss=loss, trainer=trainer)[0]
    return run


def _dataset_trainer(network, x, y, loss, lr):
    return train_tracking_pair(network, None, x, y, (0, 1), optimizer=functools.partial(torch.optim.SGD, lr=lr),
                               epochs=1, batch_size=len(x), seed=0, shuffle=False, loss=loss)


PAIR_ENGINES = {
    "track_pair": _autograd_pair,
    "train_pair_fast": _fast_pair,
    "batched kernels": _batched("batched"),
    "batched functional": _batched("functional"),
    "train_tracking_pair": _dataset_trainer,
}


@pytest.mark.parametrize("engine", sorted(PAIR_ENGINES))
@pytest.mark.parametrize("loss", LOSSES)
def test_one_step_of_every_engine_matches_the_explicit_loss(engine, loss):
    network = _network()
    x, y = _points(2)
    expected = _one_step_by_hand(network, x, y, loss, SPEC.lr)
    with torch.no_grad():
        before = float(project_loss(network(x), y))
    run = PAIR_ENGINES[engine](network, x, y, loss, SPEC.lr)
    _assert_same_weights(network, expected)
    # The recorded loss is the theory's, whatever the steps minimised.
    assert run.loss[0] == pytest.approx(before, rel=1e-12)
    with torch.no_grad():
        after = float(project_loss(expected(x), y))
    assert run.loss[1] == pytest.approx(after, rel=1e-10)


@pytest.mark.parametrize("loss", LOSSES)
def test_a_minibatch_step_on_a_data_set_matches_the_explicit_loss(loss):
    """track_pairs on 6 points in minibatches of 3, data order: two hand steps, each on its own minibatch."""
    network = _network(seed=4)
    x, y = _points(6, seed=5)
    halfway = _one_step_by_hand(network, x[:3], y[:3], loss, SPEC.lr)
    expected = _one_step_by_hand(halfway, x[3:], y[3:], loss, SPEC.lr)
    with torch.no_grad():
        initial = float(project_loss(network(x), y))
        # The epoch's training loss: the theory's loss of each minibatch before its step, weighted by its size.
        epoch_loss = 0.5 * (float(project_loss(network(x[:3]), y[:3])) + float(project_loss(halfway(x[3:]), y[3:])))
    run = track_pairs(network, None, x, y, [[0, 5]], optimizer=functools.partial(torch.optim.SGD, lr=SPEC.lr),
                      epochs=1, batch_size=3, shuffle=False, loss=loss)
    _assert_same_weights(network, expected)
    assert run.train_loss[0] == pytest.approx(initial, rel=1e-12)
    assert run.train_loss[1] == pytest.approx(epoch_loss, rel=1e-12)


def test_under_sgd_a_scaled_loss_is_a_scaled_learning_rate():
    """Many epochs: half_mse at lr is half_sum at lr / n, on the fast path and under autograd."""
    x, y = _points(2, seed=7)
    for train in (_autograd_many, _fast_many):
        scaled = train(_network(seed=2), x, y, "half_mse", 0.3)
        plain = train(_network(seed=2), x, y, THEORY_LOSS, 0.3 / OUT)
        np.testing.assert_allclose(scaled.z(scaled.layers[0]), plain.z(plain.layers[0]), rtol=1e-9, atol=1e-12)
        different = train(_network(seed=2), x, y, THEORY_LOSS, 0.3)
        assert not np.allclose(scaled.h[-1], different.h[-1], rtol=1e-3)


def _autograd_many(network, x, y, loss, lr):
    return track_pair(network, None, x, y, optimizer=functools.partial(torch.optim.SGD, lr=lr), epochs=50, loss=loss)


def _fast_many(network, x, y, loss, lr):
    return train_pair_fast(network, None, x, y, lr=lr, epochs=50, loss=loss)


@pytest.mark.parametrize("loss", ["half_mse", "mse"])
def test_kernel_rates_under_sgd_scale_with_the_loss(loss):
    """One step on c * L moves dh and dyhat c times as far: kernel and step rates are c times the theory's."""
    x, y = _points(2, seed=8)
    runs = {name: track_pair(_network(seed=3), None, x, y, optimizer=functools.partial(torch.optim.SGD, lr=0.01),
                             epochs=1, kernel_every=1, kernel_probes=2, seed=0, loss=name)
            for name in (THEORY_LOSS, loss)}
    c = loss_scale(loss, OUT)
    for field in ("kernel_eta_h", "kernel_eta_y", "step_eta_h", "step_eta_y"):
        ours, theirs = getattr(runs[loss], field)[0], getattr(runs[THEORY_LOSS], field)[0]
        assert np.all(np.isfinite(ours)) and np.all(theirs > 0)
        np.testing.assert_allclose(ours, c * theirs, rtol=1e-9, err_msg=field)
    # The diagnostics describe directions only: unchanged.
    for field in ("kernel_cos", "kernel_isotropy"):
        np.testing.assert_allclose(getattr(runs[loss], field)[0], getattr(runs[THEORY_LOSS], field)[0], rtol=1e-9)


def test_kernel_rates_under_adam_do_not_scale_with_the_loss():
    """Adam divides the step by the gradient's size: its first step, and so its rates, ignore c (but for eps)."""
    x, y = _points(2, seed=8)
    rates = {name: track_pair(_network(seed=3), None, x, y, optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
                              epochs=1, kernel_every=1, kernel_probes=0, seed=0, loss=name).kernel_eta_h[0]
             for name in (THEORY_LOSS, "half_mse")}
    np.testing.assert_allclose(rates["half_mse"], rates[THEORY_LOSS], rtol=1e-4)


def test_dataset_kernel_rates_scale_with_the_loss():
    x, y = _points(6, seed=9)
    runs = {name: train_tracking_pair(_network(seed=1), None, x, y, (0, 3),
                                      optimizer=functools.partial(torch.optim.SGD, lr=0.01), epochs=1,
                                      batch_size=6, seed=0, kernel_every=1, kernel_probes=0, loss=name)
            for name in (THEORY_LOSS, "mse")}
    np.testing.assert_allclose(runs["mse"].kernel_eta_h[0], loss_scale("mse", OUT) * runs[THEORY_LOSS].kernel_eta_h[0],
                               rtol=1e-9)


def test_trials_default_to_the_reference_convention_of_their_data():
    assert TwoPointConfig().loss_convention == "half_mse" == reference_loss("two-point")
    assert DatasetConfig("xor", "default").loss_convention == "mse"
    assert DatasetConfig("blobs", "default").loss_convention == "half_mse"
    assert DatasetConfig("mnist", "default").loss_convention == "half_mse"
    assert reference_loss(None) == THEORY_LOSS == reference_loss("my data")
    assert TwoPointConfig(loss_convention="half_sum").trained_with.loss == "half_sum"
    assert TwoPointConfig(training=Training(loss="mse")).loss_convention == "mse"


def test_the_loss_enters_the_cache_key_and_conflicts_are_refused():
    from repdyn.runs import dataset_trial, two_point_trial

    keys = {cache_key(two_point_trial, TwoPointConfig(loss_convention=loss)) for loss in LOSSES}
    assert len(keys) == 3
    keys = {cache_key(dataset_trial, DatasetConfig("xor", "default", loss_convention=loss)) for loss in LOSSES}
    assert len(keys) == 3
    assert TwoPointConfig(loss_convention=None) == TwoPointConfig(loss_convention="half_mse")
    with pytest.raises(ValueError, match="loss_convention"):
        TwoPointConfig(loss_convention="mse", training=Training(loss="half_sum"))
    with pytest.raises(ValueError, match="loss_convention"):
        DatasetConfig("xor", "default", loss_convention="l2")


def test_a_two_point_trial_records_its_convention_and_trains_by_it():
    from repdyn.runs import two_point_trial

    arch = dataclasses.replace(SPEC, epochs=30)
    results = {loss: two_point_trial(TwoPointConfig(arch=arch, out_dim=OUT, fit=False, loss_convention=loss))
               for loss in (THEORY_LOSS, "mse")}
    assert results["mse"]["loss_scale"] == pytest.approx(2 / OUT)
    assert results[THEORY_LOSS]["loss_scale"] == 1.0
    # Same initial state, different training: the loss moved the run.
    assert results["mse"]["h0"] == results[THEORY_LOSS]["h0"]
    assert results["mse"]["h_final"] != pytest.approx(results[THEORY_LOSS]["h_final"], rel=1e-6)


@pytest.mark.parametrize("command", [["run", "two-point"], ["atlas", "--data", "xor"]])
def test_the_command_line_refuses_an_unknown_loss_by_name(tmp_path, command):
    from typer.testing import CliRunner

    from repdyn.cli import app

    result = CliRunner().invoke(app, [*command, "--loss", "l1", "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "loss" in result.output and "half_sum" in result.output and "Traceback" not in result.output


def test_the_atlas_trains_on_the_reference_loss_of_a_built_in_data_set():
    from repdyn.atlas import plan_atlas

    assert plan_atlas("xor low", "xor", epochs=2, pairs=2).training.loss == "mse"
    assert plan_atlas("xor low", "xor", epochs=2, pairs=2, loss="half_sum").training.loss == "half_sum"
    x, y = _points(6)
    assert plan_atlas(SPEC, (x.numpy(), y.numpy()), epochs=2, pairs=2).training.loss == THEORY_LOSS
