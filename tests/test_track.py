"""Tests for repdyn.track: hooks on user models against direct computation,
the recorded loss and m0, divergence and convergence, determinism, minibatch
tracking and input checks.

Oracles are independent of the hooks: a functional forward written out from the
model's weights, and a hand-written SGD loop using ``torch.autograd.grad``.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repdyn.track import (
    ChunkSchedule,
    PairLog,
    PairTracking,
    measure_pair,
    pair_metrics,
    project_loss,
    resolve_layers,
    track_pair,
    train_tracking_pair,
)

torch.set_num_threads(1)


class Block(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.linear(x)))


class UserNet(nn.Module):
    """A user's model: LayerNorm, GELU and a nested submodule, no tracking code."""

    def __init__(self, d_in: int = 3, width: int = 12, d_out: int = 2) -> None:
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.block = Block(width)
        self.head = nn.Linear(width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(F.gelu(self.inp(x))))


def functional_forward(p: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """UserNet written out from its weights; returns every intermediate by layer name."""
    inp = F.linear(x, p["inp.weight"], p["inp.bias"])
    lin = F.linear(F.gelu(inp), p["block.linear.weight"], p["block.linear.bias"])
    norm = F.layer_norm(lin, (lin.shape[-1],), p["block.norm.weight"], p["block.norm.bias"])
    block = F.gelu(norm)
    out = F.linear(block, p["head.weight"], p["head.bias"])
    return {"inp": inp, "block.linear": lin, "block.norm": norm, "block": block, "": out}


def direct_variables(acts: dict[str, torch.Tensor], y: torch.Tensor, layer: str) -> np.ndarray:
    dh = (acts[layer][0] - acts[layer][1]).reshape(-1)
    dyhat = acts[""][0] - acts[""][1]
    dy = y[0] - y[1]
    yy = float(dyhat @ dyhat)
    return np.array([float(dh @ dh), yy, yy - float(dy @ dyhat)])


def make_user_net(seed: int = 0) -> UserNet:
    torch.manual_seed(seed)
    net = UserNet().double()
    # LayerNorm starts at weight 1, bias 0; perturb so its affine part matters.
    with torch.no_grad():
        net.block.norm.weight.add_(0.3 * torch.randn(12, dtype=torch.float64))
        net.block.norm.bias.add_(0.1 * torch.randn(12, dtype=torch.float64))
    return net


X = torch.tensor([[-1.0, 0.5, 0.2], [0.3, -0.4, 1.0]], dtype=torch.float64)
Y = torch.tensor([[0.6, -0.2], [1.1, 0.4]], dtype=torch.float64)
LAYERS = ["inp", "block", "block.norm"]


def sgd(lr: float):
    return functools.partial(torch.optim.SGD, lr=lr)


# ----------------------------------------------------------------------------
# Hooks against direct computation
# ----------------------------------------------------------------------------


def test_epoch0_matches_direct_forward_at_every_layer():
    net = make_user_net()
    params = {k: v.detach().clone() for k, v in net.named_parameters()}
    run = track_pair(net, LAYERS, X, Y, optimizer=sgd(0.05), epochs=3)
    acts = functional_forward(params, X)
    for layer in LAYERS:
        np.testing.assert_allclose(run.z(layer)[0], direct_variables(acts, Y, layer), rtol=1e-12)


def test_trajectory_matches_manual_autograd_sgd_loop():
    lr, epochs = 0.1, 25
    net = make_user_net(1)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in net.named_parameters()}
    run = track_pair(net, LAYERS, X, Y, optimizer=sgd(lr), epochs=epochs)

    expected = {layer: [] for layer in LAYERS}
    losses = []
    for epoch in range(epochs + 1):
        acts = functional_forward(params, X)
        loss = 0.25 * ((acts[""] - Y) ** 2).sum()  # 1/2 * mean over the 2 points
        losses.append(float(loss.detach()))
        for layer in LAYERS:
            expected[layer].append(
                direct_variables({k: v.detach() for k, v in acts.items()}, Y, layer)
            )
        if epoch < epochs:
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                for p, g in zip(params.values(), grads, strict=True):
                    p -= lr * g

    assert run.h.shape == (epochs + 1, len(LAYERS))
    assert len(run.epochs) == epochs + 1 and run.stop_epoch == epochs
    np.testing.assert_allclose(run.loss, losses, rtol=1e-9)
    for layer in LAYERS:
        np.testing.assert_allclose(run.z(layer), np.array(expected[layer]), rtol=1e-9, atol=1e-14)
    # The trajectory actually moved, so the comparison is not trivially at a fixed point.
    assert abs(losses[-1] - losses[0]) > 1e-3


def test_loss_and_m0_satisfy_the_theory_decomposition():
    # L = 1/2 ||ybar - m||^2 + 1/8 ||e||^2 with ||e||^2 = dy2 - y + 2w: an identity
    # linking loss, m0, y and w that holds at epoch 0 whatever the network.
    net = make_user_net(2)
    run = track_pair(net, "block", X, Y, optimizer=sgd(0.05), epochs=2)
    mean_error = Y.mean(0) - functional_forward(
        {k: v.detach() for k, v in make_user_net(2).named_parameters()}, X
    )[""].mean(0)
    assert run.m0 == pytest.approx(float(mean_error @ mean_error), rel=1e-12)
    assert run.dx2 == pytest.approx(float((X[0] - X[1]) @ (X[0] - X[1])), rel=1e-15)
    assert run.dy2 == pytest.approx(float((Y[0] - Y[1]) @ (Y[0] - Y[1])), rel=1e-15)
    expected = 0.5 * run.m0 + 0.25 * run.w[0] + 0.125 * (run.dy2 - run.y[0])
    assert run.loss[0] == pytest.approx(expected, rel=1e-12)


def test_project_loss_for_one_dimensional_outputs_is_half_mse():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = torch.tensor([[-1.0], [0.0]]), torch.tensor([[0.6], [1.3]])
    expected = 0.5 * float(F.mse_loss(net(x), y).detach())
    run = track_pair(net, "1", x, y, optimizer=sgd(0.01), epochs=1)
    assert run.loss[0] == pytest.approx(expected, rel=1e-6)


def test_inplace_activation_after_tracked_layer_does_not_change_the_measurement():
    torch.manual_seed(4)
    net = nn.Sequential(nn.Linear(2, 10), nn.ReLU(inplace=True), nn.Linear(10, 1)).double()
    x = torch.tensor([[1.0, -2.0], [-0.5, 1.5]], dtype=torch.float64)
    y = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    pre = F.linear(x, net[0].weight, net[0].bias).detach()
    assert (pre < 0).any()  # the in-place ReLU would change these values
    run = track_pair(net, "0", x, y, optimizer=sgd(0.01), epochs=1)
    assert run.h[0, 0] == pytest.approx(float(((pre[0] - pre[1]) ** 2).sum()), rel=1e-12)


def test_measure_pair_matches_direct_forward_and_does_not_train():
    net = make_user_net(5)
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    values = measure_pair(net, LAYERS, X, Y)
    acts = functional_forward(before, X)
    assert list(values) == LAYERS
    for layer in LAYERS:
        np.testing.assert_allclose(values[layer], direct_variables(acts, Y, layer), rtol=1e-12)
    for k, v in net.named_parameters():
        assert torch.equal(v, before[k])


def test_eval_measurement_switches_off_dropout_and_restores_modes():
    torch.manual_seed(6)
    net = nn.Sequential(nn.Linear(2, 30), nn.Dropout(0.5), nn.Tanh(), nn.Linear(30, 1)).double()
    net[3].eval()  # a user's deliberate per-module mode must survive
    x = torch.tensor([[1.0, -2.0], [-0.5, 1.5]], dtype=torch.float64)
    y = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    pre = F.linear(x, net[0].weight, net[0].bias).detach()
    h0 = float(((pre[0] - pre[1]) ** 2).sum())
    dropped = track_pair(copy.deepcopy(net), "1", x, y, optimizer=sgd(0.01), epochs=1, seed=0,
                         measure="train")
    evaluated = track_pair(net, "1", x, y, optimizer=sgd(0.01), epochs=1)  # eval is the default
    assert evaluated.h[0, 0] == pytest.approx(h0, rel=1e-12)
    assert dropped.h[0, 0] != pytest.approx(h0, rel=1e-3)  # train mode: dropout active
    assert net.training and net[1].training and not net[3].training


def test_dropout_network_is_measured_by_a_dropout_free_forward_of_the_same_weights():
    from repdyn.nets import build_network, get_architecture

    spec = get_architecture("dropout").replace(units=16, hidden_layers=4, dropout=0.5)
    x = torch.tensor([[1.0], [-1.0]])
    y = torch.tensor([[0.5], [-0.2]])
    epochs, lr, seed = 12, 0.05, 3
    tracked = build_network(spec, 1, 1, seed=0)
    run = track_pair(tracked, tracked.tracked_layer, x, y, optimizer=sgd(lr), epochs=epochs, seed=seed)

    # Oracle: a plain train-mode SGD loop on the same weights and dropout draws
    # (eval forwards draw no random numbers), measured by an eval forward.
    net = build_network(spec, 1, 1, seed=0)
    layer = net.get_submodule(net.tracked_layer)
    expected = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(epochs + 1):
            net.eval()
            seen = {}
            handle = layer.register_forward_hook(lambda m, i, o: seen.update(h=o.detach()))
            with torch.no_grad():
                net(x)
            handle.remove()
            expected.append(float(((seen["h"][0] - seen["h"][1]) ** 2).sum()))
            net.train()
            if epoch < epochs:
                loss = 0.5 * ((net(x) - y) ** 2).sum(dim=1).mean()
                grads = torch.autograd.grad(loss, list(net.parameters()))
                with torch.no_grad():
                    for param, grad in zip(net.parameters(), grads):
                        param -= lr * grad
    np.testing.assert_allclose(run.h[:, 0], expected, rtol=1e-5)
    train_measured = track_pair(build_network(spec, 1, 1, seed=0), tracked.tracked_layer, x, y,
                                optimizer=sgd(lr), epochs=epochs, seed=seed, measure="train")
    assert not np.allclose(train_measured.h[:, 0], expected, rtol=1e-3)


@pytest.mark.parametrize(("dropout", "forwards_per_epoch"), [(False, 1), (True, 2)])
def test_eval_measurement_adds_a_forward_only_where_the_mode_matters(dropout, forwards_per_epoch):
    from repdyn.track import forward_depends_on_mode

    layers = [nn.Linear(2, 8), nn.Tanh()] + ([nn.Dropout(0.2)] if dropout else []) + [nn.Linear(8, 1)]
    net = nn.Sequential(*layers).double()
    assert forward_depends_on_mode(net) is dropout
    calls = []
    net.register_forward_hook(lambda *_: calls.append(1))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    track_pair(net, "1", x, y, optimizer=sgd(0.1), epochs=5, seed=0)
    assert len(calls) == 5 * forwards_per_epoch + 1


def test_a_module_can_declare_that_its_forward_depends_on_the_mode():
    from repdyn.track import forward_depends_on_mode

    class Noisy(nn.Module):
        forward_depends_on_mode = True

        def forward(self, x):
            return x + torch.randn_like(x) if self.training else x

    assert forward_depends_on_mode(nn.Sequential(nn.Linear(2, 2), Noisy()))
    assert not forward_depends_on_mode(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)))
    assert forward_depends_on_mode(nn.Sequential(nn.BatchNorm1d(2)))


def test_all_and_declared_tracked_layer_come_from_model_attributes():
    net = make_user_net()
    net.hidden_layer_names = ("inp", "block")
    net.tracked_layer = "block"
    assert resolve_layers(net, "all") == ("inp", "block")
    assert resolve_layers(net, None) == ("block",)
    assert resolve_layers(net, [net.block.norm, "inp", "inp"]) == ("block.norm", "inp")
    run = track_pair(net, "all", X, Y, optimizer=sgd(0.01), epochs=1)
    assert run.layers == ("inp", "block")


# ----------------------------------------------------------------------------
# Divergence, convergence and early stopping
# ----------------------------------------------------------------------------


def divergent_setup():
    torch.manual_seed(7)
    net = nn.Sequential(
        nn.Linear(1, 20), nn.LeakyReLU(), nn.Linear(20, 20), nn.LeakyReLU(), nn.Linear(20, 1)
    )
    x, y = torch.tensor([[-1.0], [0.0]]), torch.tensor([[0.6], [1.3]])
    return net, x, y


def first_nonfinite_loss_epoch(net: nn.Module, x, y, lr: float, epochs: int) -> int | None:
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    for epoch in range(epochs + 1):
        loss = 0.5 * ((net(x) - y) ** 2).sum(1).mean()
        if not torch.isfinite(loss):
            return epoch
        if epoch < epochs:
            opt.zero_grad()
            loss.backward()
            opt.step()
    return None


@pytest.mark.parametrize("check_every", [1, 16, 500])
def test_divergence_is_recorded_at_the_first_nonfinite_epoch(check_every):
    net, x, y = divergent_setup()
    expected = first_nonfinite_loss_epoch(copy.deepcopy(net), x, y, lr=3.0, epochs=200)
    assert expected is not None and expected > 1
    run = track_pair(
        net, "1", x, y, optimizer=sgd(3.0), epochs=200, loss_threshold=1e-3, check_every=check_every
    )
    assert run.status == "diverged"
    assert run.diverged_epoch == expected == run.stop_epoch
    assert len(run.epochs) == 201
    before = np.column_stack([run.h, run.y, run.w, run.loss])[:expected]
    assert np.isfinite(before).all()
    assert not np.isfinite(run.loss[expected])
    assert np.isnan(run.h[expected + 1 :]).all() and np.isnan(run.loss[expected + 1 :]).all()
    assert run.last_finite_epoch == expected - 1
    assert len(run.theory_inputs()["t"]) == expected


def test_not_converged_and_converged_status():
    net, x, y = divergent_setup()
    short = track_pair(
        copy.deepcopy(net), "1", x, y, optimizer=sgd(0.01), epochs=5, loss_threshold=1e-6
    )
    assert short.status == "not_converged"
    assert short.final_loss == short.loss[-1] > 1e-6
    assert short.converged_epoch is None

    long = track_pair(
        copy.deepcopy(net), "1", x, y, optimizer=sgd(0.05), epochs=400, loss_threshold=1e-3
    )
    assert long.status == "converged" and long.final_loss <= 1e-3
    below = long.loss <= 1e-3
    assert long.converged_epoch == int(np.argmax(below)) and not below[: long.converged_epoch].any()

    free = track_pair(copy.deepcopy(net), "1", x, y, optimizer=sgd(0.05), epochs=3)
    assert free.status == "completed" and free.loss_threshold is None


def test_early_stop_keeps_a_prefix_of_the_full_run():
    net, x, y = divergent_setup()
    full = track_pair(copy.deepcopy(net), "1", x, y, optimizer=sgd(0.05), epochs=400, check_every=16)
    early = track_pair(
        copy.deepcopy(net), "1", x, y, optimizer=sgd(0.05), epochs=400, check_every=16,
        loss_threshold=1e-3, stop_when_converged=True,
    )  # fmt: skip
    assert early.status == "converged"
    stop = early.stop_epoch
    assert stop < 400 and stop % 16 == 0 and full.loss[stop - 1] <= 1e-3 < full.loss[stop - 17]
    np.testing.assert_array_equal(early.h[: stop + 1], full.h[: stop + 1])
    np.testing.assert_array_equal(early.loss[: stop + 1], full.loss[: stop + 1])
    assert np.isnan(early.loss[stop + 1 :]).all()


# ----------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------


def test_same_init_and_config_give_bitwise_identical_trajectories():
    runs = [
        track_pair(make_user_net(9), LAYERS, X, Y, optimizer=sgd(0.05), epochs=30, check_every=c)
        for c in (1, 7, 256)
    ]
    for other in runs[1:]:
        for name in ("h", "y", "w", "loss"):
            assert np.array_equal(getattr(runs[0], name), getattr(other, name))
        assert runs[0].m0 == other.m0


def test_seed_makes_dropout_reproducible_without_touching_global_rng():
    def run(seed):
        torch.manual_seed(10)
        net = nn.Sequential(nn.Linear(2, 30), nn.Tanh(), nn.Dropout(0.3), nn.Linear(30, 1))
        x, y = torch.tensor([[1.0, -2.0], [-0.5, 1.5]]), torch.tensor([[0.0], [1.0]])
        state = torch.get_rng_state()
        result = track_pair(
            net, "2", x, y, optimizer=torch.optim.Adam(net.parameters(), 1e-2), epochs=20, seed=seed
        )
        assert torch.equal(torch.get_rng_state(), state)
        return result

    a, b, c = run(1), run(1), run(2)
    assert np.array_equal(a.h, b.h) and np.array_equal(a.loss, b.loss)
    assert not np.array_equal(a.h, c.h)


# ----------------------------------------------------------------------------
# Minibatch training while tracking a pair
# ----------------------------------------------------------------------------


def dataset(n: int = 24):
    g = torch.Generator().manual_seed(11)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    y = torch.stack([torch.sin(x[:, 0]), x[:, 1] * x[:, 2]], dim=1)
    return x, y


def test_minibatch_tracking_matches_manual_minibatch_loop():
    x, y = dataset()
    lr, epochs, batch, (i, j) = 0.05, 4, 5, (3, 17)
    net = make_user_net(12)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in net.named_parameters()}
    run = train_tracking_pair(
        net,
        LAYERS,
        x,
        y,
        (i, j),
        optimizer=sgd(lr),
        epochs=epochs,
        batch_size=batch,
        seed=0,
        shuffle=False,
    )
    pair_x, pair_y = x[[i, j]], y[[i, j]]
    expected, train_loss = [], []

    with torch.no_grad():
        train_loss.append(float(0.5 * ((functional_forward(params, x)[""] - y) ** 2).sum(1).mean()))
    for epoch in range(epochs + 1):
        acts = {k: v.detach() for k, v in functional_forward(params, pair_x).items()}
        expected.append(direct_variables(acts, pair_y, "block"))
        if epoch == epochs:
            break
        total = 0.0
        for first in range(0, len(x), batch):
            xb, yb = x[first : first + batch], y[first : first + batch]
            loss = 0.5 * ((functional_forward(params, xb)[""] - yb) ** 2).sum(1).mean()
            total += float(loss.detach()) * len(xb)
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                for p, g in zip(params.values(), grads, strict=True):
                    p -= lr * g
        train_loss.append(total / len(x))

    assert run.pair == (i, j) and run.status == "completed"
    assert run.dx2 == pytest.approx(float(((x[i] - x[j]) ** 2).sum()), rel=1e-14)
    np.testing.assert_allclose(run.z("block"), np.array(expected), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(run.train_loss, train_loss, rtol=1e-9)


def test_minibatch_shuffling_is_seeded_and_visits_every_point():
    x, y = dataset()

    def run(seed, batch=6, shuffle=True):
        net = make_user_net(13)  # seeds the global generator itself
        state = torch.get_rng_state()
        result = train_tracking_pair(
            net, "block", x, y, (0, 1), optimizer=sgd(0.05), epochs=3,
            batch_size=batch, seed=seed, shuffle=shuffle, check_every=2,
        )  # fmt: skip
        assert torch.equal(torch.get_rng_state(), state)
        return result

    a, b, c = run(5), run(5), run(6)
    assert np.array_equal(a.h, b.h) and np.array_equal(a.train_loss, b.train_loss)
    assert not np.array_equal(a.h[1:], c.h[1:])
    # Full batch: the order only changes rounding, so a shuffled epoch must use every point.
    full_shuffled, full_ordered = run(5, batch=len(x)), run(5, batch=len(x), shuffle=False)
    np.testing.assert_allclose(full_shuffled.h, full_ordered.h, rtol=1e-10)


def test_minibatch_divergence_and_convergence_use_the_training_loss():
    x, y = dataset()
    torch.manual_seed(14)
    net = nn.Sequential(
        nn.Linear(3, 20), nn.LeakyReLU(), nn.Linear(20, 20), nn.LeakyReLU(), nn.Linear(20, 2)
    )
    bad = train_tracking_pair(
        copy.deepcopy(net),
        "1",
        x.float(),
        y.float(),
        (0, 1),
        optimizer=sgd(5.0),
        epochs=100,
        batch_size=4,
        seed=0,
    )
    assert bad.status == "diverged" and bad.diverged_epoch is not None
    assert np.isfinite(bad.train_loss[: bad.diverged_epoch]).all()
    assert np.isnan(bad.train_loss[bad.diverged_epoch + 1 :]).all()
    ok = train_tracking_pair(
        copy.deepcopy(net), "1", x.float(), y.float(), (0, 1), optimizer=sgd(0.01), epochs=2, batch_size=4,
        seed=0, loss_threshold=1e-9,
    )  # fmt: skip
    assert ok.status == "not_converged" and ok.final_loss == ok.train_loss[-1]


# ----------------------------------------------------------------------------
# Result forms
# ----------------------------------------------------------------------------


def test_result_round_trips_and_tabulates():
    x, y = dataset()
    run = train_tracking_pair(
        make_user_net(), LAYERS, x, y, (2, 5), optimizer=sgd(0.01), epochs=3, batch_size=8, seed=1
    )
    back = PairTracking.from_dict(run.to_dict())
    for name in ("h", "y", "w", "loss", "train_loss", "epochs"):
        assert np.array_equal(getattr(back, name), getattr(run, name))
    assert (back.layers, back.pair, back.status, back.m0) == (
        run.layers,
        run.pair,
        run.status,
        run.m0,
    )

    ds = run.to_xarray()
    assert ds["h"].dims == ("epoch", "layer") and ds["h"].shape == (4, 3)
    np.testing.assert_array_equal(ds["h"].sel(layer="block").values, run.h[:, 1])
    frame = run.to_frame()
    assert len(frame) == 4 * 3
    row = frame[(frame.epoch == 2) & (frame.layer == "block.norm")].iloc[0]
    assert row.h == run.h[2, 2] and row.w == run.w[2]
    inputs = run.theory_inputs("inp")
    assert inputs["observed"].shape == (4, 3) and inputs["dx2"] == run.dx2
    np.testing.assert_array_equal(inputs["observed"][:, 0], run.h[:, 0])
    short = run.theory_inputs("block", last_epoch=1)
    assert short["t"].tolist() == [0.0, 1.0] and short["loss"].shape == (2,)


def test_tracking_the_model_output_gives_h_equal_to_y():
    run = track_pair(make_user_net(), "", X, Y, optimizer=sgd(0.05), epochs=3)
    np.testing.assert_allclose(run.h[:, 0], run.y, rtol=1e-15)


# ----------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be an integer >= 1; got"),
        ({"epochs": -3}, ValueError, "epochs must be an integer >= 1; got"),
        ({"epochs": 2.5}, TypeError, "epochs must be an integer >= 1; got 2.5"),
        ({"check_every": 0}, ValueError, "check_every"),
        ({"chunk_size": 16}, TypeError, "renamed .check_every. in repdyn 0.3.0; pass check_every=16"),
        ({"x": X[:1]}, ValueError, "exactly 2 points"),
        ({"x": torch.cat([X, X])}, ValueError, "exactly 2 points"),
        ({"y": Y[:1]}, ValueError, "different numbers of points"),
        (
            {
                "x": X.clone().index_put_(
                    (torch.tensor(0), torch.tensor(1)), torch.tensor(np.nan, dtype=torch.float64)
                )
            },
            ValueError,
            "x contains 1 NaN",
        ),
        ({"y": Y.clone().fill_(np.inf)}, ValueError, "y contains 4 NaN or inf"),
        ({"y": Y[:, :1]}, ValueError, r"model output has shape \(2, 2\) but y has shape \(2, 1\)"),
        ({"x": X[[0, 0]]}, ValueError, "identical inputs"),
        ({"layers": "blok"}, ValueError, r"'blok' is not a submodule.*Closest names: \['block'"),
        ({"layers": []}, ValueError, "layers is empty"),
        ({"layers": "all"}, ValueError, "hidden_layer_names"),
        ({"layers": None}, ValueError, "tracked_layer"),
        ({"layers": nn.Linear(2, 2)}, ValueError, "not a submodule of the model"),
        ({"layers": "block.act"}, ValueError, r"ran 2 times"),
        ({"loss_threshold": -1.0}, ValueError, "loss_threshold"),
        ({"stop_when_converged": True}, ValueError, "needs a loss_threshold"),
        ({"measure": "test"}, ValueError, "measure must be one of"),
        (
            {"optimizer": torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)},
            ValueError,
            "does not update any parameter",
        ),
        ({"optimizer": "sgd"}, TypeError, "optimizer must be"),
    ],
)
def test_bad_input_gives_a_clear_error(kwargs, error, match):
    net = make_user_net()
    if kwargs.get("layers") == "block.act":
        net.block.norm = nn.Sequential(net.block.norm, net.block.act)  # share one GELU module twice
    call = {"layers": "block", "x": X, "y": Y, "optimizer": sgd(0.1), "epochs": 2} | kwargs
    with pytest.raises(error, match=match):
        track_pair(net, call.pop("layers"), call.pop("x"), call.pop("y"), **call)


def test_a_model_that_is_not_a_module_is_a_clear_error():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module; got object"):
        track_pair(object(), None, X, Y, optimizer=sgd(0.1), epochs=2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pair": (0, 0)}, "same index twice"),
        ({"pair": (0, 99)}, "out of range"),
        ({"pair": (0,)}, "two integer row indices"),
        ({"batch_size": 100}, "exceeds the number of points"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1; got 0"),
        ({"y": torch.zeros(5, 2)}, "different numbers of points"),
        ({"epochs": 0}, "epochs must be an integer >= 1; got"),
    ],
)
def test_bad_minibatch_input_gives_a_clear_error(kwargs, match):
    x, y = dataset()
    call = {"x": x, "y": y, "pair": (0, 1), "batch_size": 4, "epochs": 1} | kwargs
    with pytest.raises(ValueError, match=match):
        train_tracking_pair(
            make_user_net(),
            "block",
            call.pop("x"),
            call.pop("y"),
            call.pop("pair"),
            optimizer=sgd(0.1),
            seed=0,
            **call,
        )


# ----------------------------------------------------------------------------
# The rules every trainer shares: pair_metrics, PairLog, ChunkSchedule
# ----------------------------------------------------------------------------


def _metrics_by_hand(pred: np.ndarray, target: np.ndarray) -> tuple[float, float, float, float]:
    """y, w, loss and m0 of one pair from Python floats, term by term."""
    p, t = pred.astype(float).tolist(), target.astype(float).tolist()
    dyhat = [a - b for a, b in zip(p[0], p[1], strict=True)]
    dy = [a - b for a, b in zip(t[0], t[1], strict=True)]
    y = sum(d * d for d in dyhat)
    w = y - sum(a * b for a, b in zip(dy, dyhat, strict=True))
    loss = 0.5 * sum(sum((a - b) ** 2 for a, b in zip(p[i], t[i], strict=True)) for i in (0, 1)) / 2
    mean_error = [(t[0][k] + t[1][k]) / 2 - (p[0][k] + p[1][k]) / 2 for k in range(len(p[0]))]
    return y, w, loss, sum(e * e for e in mean_error)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pair_metrics_follow_their_definitions_in_numpy_and_torch(dtype):
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((3, 2, 5)).astype(dtype)
    target = rng.standard_normal((3, 2, 5)).astype(dtype)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    names = ("y", "w", "loss", "m0")
    for arrays in ((pred, target), (torch.from_numpy(pred), torch.from_numpy(target))):
        batch = pair_metrics(*arrays)
        for trial in range(3):
            one = pair_metrics(arrays[0][trial], arrays[1][trial])
            want = _metrics_by_hand(pred[trial], target[trial])
            for name, value in zip(names, want, strict=True):
                assert float(getattr(one, name)) == pytest.approx(value, rel=rtol), name
                assert float(getattr(batch, name)[trial]) == pytest.approx(value, rel=rtol), name
        # y, w and m0 in float64 whatever the input; the loss in the input's dtype, as autograd.
        dtypes = [str(getattr(batch, name).dtype).split(".")[-1] for name in names]
        assert dtypes == ["float64", "float64", str(np.dtype(dtype)), "float64"]
        assert float(pair_metrics(arrays[0][0], arrays[1][0]).loss) == float(
            project_loss(arrays[0][0], arrays[1][0]))


def _drive(log: PairLog, schedule: ChunkSchedule, rows: np.ndarray) -> list[int]:
    """The trainer loop of ChunkSchedule's docstring, with ``rows`` as what each forward records."""
    steps, epoch = [], 0
    while True:
        log.values[epoch, : log.TRAIN_LOSS] = rows[epoch]
        if epoch == schedule.final:
            break
        steps.append(epoch)
        if schedule.after_step(epoch):
            break
        epoch += 1
    schedule.finish()
    return steps


def test_a_nonfinite_row_stops_the_run_at_the_end_of_its_chunk():
    rows = np.tile(np.linspace(1.0, 0.5, 21)[:, None], (1, 4))  # (h, y, w, loss) per epoch
    rows[8, 1] = np.nan
    rows[9:] = np.inf  # what a divergent run computes next: never kept
    log = PairLog(20, ["layer"])
    schedule = ChunkSchedule(log, n_epochs=20, check_every=6, loss_threshold=None, stop_when_converged=False)
    steps = _drive(log, schedule, rows)
    assert steps == list(range(12))  # the chunk of epochs 6 .. 11 closes after step 11
    result = schedule.result(dx2=1.0, dy2=0.5, seconds=0.0)
    assert result.status == "diverged" and result.diverged_epoch == 8 == result.stop_epoch
    np.testing.assert_array_equal(result.h[:9, 0], rows[:9, 0])  # the bad row is kept as computed
    assert np.isnan(result.y[8]) and np.isnan(result.h[9:]).all() and np.isnan(result.loss[9:]).all()


def test_a_converged_chunk_ends_the_run_one_forward_later():
    loss = np.linspace(1.0, 0.0, 31)
    rows = np.column_stack([loss, loss, loss, loss])
    log = PairLog(30, ["layer"])
    schedule = ChunkSchedule(log, n_epochs=30, check_every=5, loss_threshold=0.55, stop_when_converged=True)
    steps = _drive(log, schedule, rows)
    # loss[14] = 0.533 closes the third chunk (epochs 10 .. 14): epoch 15 is recorded last.
    assert steps == list(range(15)) and schedule.final == 15
    result = schedule.result(dx2=1.0, dy2=0.5, seconds=0.0)
    assert result.status == "converged" and result.stop_epoch == 15
    assert result.converged_epoch == int(np.flatnonzero(loss <= 0.55)[0])
    np.testing.assert_array_equal(result.loss[:16], loss[:16])
    assert np.isnan(result.loss[16:]).all()
