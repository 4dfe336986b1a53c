"""The batched engine of every Table 1 and 2 architecture against the per-trial engine.

The oracle is the per-trial engine itself, an independent implementation of
each run: :func:`repdyn.fast.train_pair_fast` for a plain-SGD MLP (the
hand-written CPU path) and :func:`repdyn.track.track_pair` (hooks, autograd,
``torch.optim``, ``nn.Dropout`` drawing from torch's seeded CPU generator)
for everything else, as :func:`repdyn.fast.choose_trainer` picks one trial's
engine. In float64 over 1000 epochs every recorded value and every final
weight must agree to 1e-9 of that variable's largest value in the run; a
wrong mask, a shared Adam moment, a missed skip or a wrong learning rate is off
by far more.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

import repdyn.fast._batched as batched_module
from repdyn.fast import choose_trainer, train_pair_fast, train_pairs_batched
from repdyn.nets import ARCHITECTURES, ArchSpec, build_network, build_small_cnn, make_optimizer
from repdyn.track import PairTracking, track_pair

torch.set_num_threads(1)

EPOCHS = 1000
TOLERANCE = 1e-9
VARIABLES = ("h", "y", "w", "loss")


def small(spec: ArchSpec, **changes: object) -> ArchSpec:
    """``spec`` at a width and depth that keep 1000 float64 epochs fast."""
    scaled = {"units": min(spec.units, 10), "hidden_layers": min(spec.hidden_layers, 3), "channels": 3,
              "kernel_size": 3, "epochs": EPOCHS}  # fmt: skip
    return spec.replace(**{**scaled, **changes})


def pairs(count: int, seed: int = 0, *, in_dim: int = 3, out_dim: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    xs = torch.randn(count, 2, in_dim, generator=generator, dtype=torch.float64)
    ys = torch.randn(count, 2, out_dim, generator=generator, dtype=torch.float64) * 0.5
    return xs, ys


def networks(spec: ArchSpec, seeds: list[int], dtype: torch.dtype = torch.float64) -> list[nn.Module]:
    return [build_network(spec, 3, 2, seed=seed, dtype=dtype) for seed in seeds]


def per_trial(network: nn.Module, spec: ArchSpec, x: torch.Tensor, y: torch.Tensor, *, seed: int,
              layers: object = "all", measure: str = "eval", **kwargs: object) -> PairTracking:  # fmt: skip
    """One trial on the engine choose_trainer picks for it alone on the CPU."""
    if choose_trainer(spec) == "fast":
        return train_pair_fast(network, layers, x, y, lr=spec.lr, epochs=spec.epochs, **kwargs)
    return track_pair(network, layers, x, y, epochs=spec.epochs, measure=measure, seed=seed,
                      optimizer=lambda params: make_optimizer(spec.optimizer, params, lr=spec.lr),
                      **kwargs)  # fmt: skip


def assert_same(run: PairTracking, ref: PairTracking, rtol: float = TOLERANCE) -> None:
    assert run.layers == ref.layers
    assert (run.status, run.stop_epoch, run.diverged_epoch, run.converged_epoch) == (
        ref.status, ref.stop_epoch, ref.diverged_epoch, ref.converged_epoch)  # fmt: skip
    for name in VARIABLES:
        got, want = getattr(run, name), getattr(ref, name)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        finite = np.isfinite(want)
        scale = np.max(np.abs(want[finite]), initial=0.0)
        np.testing.assert_allclose(got[finite], want[finite], rtol=0, atol=rtol * scale, err_msg=name)
    assert run.m0 == pytest.approx(ref.m0, rel=rtol)


def assert_same_weights(a: nn.Module, b: nn.Module, rtol: float = TOLERANCE) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        scale = float(q.detach().abs().max())
        torch.testing.assert_close(p.detach(), q.detach(), rtol=0, atol=rtol * scale, msg=name)


def check_against_per_trial(spec: ArchSpec, seeds: list[int], *, trainer: str | None = None,
                            measure: str = "eval", **kwargs: object) -> list[PairTracking]:  # fmt: skip
    nets = networks(spec, seeds)
    references = [copy.deepcopy(net) for net in nets]
    xs, ys = pairs(len(seeds), seed=seeds[0])
    runs = train_pairs_batched(nets, xs, ys, layers="all", lr=spec.lr, epochs=spec.epochs,
                               optimizer=spec.optimizer, measure=measure, seeds=seeds, trainer=trainer,
                               **kwargs)  # fmt: skip
    for i, seed in enumerate(seeds):
        ref = per_trial(references[i], spec, xs[i], ys[i], seed=seed, measure=measure, **kwargs)
        assert_same(runs[i], ref)
        assert_same_weights(nets[i], references[i])
    return runs


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_equals_the_per_trial_engine_in_float64(name: str) -> None:
    spec = small(ARCHITECTURES[name])
    runs = check_against_per_trial(spec, [3, 4])
    assert all(run.status == "completed" for run in runs), "every run trains to the end"


@pytest.mark.parametrize("variant", ["mlp", "convolution", "skip", "dropout"])
def test_every_variant_with_adam_equals_the_per_trial_engine(variant: str) -> None:
    spec = small(ARCHITECTURES["default"], variant=variant, optimizer="adam", lr=2e-3, hidden_layers=2)
    check_against_per_trial(spec, [5, 6])


@pytest.mark.parametrize("name", ["default", "tanh"])
def test_the_functional_engine_also_trains_plain_mlps_exactly(name: str) -> None:
    """The engine choose_trainer does not pick for them computes the same runs."""
    check_against_per_trial(small(ARCHITECTURES[name], epochs=300), [1, 2], trainer="functional")


def test_dropout_measured_in_train_mode_equals_the_per_trial_engine() -> None:
    spec = small(ARCHITECTURES["dropout"], epochs=300)
    check_against_per_trial(spec, [7, 8], measure="train")


@pytest.mark.parametrize("name", ["dropout", "convolution"])
def test_trials_leaving_early_do_not_disturb_the_others(name: str) -> None:
    """Converged trials leave at different epochs; Adam's moments and dropout's masks stay each trial's."""
    spec = small(ARCHITECTURES[name], optimizer="adam", lr=3e-3, epochs=400, hidden_layers=2)
    runs = check_against_per_trial(spec, [1, 2, 3], check_every=32, loss_threshold=2e-3,
                                   stop_when_converged=True)  # fmt: skip
    assert len({run.stop_epoch for run in runs}) > 1, "the trials stop at different epochs"


def test_each_trial_keeps_its_own_threshold_and_stopping_rule() -> None:
    """One batch, as fig5's rate trials and grid trials run: thresholds and early stops per trial."""
    spec = small(ARCHITECTURES["skip"], epochs=400)
    seeds = [1, 2, 3]
    thresholds, stops = [2e-2, 5e-2, None], [True, False, False]
    nets = networks(spec, seeds)
    references = [copy.deepcopy(n) for n in nets]
    xs, ys = pairs(3, seed=4)
    runs = train_pairs_batched(nets, xs, ys, layers="all", lr=spec.lr, epochs=spec.epochs, check_every=32,
                               loss_threshold=thresholds, stop_when_converged=stops)  # fmt: skip
    for i, seed in enumerate(seeds):
        ref = per_trial(references[i], spec, xs[i], ys[i], seed=seed, check_every=32,
                        loss_threshold=thresholds[i], stop_when_converged=stops[i])  # fmt: skip
        assert_same(runs[i], ref)
    assert [run.status for run in runs] == ["converged", "converged", "completed"]
    assert runs[0].stop_epoch < spec.epochs == runs[1].stop_epoch
    with pytest.raises(ValueError, match="loss_threshold must be one value or a sequence of 3"):
        train_pairs_batched(nets, xs, ys, lr=spec.lr, epochs=5, loss_threshold=[1e-3])
    with pytest.raises(ValueError, match="needs a loss_threshold"):
        train_pairs_batched(nets, xs, ys, lr=spec.lr, epochs=5, stop_when_converged=[False, True, False])


def test_a_diverging_trial_leaves_the_others_alone() -> None:
    spec = small(ARCHITECTURES["skip"], lr=0.05, epochs=200)
    nets = networks(spec, [0, 1, 2])
    xs, ys = pairs(3, seed=9)
    xs[1] *= 300.0  # this pair's gradients blow up
    together = train_pairs_batched([copy.deepcopy(n) for n in nets], xs, ys, lr=spec.lr, epochs=spec.epochs,
                                   check_every=16)  # fmt: skip
    apart = train_pairs_batched([copy.deepcopy(nets[i]) for i in (0, 2)], xs[[0, 2]], ys[[0, 2]], lr=spec.lr,
                                epochs=spec.epochs, check_every=16)  # fmt: skip
    reference = per_trial(copy.deepcopy(nets[1]), spec, xs[1], ys[1], seed=1, layers=None, check_every=16)
    assert together[1].status == reference.status == "diverged"
    assert together[1].diverged_epoch == reference.diverged_epoch
    for got, want in zip((together[0], together[2]), apart, strict=True):
        assert_same(got, want, rtol=1e-12)


# --- dropout masks -----------------------------------------------------------------------------


def dropout_runs(weight_seeds: list[int], mask_seeds: list[int], epochs: int = 50) -> list[PairTracking]:
    spec = small(ARCHITECTURES["dropout"], epochs=epochs, dropout=0.3)
    nets = networks(spec, weight_seeds)
    xs, ys = pairs(1, seed=0)
    return train_pairs_batched(nets, xs[0], ys[0], layers="all", lr=spec.lr, epochs=epochs,
                               measure="train", seeds=mask_seeds)  # fmt: skip


def test_dropout_masks_are_reproducible_by_seed_and_independent_across_trials() -> None:
    # Same weights and pair in every trial: only the masks can tell them apart.
    first = dropout_runs([0, 0, 0], [11, 12, 11])
    again = dropout_runs([0, 0, 0], [11, 12, 11])
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.h, b.h)
    np.testing.assert_array_equal(first[0].h, first[2].h)  # same seed, same masks, in one batch
    assert not np.allclose(first[0].h, first[1].h, rtol=1e-3)  # another seed, other masks
    # A trial's masks do not depend on its batch: alone it computes the same run.
    (alone,) = dropout_runs([0], [12])
    assert_same(alone, first[1], rtol=1e-12)


def test_dropout_needs_one_seed_per_network() -> None:
    spec = small(ARCHITECTURES["dropout"], epochs=5)
    nets = networks(spec, [0, 1])
    xs, ys = pairs(2)
    call = functools.partial(train_pairs_batched, nets, xs, ys, lr=0.01, epochs=5)
    with pytest.raises(ValueError, match="seeds is required"):
        call()
    with pytest.raises(ValueError, match="seeds must be a sequence of 2 ints"):
        call(seeds=[1])
    with pytest.raises(ValueError, match=r"seeds\[1\] must be an integer >= 0"):
        call(seeds=[1, -2])
    without = networks(small(ARCHITECTURES["default"], epochs=5), [0, 1])
    train_pairs_batched(without, xs, ys, lr=0.01, epochs=5)  # no dropout: no seeds needed


def test_bad_input_gives_clear_errors() -> None:
    spec = small(ARCHITECTURES["skip"], epochs=5)
    nets = networks(spec, [0])
    xs, ys = pairs(1)
    call = functools.partial(train_pairs_batched, lr=0.01, epochs=5)
    with pytest.raises(ValueError, match="optimizer must be one of 'sgd', 'adam'"):
        call(nets, xs, ys, optimizer="rmsprop")
    with pytest.raises(ValueError, match="measure must be one of"):
        call(nets, xs, ys, measure="test")
    with pytest.raises(ValueError, match="trainer must be"):
        call(nets, xs, ys, trainer="fast")
    with pytest.raises(ValueError, match="trainer='batched' cannot train"):
        call(nets, xs, ys, trainer="batched")
    with pytest.raises(ValueError, match="one architecture"):
        call([nets[0], build_network(spec.replace(gain=2.0, variant="mlp"), 3, 2, seed=0,
                                     dtype=torch.float64)], xs[[0, 0]], ys[[0, 0]])  # fmt: skip
    with pytest.raises(ValueError, match="repdyn.nets.Network models only"):
        call([build_small_cnn(seed=0)], torch.zeros(2, 784), torch.zeros(2, 10))
    with pytest.raises(ValueError, match="cannot track 'dropout'"):
        dropout = networks(small(ARCHITECTURES["dropout"], epochs=5), [0])
        call(dropout, xs, ys, layers="dropout", seeds=[0])
    frozen = networks(spec, [0])
    frozen[0].output.bias.requires_grad_(False)
    with pytest.raises(ValueError, match="frozen"):
        call(frozen, xs, ys)


# --- device handling ---------------------------------------------------------------------------

#: Tensor methods that copy a value to the host and wait for the device to get there.
HOST_READS = ("item", "tolist", "cpu", "numpy", "__bool__", "__float__", "__int__", "__index__")


@contextlib.contextmanager
def counting_host_reads() -> Iterator[Counter]:
    counts: Counter = Counter()
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def counted(name: str, original):  # noqa: ANN001, ANN202
        def method(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            counts[name] += 1
            return original(self, *args, **kwargs)

        return method

    for name, original in originals.items():
        setattr(torch.Tensor, name, counted(name, original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


@pytest.mark.parametrize(("name", "optimizer"), [("default", "sgd"), ("dropout", "adam"),
                                                   ("convolution", "sgd")])  # fmt: skip
def test_the_epoch_loop_reads_the_host_once_per_chunk(name: str, optimizer: str, monkeypatch) -> None:
    """On the CPU stand-in for a GPU: no value reaches the host between chunks, whatever the epochs."""
    spec = small(ARCHITECTURES[name], optimizer=optimizer, lr=1e-3)
    real = batched_module._run
    seen: list[Counter] = []

    def counted_loop(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with counting_host_reads() as counts:
            out = real(*args, **kwargs)
        seen.append(counts)
        return out

    monkeypatch.setattr(batched_module, "_run", counted_loop)
    xs, ys = pairs(2)
    for epochs, check_every in ((63, 16), (639, 160)):  # four chunks each
        train_pairs_batched(networks(spec, [0, 1]), xs, ys, lr=spec.lr, epochs=epochs, optimizer=optimizer,
                            seeds=[0, 1], check_every=check_every)  # fmt: skip
    # One copy of the chunk's rows per chunk, and m0 once at the end.
    assert seen[0] == seen[1] == Counter(cpu=5, numpy=5)


@pytest.mark.parametrize(("name", "optimizer"), [("default", "sgd"), ("dropout", "adam"),
                                                   ("convolution", "sgd"), ("skip", "adam")])  # fmt: skip
def test_every_tensor_is_created_on_the_trials_device(name: str, optimizer: str) -> None:
    """With torch's default device set to 'meta', a tensor made without naming its device lands
    there, and the first operation mixing it with the trials' CPU tensors fails."""
    spec = small(ARCHITECTURES[name], optimizer=optimizer, lr=1e-3, epochs=40)
    nets = networks(spec, [0, 1])
    references = [copy.deepcopy(n) for n in nets]
    xs, ys = pairs(2)
    kwargs = {"lr": spec.lr, "epochs": spec.epochs, "optimizer": optimizer, "seeds": [0, 1], "check_every": 16}
    with torch.device("meta"):
        runs = train_pairs_batched(nets, xs, ys, device="cpu", **kwargs)
    for run, ref in zip(runs, train_pairs_batched(references, xs, ys, **kwargs), strict=True):
        assert_same(run, ref, rtol=0.0)
