"""Data-set trials batched over seeds (issue 24): equal to the per-trial path in float64.

The oracle is :func:`repdyn.track.train_tracking_pair`, trial by trial: the
batched engine must record the same h, y, w, losses and training losses, leave
the same final weights, and judge each trial alike, with full batches or
shuffled minibatches, SGD or Adam, and with trials that diverge or stop early
while the others carry on.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from repdyn.data import xor
from repdyn.fast import limit_threads, train_tracking_pairs_batched
from repdyn.nets import build_network, get_architecture, make_optimizer
from repdyn.track import train_tracking_pair

TOLERANCE = 1e-9
FIELDS = ("h", "y", "w", "loss", "train_loss")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    limit_threads(1)  # tiny products: threads only add waiting on a shared machine


def _data(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "xor":
        points = xor()
        return points.x.double(), points.y.double()
    generator = torch.Generator().manual_seed(3)
    return (torch.randn(10, 3, generator=generator, dtype=torch.float64),
            torch.randn(10, 2, generator=generator, dtype=torch.float64))  # fmt: skip


def _compare(spec, data: str, *, batch_size=None, seeds=(0, 1, 2), prepare=None, **options):
    x, y = _data(data)
    layer = "hidden.0" if spec.hidden_layers == 1 else "hidden.1"

    def networks():
        built = [build_network(spec, x.shape[1], y.shape[1], seed=s, dtype=torch.float64) for s in seeds]
        if prepare is not None:
            prepare(built)
        return built

    batched_networks, reference_networks = networks(), networks()
    runs = train_tracking_pairs_batched(batched_networks, layer, x, y, (0, 1), lr=spec.lr, epochs=spec.epochs,
                                        seeds=list(seeds), batch_size=batch_size, optimizer=spec.optimizer,
                                        **options)  # fmt: skip
    references = [
        train_tracking_pair(network, layer, x, y, (0, 1), epochs=spec.epochs, seed=seed,
                            batch_size=batch_size or len(x), shuffle=batch_size is not None,
                            optimizer=lambda p: make_optimizer(spec.optimizer, p, lr=spec.lr), **options)
        for network, seed in zip(reference_networks, seeds, strict=True)
    ]  # fmt: skip
    for run, ref, net, ref_net in zip(runs, references, batched_networks, reference_networks, strict=True):
        assert (run.status, run.stop_epoch, run.diverged_epoch, run.converged_epoch, run.pair) == (
            ref.status, ref.stop_epoch, ref.diverged_epoch, ref.converged_epoch, ref.pair)
        assert run.layers == ref.layers and run.m0 == pytest.approx(ref.m0, rel=TOLERANCE)
        assert (run.dx2, run.dy2) == (ref.dx2, ref.dy2)
        for name in FIELDS:
            got, want = np.asarray(getattr(run, name)), np.asarray(getattr(ref, name))
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
            finite = np.isfinite(want)
            scale = np.abs(want[finite]).max()
            assert np.abs(got[finite] - want[finite]).max() <= TOLERANCE * scale, name
        for mine, theirs in zip(net.parameters(), ref_net.parameters(), strict=True):
            if torch.isfinite(theirs).all():
                assert (mine - theirs).abs().max() <= TOLERANCE * theirs.abs().max()
    return runs


@pytest.mark.parametrize(("name", "changes"), [
    ("xor low", {"units": 12, "epochs": 1000}),
    ("xor 2 layers", {"units": 12, "epochs": 1000}),
    ("xor intermediate", {"units": 12, "hidden_layers": 4, "epochs": 1000, "optimizer": "adam", "lr": 1e-3}),
])  # fmt: skip
def test_full_batch_seeds_equal_the_per_trial_path(name, changes):
    runs = _compare(get_architecture(name).replace(**changes), "xor", loss_threshold=1e-3)
    assert len({float(r.h[-1, 0]) for r in runs}) == 3, "each seed its own run"


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_shuffled_minibatches_draw_each_seeds_own_order(optimizer):
    spec = get_architecture("blobs low").replace(units=10, hidden_layers=3, epochs=60, optimizer=optimizer,
                                                 lr=0.01 if optimizer == "sgd" else 1e-3)  # fmt: skip

    def same_start(networks):  # one initialisation: the runs then differ by their minibatch orders only
        for network in networks[1:]:
            network.load_state_dict(networks[0].state_dict())

    runs = _compare(spec, "random", batch_size=3, seeds=(4, 5, 6, 7), prepare=same_start)
    curves = [tuple(np.asarray(r.train_loss).round(12)) for r in runs]
    assert len(set(curves)) == len(runs), "each seed draws its own minibatch order"


def test_a_diverging_trial_leaves_and_the_others_carry_on():
    spec = get_architecture("linear").replace(units=12, hidden_layers=3, epochs=300, lr=0.05)

    def blow_up(networks):  # twice the weights: this linear network diverges within a few epochs
        with torch.no_grad():
            for p in networks[1].parameters():
                p.mul_(2.0)

    runs = _compare(spec, "xor", prepare=blow_up, check_every=32)
    assert runs[1].status == "diverged" and runs[0].status != "diverged" and runs[2].status != "diverged"


def test_trials_stop_once_converged_at_their_own_chunk():
    spec = get_architecture("xor 2 layers").replace(units=12, epochs=1500, lr=0.1)
    runs = _compare(spec, "xor", loss_threshold=5e-3, stop_when_converged=True, check_every=50, seeds=(0, 1, 2, 3))
    assert any(r.stop_epoch < 1500 for r in runs)


def test_networks_with_dropout_are_refused_by_name():
    spec = get_architecture("dropout").replace(units=8, hidden_layers=2, epochs=5)
    networks = [build_network(spec, 2, 1, seed=s) for s in (0, 1)]
    x, y = xor().x, xor().y
    with pytest.raises(ValueError, match="networks.*dropout"):
        train_tracking_pairs_batched(networks, "hidden.0", x, y, (0, 1), lr=0.1, epochs=5, seeds=[0, 1])
    plain = [build_network(spec.replace(variant="mlp"), 2, 1, seed=s) for s in (0, 1)]
    with pytest.raises(ValueError, match="pair"):
        train_tracking_pairs_batched(plain, "hidden.0", x, y, (2, 2), lr=0.1, epochs=5, seeds=[0, 1])
    with pytest.raises(ValueError, match="seeds"):
        train_tracking_pairs_batched(plain, "hidden.0", x, y, (0, 1), lr=0.1, epochs=5, seeds=[0])


# --- run_dataset_trials: the experiments' runner ------------------------------------------------


def _dataset_configs():
    from repdyn.runs import DatasetConfig

    low = get_architecture("xor low").replace(units=12, hidden_layers=4, epochs=200)
    two = get_architecture("xor 2 layers").replace(units=12, epochs=200)
    # The theory's loss: the batched engine has no other convention yet (XOR's own is mse).
    return [DatasetConfig(dataset="xor", arch=a, seed=s, loss_convention="half_sum") for a in (low, two)
            for s in range(3)] + [DatasetConfig(dataset="xor", arch=low.replace(lr=0.01), seed=0,
                                                loss_convention="half_sum")]  # fmt: skip


def _options(tmp_path, **changes):
    from repdyn.experiments import RunOptions

    return RunOptions(**{"profile": "smoke", "out": tmp_path, "cache": tmp_path / "cache", "executor": "local",
                         "progress": False, "batch_trials": True, **changes})  # fmt: skip


def test_the_seeds_of_one_network_train_as_one_batch_with_per_trial_results(tmp_path, monkeypatch):
    import repdyn.fast
    from repdyn.runs import dataset_trial, run_dataset_trials
    from repdyn.sweep import ResultStore, cache_key

    sizes = []
    real = repdyn.fast.train_tracking_pairs_batched
    monkeypatch.setattr(repdyn.fast, "train_tracking_pairs_batched",
                        lambda networks, *a, **k: sizes.append(len(networks)) or real(networks, *a, **k))  # fmt: skip
    configs = _dataset_configs()
    results = run_dataset_trials(configs, _options(tmp_path))
    assert sizes == [3, 3], "one batch per network; the network alone in its group trains one by one"
    for config, batched in zip(configs, results, strict=True):
        single = dataset_trial(config)
        assert set(batched) == set(single)
        for name, want in single.items():
            if name == "seconds":
                continue
            got = batched[name]
            if isinstance(want, np.ndarray) and want.dtype.kind == "f":
                scale = np.nanmax(np.abs(want))
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale, err_msg=name)  # float32
            elif isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-4, abs=1e-9, nan_ok=True), name
            elif isinstance(want, np.ndarray):
                np.testing.assert_array_equal(got, want, err_msg=name)
            else:
                assert got == want, name
    store = ResultStore(tmp_path / "cache")
    assert all(store.get(cache_key(dataset_trial, c)) is not None for c in configs)
    # A second run, batched or not, reads every trial from the store.
    import repdyn.track

    def refuse(*args, **kwargs):
        raise AssertionError("every trial is in the store")

    monkeypatch.setattr(repdyn.track, "train_tracking_pair", refuse)
    again = run_dataset_trials(configs, _options(tmp_path, batch_trials=False))
    assert [r["status"] for r in again] == [r["status"] for r in results]


def test_without_batching_every_trial_runs_one_by_one(tmp_path, monkeypatch):
    import repdyn.fast
    from repdyn.runs import run_dataset_trials

    monkeypatch.setattr(repdyn.fast, "train_tracking_pairs_batched", None)  # calling it would raise
    configs = _dataset_configs()[:2]
    results = run_dataset_trials(configs, _options(tmp_path, batch_trials=False))
    assert len(results) == 2 and all("hidden" in r for r in results)


def test_a_batch_that_raises_runs_its_trials_one_by_one(tmp_path, monkeypatch):
    import repdyn.fast
    from repdyn.runs import run_dataset_trials
    from repdyn.sweep import SweepWarning

    def broken(*args, **kwargs):
        raise RuntimeError("out of device memory")

    monkeypatch.setattr(repdyn.fast, "train_tracking_pairs_batched", broken)
    configs = _dataset_configs()[:3]
    with pytest.warns(SweepWarning, match="3 seeds of 'xor low' on 'xor' as one batch failed"):
        results = run_dataset_trials(configs, _options(tmp_path))
    assert [r["status"] for r in results] != ["error"] * 3 and all("hidden" in r for r in results)


def test_seeds_trained_on_another_loss_than_the_theorys_are_not_batched():
    # The batched engine steps on the theory's loss only: XOR's reference mse trains trial by trial.
    from repdyn.runs import DatasetConfig
    from repdyn.runs._dataset_run import batchable_seeds

    arch = get_architecture("xor low").replace(units=12, hidden_layers=4, epochs=20)
    assert DatasetConfig(dataset="xor", arch=arch).loss_convention == "mse"
    assert not batchable_seeds(DatasetConfig(dataset="xor", arch=arch))
    assert batchable_seeds(DatasetConfig(dataset="xor", arch=arch, loss_convention="half_sum"))
