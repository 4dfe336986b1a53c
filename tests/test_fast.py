"""Tests for repdyn.fast: the hand-written paths against autograd.

The oracle is :func:`repdyn.track.track_pair` with ``torch.optim.SGD`` on an
identical copy of the network (hooks + autograd + optimiser), an independent
implementation of the same run. Float32 runs must agree to 1e-5 of each
variable's scale over 100 epochs, float64 runs to 1e-10; statuses, stop,
divergence and convergence epochs must be identical.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from torch import nn

from repdyn.fast import (
    TRAINERS,
    choose_trainer,
    limit_threads,
    supports_fast_path,
    threads,
    train_pair_fast,
    train_pairs_batched,
)
from repdyn.nets import NONLINEARITIES, OPTIMIZERS, VARIANTS, ArchSpec, build_network
from repdyn.track import PairTracking, track_pair

torch.set_num_threads(1)

# lr small enough that float32 rounding is not amplified past 1e-5 in 100 epochs (at
# lr 0.02 the linear network drifts from float64 by ~7e-5 under autograd itself).
SMALL = ArchSpec(name="small", units=16, hidden_layers=4, lr=0.01, epochs=100)
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def _pair(seed: int, scale: float = 1.0, dtype: torch.dtype = torch.float32):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 3, generator=generator, dtype=torch.float64) * scale
    y = torch.randn(2, 2, generator=generator, dtype=torch.float64)
    return x.to(dtype), y.to(dtype)


def _autograd(network: nn.Module, layers, x, y, *, lr: float, **kwargs) -> PairTracking:
    return track_pair(
        network, layers, x, y, optimizer=functools.partial(torch.optim.SGD, lr=lr), **kwargs
    )


def assert_same_run(run: PairTracking, ref: PairTracking, rtol: float) -> None:
    """Identical bookkeeping; values within ``rtol`` of each variable's scale."""
    assert run.layers == ref.layers
    assert run.status == ref.status
    assert run.stop_epoch == ref.stop_epoch
    assert run.diverged_epoch == ref.diverged_epoch
    assert run.converged_epoch == ref.converged_epoch
    assert run.loss_threshold == ref.loss_threshold
    np.testing.assert_array_equal(run.epochs, ref.epochs)
    for name in ("h", "y", "w", "loss"):
        got, want = getattr(run, name), getattr(ref, name)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        finite = np.isfinite(want)
        scale = np.max(np.abs(want[finite]), initial=0.0)
        np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=rtol * scale,
                                   err_msg=name)  # fmt: skip
    for name in ("m0", "dx2", "dy2"):
        assert getattr(run, name) == pytest.approx(getattr(ref, name), rel=rtol, abs=1e-12)
    if np.isfinite(ref.final_loss):
        assert run.final_loss == pytest.approx(ref.final_loss, rel=rtol, abs=rtol * ref.loss[0])


def _weights_close(a: nn.Module, b: nn.Module, rtol: float) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        scale = float(p.detach().abs().max())
        torch.testing.assert_close(q.detach(), p.detach(), rtol=0, atol=rtol * scale, msg=name)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_agrees_with_autograd_every_nonlinearity(nonlinearity: str, dtype: torch.dtype) -> None:
    spec = SMALL.replace(nonlinearity=nonlinearity)
    network = build_network(spec, 3, 2, seed=1, dtype=dtype)
    reference = copy.deepcopy(network)
    x, y = _pair(0, dtype=dtype)
    run = train_pair_fast(network, "all", x, y, lr=spec.lr, epochs=100)
    ref = _autograd(reference, "all", x, y, lr=spec.lr, epochs=100)
    assert run.status == "completed"
    assert run.y[-1] != pytest.approx(run.y[0], rel=1e-2)  # it really trained
    assert_same_run(run, ref, TOLERANCE[dtype])
    _weights_close(reference, network, TOLERANCE[dtype])  # trained in place, like track_pair


@pytest.mark.parametrize("defer", [1, 3, 16, 200])
def test_deferred_updates_agree_with_autograd(defer: int) -> None:
    """Low-rank deferral (and its fold at chunk ends and at the end) changes only rounding."""
    network = build_network(SMALL.replace(nonlinearity="tanh"), 3, 2, seed=2)
    reference = copy.deepcopy(network)
    x, y = _pair(3)
    run = train_pair_fast(network, None, x, y, lr=SMALL.lr, epochs=100, defer=defer, check_every=7)
    ref = _autograd(reference, None, x, y, lr=SMALL.lr, epochs=100, check_every=7)
    assert_same_run(run, ref, 1e-5)
    _weights_close(reference, network, 1e-5)


def test_activation_constants_are_read_from_the_modules() -> None:
    """A network whose activations were swapped for other constants still matches autograd."""
    network = build_network(SMALL, 3, 2, seed=3, dtype=torch.float64)
    network.hidden[0].activation = nn.ELU(alpha=0.4)
    network.hidden[1].activation = nn.LeakyReLU(negative_slope=0.3)
    network.hidden[2].activation = nn.Tanh()
    assert supports_fast_path(network, "sgd")
    reference = copy.deepcopy(network)
    x, y = _pair(4, scale=2.0, dtype=torch.float64)
    run = train_pair_fast(network, "all", x, y, lr=SMALL.lr, epochs=60)
    ref = _autograd(reference, "all", x, y, lr=SMALL.lr, epochs=60)
    assert_same_run(run, ref, 1e-10)


def test_several_layers_before_and_after_the_nonlinearity() -> None:
    """hidden.k, hidden.k.connection (pre-activation), hidden.k.activation and output."""
    network = build_network(SMALL.replace(nonlinearity="elu"), 3, 2, seed=4, dtype=torch.float64)
    reference = copy.deepcopy(network)
    layers = ["hidden.2", "hidden.0.connection", "hidden.3.activation", "output", "hidden.1"]
    x, y = _pair(5, dtype=torch.float64)
    run = train_pair_fast(network, layers, x, y, lr=SMALL.lr, epochs=60)
    ref = _autograd(reference, layers, x, y, lr=SMALL.lr, epochs=60)
    assert run.layers == tuple(layers)
    assert_same_run(run, ref, 1e-10)
    # The output "layer" is the prediction itself: its h is y.
    np.testing.assert_allclose(run.h[:, layers.index("output")], run.y, rtol=1e-12)


def test_divergence_matches_track_pair() -> None:
    """Recorded at the first non-finite epoch, later rows NaN, status diverged."""
    network = build_network(SMALL, 3, 2, seed=0)
    reference = copy.deepcopy(network)
    x, y = _pair(6, scale=30.0)
    kwargs = {"epochs": 100, "check_every": 8, "loss_threshold": 1e-3}
    run = train_pair_fast(network, "all", x, y, lr=0.02, **kwargs)
    ref = _autograd(reference, "all", x, y, lr=0.02, **kwargs)
    assert ref.status == "diverged"
    assert 0 < ref.diverged_epoch < 100
    # Values explode before the first NaN/inf, and float32 rounding with them:
    # the bookkeeping must be identical, the values agree more loosely.
    assert_same_run(run, ref, 1e-4)
    epoch = run.diverged_epoch
    assert run.stop_epoch == epoch
    assert np.isnan(run.loss[epoch + 1 :]).all() and np.isnan(run.h[epoch + 1 :]).all()
    assert not np.isfinite(np.r_[run.h[epoch], run.y[epoch], run.w[epoch], run.loss[epoch]]).all()
    assert np.isfinite(run.h[:epoch]).all()


@pytest.mark.parametrize(
    ("threshold", "stop", "status"),
    [(None, False, "completed"), (1e-9, False, "not_converged"), (0.3, False, "converged"),
     (0.3, True, "converged")],
)  # fmt: skip
def test_status_and_early_stop_match_track_pair(threshold, stop, status) -> None:
    network = build_network(SMALL, 3, 2, seed=7)
    reference = copy.deepcopy(network)
    x, y = _pair(8)
    kwargs = {"epochs": 150, "check_every": 16, "loss_threshold": threshold,
              "stop_when_converged": stop}  # fmt: skip
    run = train_pair_fast(network, None, x, y, lr=SMALL.lr, **kwargs)
    ref = _autograd(reference, None, x, y, lr=SMALL.lr, **kwargs)
    assert ref.status == status
    if stop:
        assert ref.stop_epoch < 150  # the early stop really happened
    assert_same_run(run, ref, 1e-5)
    _weights_close(reference, network, 1e-5)


def test_deterministic() -> None:
    runs = []
    for _ in range(2):
        network = build_network(SMALL.replace(nonlinearity="swish"), 3, 2, seed=9)
        runs.append(train_pair_fast(network, "all", *_pair(10), lr=SMALL.lr, epochs=50))
    for name in ("h", "y", "w", "loss"):
        np.testing.assert_array_equal(getattr(runs[0], name), getattr(runs[1], name))
    assert runs[0].m0 == runs[1].m0


def _trials(nonlinearity: str = "leaky_relu"):
    """Four trials: different seeds and pairs; trial 2 diverges."""
    spec = SMALL.replace(nonlinearity=nonlinearity)
    networks = [build_network(spec, 3, 2, seed=seed) for seed in range(4)]
    pairs = [_pair(20 + i, scale=30.0 if i == 2 else 1.0) for i in range(4)]
    xs = torch.stack([p[0] for p in pairs])
    ys = torch.stack([p[1] for p in pairs])
    return spec, networks, xs, ys


@pytest.mark.parametrize("stop", [False, True])
def test_batched_equals_single(stop: bool) -> None:
    spec, networks, xs, ys = _trials()
    singles = [copy.deepcopy(net) for net in networks]
    kwargs = {"lr": spec.lr, "epochs": 150, "check_every": 16, "loss_threshold": 0.05,
              "stop_when_converged": stop}  # fmt: skip
    batched = train_pairs_batched(networks, xs, ys, layers="all", **kwargs)
    single = [
        train_pair_fast(net, "all", x, y, **kwargs)
        for net, x, y in zip(singles, xs, ys, strict=True)
    ]
    statuses = [run.status for run in batched]
    assert statuses == ["converged", "converged", "diverged", "not_converged"]
    if stop:  # trials leave the batch at different epochs
        assert len({run.stop_epoch for run in batched}) > 1
    for trial, (got, want) in enumerate(zip(batched, single, strict=True)):
        # An exploding run amplifies rounding (see test_divergence_matches_track_pair).
        assert_same_run(got, want, 1e-4 if want.status == "diverged" else 1e-5)
        if want.status != "diverged":
            _weights_close(singles[trial], networks[trial], 1e-5)


def test_batched_divergence_does_not_touch_other_trials() -> None:
    """The other trials' results are the same with and without the divergent one."""
    spec, networks, xs, ys = _trials()
    keep = [0, 1, 3]
    together = train_pairs_batched(
        [copy.deepcopy(n) for n in networks], xs, ys, lr=spec.lr, epochs=60, check_every=8
    )
    apart = train_pairs_batched(
        [copy.deepcopy(networks[i]) for i in keep], xs[keep], ys[keep], lr=spec.lr, epochs=60,
        check_every=8,
    )  # fmt: skip
    assert together[2].status == "diverged"
    for got, want in zip([together[i] for i in keep], apart, strict=True):
        assert got.status == want.status == "completed"
        np.testing.assert_allclose(got.h, want.h, rtol=1e-6)
        np.testing.assert_allclose(got.y, want.y, rtol=1e-6)


def test_batched_float64_matches_autograd_and_shared_pair() -> None:
    """One pair broadcast to every trial; float64 against autograd."""
    spec = SMALL.replace(nonlinearity="relu")
    networks = [build_network(spec, 3, 2, seed=s, dtype=torch.float64) for s in (11, 12)]
    references = [copy.deepcopy(net) for net in networks]
    x, y = _pair(13, dtype=torch.float64)
    runs = train_pairs_batched(networks, x, y, layers=["hidden.1", "output"], lr=spec.lr,
                               epochs=80)  # fmt: skip
    for run, reference in zip(runs, references, strict=True):
        ref = _autograd(reference, ["hidden.1", "output"], x, y, lr=spec.lr, epochs=80)
        assert_same_run(run, ref, 1e-10)


def test_supports_fast_path() -> None:
    assert supports_fast_path(build_network(SMALL, 3, 2, seed=0), "sgd")
    assert supports_fast_path(build_network(SMALL, 3, 2, seed=0), "SGD")
    assert not supports_fast_path(build_network(SMALL, 3, 2, seed=0), "adam")
    for variant in ("convolution", "skip", "dropout"):
        spec = SMALL.replace(variant=variant, channels=2, kernel_size=3)
        assert not supports_fast_path(build_network(spec, 3, 2, seed=0), "sgd"), variant
    assert not supports_fast_path(nn.Sequential(nn.Linear(3, 2)), "sgd")
    frozen = build_network(SMALL, 3, 2, seed=0)
    frozen.hidden[0].connection.weight.requires_grad_(False)
    assert not supports_fast_path(frozen, "sgd")
    modified = build_network(SMALL, 3, 2, seed=0)
    modified.hidden[1].activation = nn.GELU()
    assert not supports_fast_path(modified, "sgd")
    assert not supports_fast_path(build_network(SMALL, 3, 2, seed=0, dtype=torch.float16), "sgd")


@pytest.mark.parametrize("variant", VARIANTS)
def test_choose_trainer_agrees_with_every_network_it_would_build(variant) -> None:
    for optimizer in OPTIMIZERS:
        for nonlinearity in NONLINEARITIES:
            spec = SMALL.replace(variant=variant, optimizer=optimizer, nonlinearity=nonlinearity,
                                 channels=2, kernel_size=3)  # fmt: skip
            network = build_network(spec, 3, 2, seed=0)
            fast = supports_fast_path(network, optimizer)
            assert choose_trainer(spec) == ("fast" if fast else "autograd"), spec
            assert choose_trainer(spec, batched=True) == ("batched" if fast else "functional")
            # Naming a device builds nothing there, so this runs without a GPU. On a GPU a
            # single trial is a batch of one, so it does not matter whether it ran in a batch.
            assert choose_trainer(spec, device="cuda") == ("batched" if fast else "functional")
            assert choose_trainer(spec.replace(optimizer="sgd"), optimizer) == choose_trainer(spec)
            # Every network it would batch, the batched engine trains.
            (run,) = train_pairs_batched([network], *_pair(0), lr=1e-3, epochs=2, optimizer=optimizer,
                                         seeds=[0])  # fmt: skip
            assert run.status == "completed"
    assert set(TRAINERS) == {"fast", "batched", "functional", "autograd"}
    assert choose_trainer(SMALL, "Adam") == "autograd"
    assert choose_trainer(SMALL, "Adam", batched=True) == "functional"
    assert choose_trainer(SMALL, "rmsprop", batched=True) == "autograd"  # the batched engine has no such optimiser
    assert choose_trainer(SMALL, "rmsprop", device="cuda") == "autograd"
    with pytest.raises(TypeError, match="ArchSpec"):
        choose_trainer(build_network(SMALL, 3, 2, seed=0))
    with pytest.raises(TypeError, match="batched"):
        choose_trainer(SMALL, batched="yes")


def test_bad_input_gives_clear_errors() -> None:
    network = build_network(SMALL, 3, 2, seed=0)
    x, y = _pair(0)
    call = functools.partial(train_pair_fast, network, None, lr=0.01, epochs=5)
    with pytest.raises(ValueError, match="variant"):
        train_pair_fast(build_network(SMALL.replace(variant="skip"), 3, 2), None, x, y, lr=0.1,
                        epochs=5)  # fmt: skip
    with pytest.raises(ValueError, match="not a submodule"):
        train_pair_fast(network, "hidden.9", x, y, lr=0.01, epochs=5)
    with pytest.raises(ValueError, match="cannot track"):
        train_pair_fast(network, "hidden", x, y, lr=0.01, epochs=5)
    with pytest.raises(ValueError, match="x must have shape"):
        call(x[:, :2], y)
    with pytest.raises(ValueError, match="y must have shape"):
        call(x, y[:1])
    with pytest.raises(ValueError, match="identical inputs"):
        call(torch.stack([x[0], x[0]]), y)
    with pytest.raises(ValueError, match="NaN"):
        call(torch.tensor([[0.0, 1, 2], [float("nan"), 1, 2]]), y)
    with pytest.raises(ValueError, match="lr"):
        train_pair_fast(network, None, x, y, lr=-1.0, epochs=5)
    with pytest.raises(ValueError, match="epochs"):
        train_pair_fast(network, None, x, y, lr=0.01, epochs=0)
    with pytest.raises(ValueError, match="loss_threshold"):
        call(x, y, stop_when_converged=True)
    other = build_network(SMALL.replace(units=8), 3, 2, seed=0)
    with pytest.raises(ValueError, match="architecture"):
        train_pairs_batched([network, other], x, y, lr=0.01, epochs=5)
    with pytest.raises(ValueError, match="xs must have shape"):
        train_pairs_batched([network], torch.zeros(3, 2, 3), y, lr=0.01, epochs=5)


def test_thread_limits_apply_and_restore() -> None:
    before = torch.get_num_threads()
    with threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    limit_threads(1)
    assert torch.get_num_threads() == 1
    with pytest.raises(ValueError, match="n must be"):
        limit_threads(0)


def test_blas_held_to_one_thread_during_a_run_only() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from repdyn.fast._threads import blas_single_thread

    def blas_threads() -> list[int]:
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        with blas_single_thread():
            assert set(blas_threads()) <= {1}
        assert blas_threads() == before
