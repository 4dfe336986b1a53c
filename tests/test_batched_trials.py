"""Two-point trials trained as one batch: same results and same cache as one by one.

The oracle is the per-trial path itself: ``two_point_trial(config)`` (the
CPU fast path, then the fits) and ``run_sweep`` over it. Batching is forced
on the CPU with ``RunOptions(batch_trials=True)``; on a GPU the same code
runs with ``device="cuda"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import repdyn.fast
from repdyn.cli import app
from repdyn.experiments import RunOptions
from repdyn.runs import _train_pair as _training
from repdyn.runs._batched import batching_wanted, run_batched
from repdyn.runs import TwoPointConfig, two_point_trial
from repdyn.runs._two_point_run import run_trials, sweep_trials
from repdyn.nets import get_architecture
from repdyn.sweep import ResultStore, SweepWarning, cache_key, run_sweep

torch.set_num_threads(1)

#: Small enough for milliseconds per trial; lr chosen so runs converge in 300 epochs.
ARCH = get_architecture("default").replace(units=16, hidden_layers=3, epochs=300, lr=0.05)
#: With ARCH this pair's gradients blow up within a few epochs.
DIVERGING_DX2 = 1e3
RATE_FIELDS = ("eta_h", "eta_y", "eta_m", "h_inf")
ARRAY_FIELDS = ("h", "y", "w", "loss")


def _configs() -> list[TwoPointConfig]:
    """Two batch groups (tracked layer only; every layer), various pairs, one divergence."""
    middle = [TwoPointConfig(arch=ARCH, seed=s) for s in range(3)]
    middle += [
        TwoPointConfig(arch=ARCH, seed=3, dx2=2.0, dy2=0.8, fit=False),
        TwoPointConfig(arch=ARCH, seed=0, dx2=DIVERGING_DX2),
        TwoPointConfig(arch=ARCH, seed=4, dy2=0.3),
    ]
    every = [TwoPointConfig(arch=ARCH, seed=s, all_layers=True) for s in (5, 6)]
    return [middle[0], every[0], *middle[1:], every[1]]  # groups interleaved: order must survive


def _options(tmp_path: Path, **changes: Any) -> RunOptions:
    settings: dict[str, Any] = {
        "profile": "smoke",
        "out": tmp_path,
        "cache": tmp_path / "cache",
        "executor": "local",
        "progress": False,
        "batch_trials": True,
    }
    return RunOptions(**{**settings, **changes})


def _assert_same_trial(batched: dict[str, Any], single: dict[str, Any]) -> None:
    assert set(batched) == set(single)
    for name, expected in single.items():
        got = batched[name]
        if name in ("seconds", "fit_message"):
            continue
        if name in ARRAY_FIELDS or name == "h_layers":
            # float32 rounding grows along these steep runs: batched and
            # per-trial differ by up to 3e-5 of the scale, as much as either
            # differs from autograd (measured), so 1e-4; a wrong pair, seed
            # or epoch is off by percents.
            scale = np.nanmax(np.abs(expected))
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale, err_msg=name)
        elif name.startswith("theory_"):
            scale = np.nanmax(np.abs(expected))
            np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3 * scale, err_msg=name)
        elif name in RATE_FIELDS or name.endswith("_layers"):
            np.testing.assert_allclose(got, expected, rtol=1e-3, err_msg=name)
        elif name.startswith("r2_"):
            np.testing.assert_allclose(got, expected, atol=1e-3, err_msg=name)
        elif isinstance(expected, float) and name not in ("dx2", "dy2"):
            assert got == pytest.approx(expected, rel=1e-4, abs=1e-8, nan_ok=True), name
        elif isinstance(expected, np.ndarray):
            np.testing.assert_array_equal(got, expected, err_msg=name)
        else:
            assert got == expected, name


class Counting:
    """Wraps ``train_pairs_batched``: records the size of every batch."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sizes: list[int] = []

    def __call__(self, networks: Any, *args: Any, **kwargs: Any) -> Any:
        self.sizes.append(len(networks))
        return self.real(networks, *args, **kwargs)


@pytest.fixture(scope="module")
def per_trial() -> list[dict[str, Any]]:
    return [two_point_trial(c) for c in _configs()]


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Counting:
    wrapper = Counting(repdyn.fast.train_pairs_batched)
    monkeypatch.setattr(repdyn.fast, "train_pairs_batched", wrapper)
    return wrapper


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("nothing should be trained: every trial is cached")


def test_batched_results_equal_per_trial_results(tmp_path, per_trial, counting):
    configs = _configs()
    results = run_trials(configs, _options(tmp_path))
    assert sorted(counting.sizes) == [2, 6], "one batch per group (tracked layer; every layer)"
    assert len(results) == len(configs)
    for config, batched, single in zip(configs, results, per_trial):
        assert batched["dx2"] == pytest.approx(config.dx2) and batched["dy2"] == pytest.approx(
            config.dy2
        )
        _assert_same_trial(batched, single)
    statuses = [r["status"] for r in results]
    diverged = [c.dx2 == DIVERGING_DX2 for c in configs]
    assert statuses[diverged.index(True)] == "diverged"
    # The diverging trial shares its batch without disturbing the others.
    assert all(s == "converged" for s, d in zip(statuses, diverged) if not d)
    for result in results:
        assert result["seconds"] > 0


def test_batches_are_bounded_and_cached_trials_are_not_trained(tmp_path, per_trial, counting):
    configs = _configs()
    options = _options(tmp_path)
    # Half of the trials cached by the per-trial sweep first.
    run_sweep(two_point_trial, configs[::2], store=options.cache, executor="local", progress=False)
    store = ResultStore(options.cache)
    assert len(store) == 4
    results = run_batched(configs, options, fallback=_refuse_nonempty, batch_size=2)
    assert sum(counting.sizes) == len(configs) - 4, "only the missing trials are trained"
    assert max(counting.sizes) <= 2
    assert len(store) == len(configs)
    for batched, single in zip(results, per_trial):
        _assert_same_trial(batched, single)


def _refuse_nonempty(configs: list[TwoPointConfig], options: RunOptions) -> list[dict[str, Any]]:
    assert not configs, "every trial here has a fast path"
    return []


def test_a_second_run_computes_nothing_and_the_per_trial_path_reads_the_cache(
    tmp_path, monkeypatch
):
    configs = _configs()
    options = _options(tmp_path)
    first = run_trials(configs, options)
    store = ResultStore(options.cache)
    keys = sorted({cache_key(two_point_trial, c) for c in configs})
    assert store.keys() == keys, "each trial under run_sweep's key for two_point_trial"
    written = {k: store.path(k).stat().st_mtime_ns for k in keys}

    monkeypatch.setattr(repdyn.fast, "train_pairs_batched", _refuse)
    monkeypatch.setattr(_training, "train_pair", _refuse)
    again = run_batched(configs, options, fallback=_refuse_nonempty)
    per_trial = run_sweep(
        two_point_trial, configs, store=options.cache, executor="local", progress=False
    )
    assert {k: store.path(k).stat().st_mtime_ns for k in keys} == written
    for a, b, c in zip(first, again, per_trial):
        assert a["seconds"] == b["seconds"] == c["seconds"]  # loaded, not recomputed
        assert a["status"] == b["status"] == c["status"] != "error"
        np.testing.assert_array_equal(a["h"], c["h"])


def test_an_interrupted_run_keeps_finished_batches_and_resumes(tmp_path, per_trial, monkeypatch):
    configs = _configs()
    options = _options(tmp_path)
    real = repdyn.fast.train_pairs_batched
    calls: list[int] = []

    def interrupted(networks, *args, **kwargs):
        calls.append(len(networks))
        if len(calls) == 2:
            raise KeyboardInterrupt  # not an error of the batch: nothing falls back
        return real(networks, *args, **kwargs)

    monkeypatch.setattr(repdyn.fast, "train_pairs_batched", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_batched(configs, options, fallback=_refuse_nonempty, batch_size=3)
    store = ResultStore(options.cache)
    assert len(store) == 3, "the first batch was written before the second started"

    resumed = Counting(real)
    monkeypatch.setattr(repdyn.fast, "train_pairs_batched", resumed)
    results = run_batched(configs, options, fallback=_refuse_nonempty, batch_size=3)
    assert sum(resumed.sizes) == len(configs) - 3
    for batched, single in zip(results, per_trial):
        _assert_same_trial(batched, single)


def test_every_variant_and_adam_are_batched_with_per_trial_results(tmp_path, counting):
    """Convolution, skip, dropout (each trial its own masks) and Adam: one batch per group.

    Unfitted: the runs are what batching computes (the fits are the per-trial
    code on them), and a poorly identified fit (R^2 < 0 here for Adam's short
    runs) moves by more than the runs' float32 rounding.
    """
    variants = [ARCH.replace(variant="convolution", channels=2, kernel_size=3, lr=0.02),
                ARCH.replace(variant="skip", gain=0.5),
                ARCH.replace(variant="dropout"),
                ARCH.replace(optimizer="adam", lr=0.01, epochs=50)]  # fmt: skip
    configs = [TwoPointConfig(arch=arch, seed=s, fit=False) for arch in variants for s in (1, 2)]
    results = run_batched(configs, _options(tmp_path), fallback=_refuse_nonempty)
    assert sorted(counting.sizes) == [2, 2, 2, 2]
    for config, result in zip(configs, results):
        _assert_same_trial(result, two_point_trial(config))
    dropout = [r for c, r in zip(configs, results) if c.arch.variant == "dropout"]
    assert not np.array_equal(dropout[0]["h"], dropout[1]["h"])


def test_trials_with_different_stopping_rules_share_a_batch(tmp_path, counting):
    """As fig5 runs its rate trials and its early-stopping grid trials: one batch."""
    configs = [TwoPointConfig(arch=ARCH, seed=1),
               TwoPointConfig(arch=ARCH, seed=2, dy2=0.25, loss_threshold=5e-4, fit=False, stop_when_converged=True),
               TwoPointConfig(arch=ARCH, seed=3, dy2=1.0, loss_threshold=2e-3, fit=False, stop_when_converged=True)]  # fmt: skip
    results = run_batched(configs, _options(tmp_path), fallback=_refuse_nonempty)
    assert counting.sizes == [3]
    for config, result in zip(configs, results):
        _assert_same_trial(result, two_point_trial(config))
    assert results[1]["stop_epoch"] < ARCH.epochs


def test_trials_not_batchable_and_failed_batches_run_one_by_one(tmp_path, monkeypatch):
    adam = TwoPointConfig(arch=ARCH.replace(optimizer="adam", lr=0.01, epochs=50), seed=1)
    plain = [TwoPointConfig(arch=ARCH, seed=s) for s in (1, 2)]
    configs = [plain[0], adam, plain[1]]
    handed: list[list[TwoPointConfig]] = []

    def recording(batch, options):
        handed.append(list(batch))
        return sweep_trials(batch, options)

    real_choice = repdyn.fast.choose_trainer

    def no_batched_adam(spec, *args, **kwargs):  # as for an optimiser the batched engine lacks
        return "autograd" if spec.optimizer == "adam" else real_choice(spec, *args, **kwargs)

    monkeypatch.setattr(repdyn.fast, "choose_trainer", no_batched_adam)
    results = run_batched(configs, _options(tmp_path), fallback=recording)
    assert handed == [[adam]]
    for config, result in zip(configs, results):
        _assert_same_trial(result, two_point_trial(config))

    def broken(*args, **kwargs):
        raise RuntimeError("out of device memory")

    monkeypatch.setattr(repdyn.fast, "train_pairs_batched", broken)
    handed.clear()
    fresh = [TwoPointConfig(arch=ARCH, seed=s) for s in (7, 8)]
    with pytest.warns(SweepWarning, match="out of device memory"):
        recovered = run_batched(fresh, _options(tmp_path), fallback=recording)
    assert handed == [fresh]
    for config, result in zip(fresh, recovered):
        _assert_same_trial(result, two_point_trial(config))


def test_batching_is_chosen_for_cuda_or_when_asked(tmp_path, monkeypatch):
    assert not batching_wanted(RunOptions(profile="smoke", out=tmp_path))
    assert batching_wanted(RunOptions(profile="smoke", out=tmp_path, batch_trials=True))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert batching_wanted(RunOptions(profile="smoke", out=tmp_path, device="cuda"))
    assert not batching_wanted(
        RunOptions(profile="smoke", out=tmp_path, device="cuda", batch_trials=False)
    )
    # Trials on a remote cluster run there, one by one.
    remote = RunOptions(
        profile="smoke", out=tmp_path, device="cuda", executor="dask", scheduler="tcp://gpu:8786"
    )
    assert not batching_wanted(remote)
    with pytest.raises(TypeError, match="batch_trials must be True or False; got 'yes'"):
        RunOptions(profile="smoke", out=tmp_path, batch_trials="yes")
    with pytest.raises(ValueError, match="batch_size"):
        run_batched(
            [], RunOptions(profile="smoke", out=tmp_path), fallback=sweep_trials, batch_size=0
        )


def test_without_batching_run_trials_never_batches(tmp_path, counting):
    configs = [TwoPointConfig(arch=ARCH.replace(epochs=20), seed=s, fit=False) for s in range(2)]
    results = run_trials(configs, _options(tmp_path, batch_trials=False))
    assert counting.sizes == []
    for config, result in zip(configs, results):
        _assert_same_trial(result, two_point_trial(config))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="CUDA is not available on this machine; use --device cpu"):
        RunOptions(profile="smoke", out=tmp_path, device="cuda")
    result = CliRunner().invoke(
        app, ["run", "two-point", "--device", "cuda", "--epochs", "5", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "CUDA is not available" in result.output
    assert not (tmp_path / "summary.json").exists()


def test_default_batches_fit_the_devices_memory(monkeypatch):
    from repdyn.runs._batched import MEMORY_FRACTION, split_group

    config = TwoPointConfig(arch=ARCH, seed=0)
    three = repdyn.fast.batch_bytes(ARCH, 3)
    monkeypatch.setattr(repdyn.fast, "device_memory", lambda device: three / MEMORY_FRACTION)
    batches = split_group(list(range(10)), config)
    assert [len(b) for b in batches] == [3, 3, 2, 2]
    assert sum(batches, []) == list(range(10))
    monkeypatch.setattr(repdyn.fast, "device_memory", lambda device: 1e15)
    assert [len(b) for b in split_group(list(range(100)), config)] == [50, 50], "at most 64 on the CPU"
    monkeypatch.setattr(repdyn.fast, "device_memory", lambda device: None)
    assert [len(b) for b in split_group(list(range(100)), config)] == [64, 36]
    assert [len(b) for b in split_group(list(range(5)), config, 2)] == [2, 2, 1]


@pytest.mark.parametrize(("name", "changes"), [("dropout", {}), ("skip", {"optimizer": "adam", "lr": 1e-3}),
                                               ("default", {})])  # fmt: skip
def test_a_single_trial_on_a_gpu_is_the_batched_engines_run(monkeypatch, name, changes):
    """On a GPU train_pair trains one trial as a batch of one, so its result (dropout's masks included)
    is the one it has in any batch. The CPU stands in for the GPU: choose_trainer is asked about cuda."""
    from repdyn.data import two_point
    from repdyn.fast import choose_trainer, train_pairs_batched
    from repdyn.nets import build_network

    spec = get_architecture(name).replace(units=12, hidden_layers=3, epochs=300, **changes)
    monkeypatch.setattr(repdyn.fast, "choose_trainer",
                        lambda arch, *a, device="cpu", **k: choose_trainer(arch, *a, device="cuda", **k))  # fmt: skip
    assert repdyn.fast.choose_trainer(spec) == ("batched" if name == "default" else "functional")
    batches = []
    monkeypatch.setattr(repdyn.fast, "train_pairs_batched",
                        lambda networks, *a, **k: batches.append(len(networks)) or train_pairs_batched(networks, *a, **k))  # fmt: skip
    pairs = [two_point(dx2=1.0 + k, dy2=0.5, in_dim=3, out_dim=2) for k in range(3)]
    alone, network = _training.train_pair(spec, pairs[1].x, pairs[1].y, seed=7, layer="hidden.1")
    assert batches == [1], "trained as a batch of one"
    networks = [build_network(spec, 3, 2, seed=seed) for seed in (3, 7, 11)]
    together = train_pairs_batched(networks, torch.stack([p.x for p in pairs]), torch.stack([p.y for p in pairs]),
                                   layers="hidden.1", lr=spec.lr, epochs=spec.epochs, optimizer=spec.optimizer,
                                   seeds=[3, 7, 11])  # fmt: skip
    for variable in ("h", "y", "w", "loss"):
        np.testing.assert_allclose(getattr(alone, variable), getattr(together[1], variable), rtol=2e-5, atol=1e-7)
    for mine, theirs in zip(network.parameters(), networks[1].parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=2e-5, atol=1e-6)
