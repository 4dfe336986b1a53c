"""Many-pair tracking (repdyn.track.track_pairs) against oracles written here.

The oracles share no code with the library: a plain minibatch SGD loop over
the model's weights written out functionally, with one separate two-point
forward per tracked pair; per-pair measurements with the single-pair
``measure_pair``; and ``track_pair`` itself on the two-point data set.
"""

from __future__ import annotations

import copy
import functools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from repdyn.track import (
    PairsTracking,
    layer_outputs,
    measure_pair,
    record_epochs,
    sample_pairs,
    track_pair,
    track_pairs,
)

torch.set_num_threads(1)


class Net(nn.Module):
    """Three hidden layers with LayerNorm and tanh: nothing the hooks could get for free."""

    def __init__(self, d_in: int = 3, width: int = 7, d_out: int = 2) -> None:
        super().__init__()
        self.a = nn.Linear(d_in, width)
        self.b = nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width))
        self.c = nn.Linear(width, width)
        self.head = nn.Linear(width, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.c(torch.tanh(self.b(torch.tanh(self.a(x)))))))


LAYERS = ["a", "b", "c"]


def functional(p: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Net written out from its weights: every tracked layer's output and the prediction."""
    a = F.linear(x, p["a.weight"], p["a.bias"])
    lin = F.linear(torch.tanh(a), p["b.0.weight"], p["b.0.bias"])
    b = F.layer_norm(lin, (lin.shape[-1],), p["b.1.weight"], p["b.1.bias"])
    c = F.linear(torch.tanh(b), p["c.weight"], p["c.bias"])
    out = F.linear(torch.tanh(c), p["head.weight"], p["head.bias"])
    return {"a": a, "b": b, "c": c, "": out}


def make_net(seed: int = 0) -> Net:
    torch.manual_seed(seed)
    net = Net().double()
    with torch.no_grad():
        net.b[1].weight.add_(0.2 * torch.randn(7, dtype=torch.float64))
    return net


def data(n: int = 24, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64)
    y = torch.stack([torch.sin(x[:, 0]), x[:, 1] * x[:, 2]], dim=1)
    return x, y


def sgd(lr: float):
    return functools.partial(torch.optim.SGD, lr=lr)


def oracle(net: Net, x, y, pairs, *, lr, epochs, batch, record_every):
    """A plain loop: functional forward, autograd.grad, one two-point forward per pair and record."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in net.named_parameters()}

    def measure():
        h, yy, w, loss = [], [], [], []
        for i, j in pairs:
            with torch.no_grad():
                acts = functional(params, x[[i, j]])
            dh = [float(((acts[name][0] - acts[name][1]) ** 2).sum()) for name in LAYERS]
            dyhat = acts[""][0] - acts[""][1]
            y_ = float(dyhat @ dyhat)
            h.append(dh)
            yy.append(y_)
            w.append(y_ - float((y[i] - y[j]) @ dyhat))
            loss.append(float(0.5 * ((acts[""] - y[[i, j]]) ** 2).sum(1).mean()))
        return h, yy, w, loss

    with torch.no_grad():
        first_loss = float(0.5 * ((functional(params, x)[""] - y) ** 2).sum(1).mean())
    records, train_loss = [measure()], [first_loss]
    for epoch in range(1, epochs + 1):
        total = 0.0
        for begin in range(0, len(x), batch):
            xb, yb = x[begin : begin + batch], y[begin : begin + batch]
            loss = 0.5 * ((functional(params, xb)[""] - yb) ** 2).sum(1).mean()
            total += float(loss.detach()) * len(xb)
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                for p, g in zip(params.values(), grads, strict=True):
                    p -= lr * g
        if epoch % record_every == 0 or epoch == epochs:
            records.append(measure())
            train_loss.append(total / len(x))
    h = np.array([r[0] for r in records]).transpose(1, 2, 0)  # (K, L, R)
    return h, *(np.array([r[k] for r in records]).T for k in (1, 2, 3)), np.array(train_loss)


def test_track_pairs_matches_a_plain_loop_with_one_forward_per_pair():
    x, y = data()
    pairs = [(0, 5), (5, 17), (3, 22), (17, 0)]
    net = make_net(3)
    expected = oracle(copy.deepcopy(net), x, y, pairs, lr=0.05, epochs=7, batch=5, record_every=3)
    run = track_pairs(net, LAYERS, x, y, pairs, optimizer=sgd(0.05), epochs=7, batch_size=5,
                      shuffle=False, record_every=3)  # fmt: skip
    assert run.epochs.tolist() == [0, 3, 6, 7] and run.layers == tuple(LAYERS)
    assert run.pairs.tolist() == [list(p) for p in pairs] and run.status == "completed"
    for got, want in zip((run.h, run.y, run.w, run.loss, run.train_loss), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-13)
    dx2 = [float(((x[i] - x[j]) ** 2).sum()) for i, j in pairs]
    np.testing.assert_allclose(run.dx2, dx2, rtol=1e-14)
    assert run.same.tolist() == [False] * 4  # continuous targets: no two are equal


def test_the_batched_forward_of_all_pairs_equals_one_forward_per_pair():
    x, y = data(30)
    drawn = sample_pairs(np.arange(30) % 4, 40, seed=2)  # 40 pairs over up to 30 shared points
    net = make_net(4)
    before = [measure_pair(net, LAYERS, x[[i, j]], y[[i, j]]) for i, j in drawn.pairs]
    run = track_pairs(net, LAYERS, x, y, drawn.pairs, optimizer=sgd(0.02), epochs=3, batch_size=8, seed=5)
    after = [measure_pair(net, LAYERS, x[[i, j]], y[[i, j]]) for i, j in drawn.pairs]
    for record, per_pair in ((0, before), (-1, after)):
        for k, values in enumerate(per_pair):
            for layer, (h, y_, w) in values.items():
                np.testing.assert_allclose(run.h[k, LAYERS.index(layer), record], h, rtol=1e-12)
                np.testing.assert_allclose([run.y[k, record], run.w[k, record]], [y_, w], rtol=1e-12,
                                           atol=1e-15)  # fmt: skip


def test_one_pair_on_the_two_point_data_equals_track_pair():
    from repdyn.data import two_point
    from repdyn.nets import build_network, get_architecture

    points = two_point()
    spec = get_architecture("default").replace(units=16, hidden_layers=4)
    net = build_network(spec, 1, 1, seed=7)
    alone = track_pair(copy.deepcopy(net), "all", points.x, points.y, optimizer=sgd(spec.lr), epochs=40, seed=3)
    many = track_pairs(net, "all", points.x, points.y, [(0, 1)], optimizer=sgd(spec.lr), epochs=40, seed=3)
    np.testing.assert_array_equal(many.h[0].T, alone.h)
    for name in ("y", "w", "loss"):
        np.testing.assert_array_equal(getattr(many, name)[0], getattr(alone, name))
    assert (many.m0[0], many.dx2[0], many.dy2[0]) == (alone.m0, alone.dx2, alone.dy2)
    # Full batch on the pair: an epoch's training loss is the pair's loss before its step.
    np.testing.assert_array_equal(many.train_loss[1:], alone.loss[:-1])


def test_stratified_sampling_gives_the_split_asked_for_and_repeats_by_seed():
    labels = np.repeat(np.arange(10), 50)  # 500 points, 10 classes
    a = sample_pairs(labels, 200, seed=11)
    assert len(a) == 200 and a.same.sum() == 100
    assert all((labels[i] == labels[j]) == s for (i, j), s in zip(a.pairs, a.same, strict=True))
    assert (a.pairs[:, 0] < a.pairs[:, 1]).all() and len(np.unique(a.pairs, axis=0)) == 200
    assert (a.n_same, a.n_different) == (10 * 50 * 49 // 2, 500 * 499 // 2 - 10 * 50 * 49 // 2)
    b, c = sample_pairs(labels, 200, seed=11), sample_pairs(labels, 200, seed=12)
    assert np.array_equal(a.pairs, b.pairs) and not np.array_equal(a.pairs, c.pairs)
    assert sample_pairs(labels, 10, seed=0, same_fraction=0.3).same.sum() == 3


def test_one_hot_targets_group_by_class_and_coordinates_by_value():
    labels = np.array([0, 1, 1, 2, 0, 2, 1])
    one_hot = np.eye(3)[labels]
    assert np.array_equal(sample_pairs(one_hot, 21, seed=0).same, sample_pairs(labels, 21, seed=0).same)
    context_targets = np.array([[-1.0], [1.0], [-1.0], [1.0]])  # the context task: same value, same group
    drawn = sample_pairs(context_targets, 6, seed=0)
    assert drawn.pairs.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]
    assert drawn.same.tolist() == [False, True, False, False, True, False]


def test_sampling_is_capped_at_the_distinct_pairs_and_fills_a_small_stratum():
    xor_targets = np.array([0, 1, 1, 0])
    everything = sample_pairs(xor_targets, 200, seed=0)
    assert len(everything) == 6 and everything.same.sum() == 2
    few_same = sample_pairs(np.array([0, 0, 1, 2, 3, 4, 5, 6]), 10, seed=1)  # one same-target pair
    assert len(few_same) == 10 and few_same.same.sum() == 1


def test_track_pairs_draws_the_pairs_it_is_asked_for():
    x, y = data(20)
    labels = np.arange(20) % 2
    run = track_pairs(make_net(), "b", x, y, 12, optimizer=sgd(0.01), epochs=1, groups=labels, pair_seed=4)
    drawn = sample_pairs(labels, 12, seed=4)
    assert np.array_equal(run.pairs, drawn.pairs) and np.array_equal(run.same, drawn.same)


def test_memory_of_200_pairs_at_5_layers_over_500_records_is_well_under_a_gibibyte():
    torch.manual_seed(0)
    width = 6
    layers = [nn.Linear(2, width)] + [nn.Linear(width, width) for _ in range(4)]
    net = nn.Sequential(*[m for layer in layers for m in (layer, nn.Tanh())], nn.Linear(width, 1))
    x = torch.randn(30, 2)
    y = x[:, :1] * x[:, 1:]
    names = [str(2 * k + 1) for k in range(5)]  # the five activations
    run = track_pairs(net, names, x, y, 200, optimizer=sgd(0.01), epochs=499, check_every=128)
    assert run.h.shape == (200, 5, 500)
    assert run.nbytes == PairsTracking.estimate_bytes(200, 5, 500)
    assert run.nbytes < 16 * 2**20  # about 6.4 MB: far below 1 GiB


def test_record_schedule_and_divergence():
    assert record_epochs(10, 3).tolist() == [0, 3, 6, 9, 10] and record_epochs(4, 1).tolist() == [0, 1, 2, 3, 4]
    x, y = data(16)
    net = make_net(2).float()
    run = track_pairs(net, LAYERS, x.float() * 30, y.float(), 5, optimizer=sgd(50.0), epochs=60,
                      batch_size=4, check_every=8, loss_threshold=1e-3)  # fmt: skip
    assert run.status == "diverged" and run.diverged_epoch is not None
    stop = run.stop_record
    assert not np.isfinite(np.concatenate([run.h[:, :, stop].ravel(), run.y[:, stop], [run.train_loss[stop]]])).all()
    assert np.isnan(run.h[:, :, stop + 1 :]).all() and np.isfinite(run.h[:, :, :stop]).all()
    assert run.last_finite_record == stop - 1


def test_stop_when_converged_keeps_the_records_up_to_the_chunk_that_converged():
    x, y = data(16)
    kwargs = dict(optimizer=sgd(0.2), epochs=400, batch_size=4, check_every=4, loss_threshold=0.05, seed=1)
    full = track_pairs(make_net(6), LAYERS, x, y, 3, **kwargs)
    stopped = track_pairs(make_net(6), LAYERS, x, y, 3, stop_when_converged=True, **kwargs)
    assert full.converged_epoch is not None and stopped.status == "converged"
    assert stopped.converged_epoch == full.converged_epoch <= stopped.stop_epoch < 400
    s = stopped.stop_record
    np.testing.assert_array_equal(stopped.h[:, :, : s + 1], full.h[:, :, : s + 1])
    assert np.isnan(stopped.h[:, :, s + 1 :]).all()


def test_result_forms():
    x, y = data(12)
    run = track_pairs(make_net(), LAYERS, x, y, [(0, 1), (2, 3)], optimizer=sgd(0.01), epochs=2)
    ds = run.to_xarray()
    assert ds["h"].dims == ("pair", "layer", "epoch") and ds["h"].shape == (2, 3, 3)
    assert all("long_name" in ds[name].attrs for name in ds.variables)
    np.testing.assert_array_equal(ds["h"].sel(layer="c").values, run.h[:, 2])
    assert ds["h"].attrs["units"] == "1" and ds["epoch"].attrs["units"] == "epochs"
    frame = run.to_frame()
    assert len(frame) == 2 * 3 * 3
    for (k, epoch, layer), row in frame.set_index(["pair", "epoch", "layer"]).iterrows():
        r = list(run.epochs).index(epoch)
        assert row.h == run.h[k, LAYERS.index(layer), r] and row.y == run.y[k, r] and row.w == run.w[k, r]
        assert row.loss == run.loss[k, r] and row.train_loss == run.train_loss[r]
    single = run.pair(1)
    assert single.pair == (2, 3) and single.h.shape == (3, 3)
    np.testing.assert_array_equal(single.z("b"), run.z("b")[1])
    sparse = track_pairs(make_net(), LAYERS, x, y, [(0, 1)], optimizer=sgd(0.01), epochs=4, record_every=2)
    with pytest.raises(ValueError, match="recorded every 2 epochs"):
        sparse.pair(0)


def test_layer_outputs_are_the_layers_activations():
    x, _ = data(9)
    net = make_net(8)
    outputs = layer_outputs(net, LAYERS, x, batch_size=4)
    direct = functional(dict(net.named_parameters()), x)
    for name in LAYERS:
        np.testing.assert_allclose(outputs[name], direct[name].detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pairs": [(0, 0)]}, "same index twice"),
        ({"pairs": [(0, 99)]}, "out of range"),
        ({"pairs": "many"}, "pairs must be a number"),
        ({"pairs": 0}, "n \\(the number of pairs\\) must be an int >= 1"),
        ({"record_every": 0}, "record_every must be >= 1"),
        ({"batch_size": 100}, "exceeds the number of points"),
        ({"groups": np.zeros(3)}, "groups must hold one entry per point"),
    ],
)
def test_bad_input_gives_a_clear_error(kwargs, match):
    x, y = data(12)
    call = {"pairs": 4, "epochs": 1} | kwargs
    with pytest.raises(ValueError, match=match):
        track_pairs(make_net(), LAYERS, x, y, call.pop("pairs"), optimizer=sgd(0.1), **call)


def test_estimate_is_linear_in_pairs_layers_and_records():
    base = PairsTracking.estimate_bytes(10, 2, 5)
    assert PairsTracking.estimate_bytes(20, 2, 5) > base and math.isclose(
        PairsTracking.estimate_bytes(10, 4, 5) - base, 8 * 10 * 2 * 5
    )
