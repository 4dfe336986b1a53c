"""The planner of `repdyn reproduce --dry-run` (issue 24): trials, batches, memory and time before anything trains.

Oracles: the CPU plan's total is the existing per-trial estimate; batch sizes are
checked against the memory model by brute force; the bandwidth floor against a
hand count of the parameters; the trials per experiment against one estimate of
all experiments, which counts each trial once.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from repdyn.checks import byte_size
from repdyn.cli import app
from repdyn.experiments import EXPERIMENTS, estimate_seconds, experiment_trials, plan
from repdyn.fast import batch_bytes
from repdyn.nets import get_architecture
from repdyn.runs import DatasetConfig, TwoPointConfig, counting_each_trial_once, plan_trials
from repdyn.runs._batched import MEMORY_FRACTION
from repdyn.runs._plan import _interpolate

runner = CliRunner()
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the plan of a GPU that is not here")


def _configs(name: str, count: int, **changes) -> list[TwoPointConfig]:
    arch = get_architecture(name).replace(**changes)
    return [TwoPointConfig(arch=arch, seed=seed, fit=False) for seed in range(count)]


def test_on_the_cpu_the_plan_is_the_per_trial_estimate():
    names = list(EXPERIMENTS)
    result = plan(names, "quick", device="cpu", workers=2)
    assert all(not p.batches for p in result.experiments.values()), "the CPU trains trial by trial"
    assert result.seconds == pytest.approx(estimate_seconds(names, "quick", 2), rel=1e-12)


def test_each_trial_is_planned_once_in_the_first_experiment_that_needs_it():
    names = list(EXPERIMENTS)
    with counting_each_trial_once() as everything:
        for name in names:
            EXPERIMENTS[name].estimate_seconds("paper")
    found = experiment_trials(names, "paper")
    planned = [c for configs, _, _ in found.values() for c in configs]
    # The two-point and data-set trials; the follow-up's sequence runs count as their experiment's own time.
    trials = {c for c in everything if isinstance(c, (TwoPointConfig, DatasetConfig))}
    assert len(planned) == len(set(planned)) == len(trials) < len(everything)
    assert set(planned) == trials
    # fig11 trains nothing of its own: its trials are fig2's and fig3's.
    assert found["fig11"][0] == [] and found["fig11"][1] > 0


def test_batches_are_the_largest_that_fit_the_stated_memory():
    configs = _configs("default", 10, units=40, hidden_layers=3, epochs=50)
    arch = configs[0].arch
    one = batch_bytes(arch, 1, device="cuda")
    memory = 3.5 * one / MEMORY_FRACTION  # room for 3 trials, not 4 (bytes grow linearly, plus a constant)
    fits = max(n for n in range(1, 11) if batch_bytes(arch, n, device="cuda") <= MEMORY_FRACTION * memory)
    result = plan_trials(configs, device="cuda", memory=memory, bandwidth=1e12)
    sizes = [b.trials for b in result.batches]
    assert sum(sizes) == 10 and len(sizes) == math.ceil(10 / fits)
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= fits
    assert all(b.bytes == batch_bytes(arch, b.trials, device="cuda") <= MEMORY_FRACTION * memory
               for b in result.batches)  # fmt: skip
    assert not result.refused


def test_a_trial_that_cannot_fit_is_refused():
    configs = _configs("default", 4, units=40, hidden_layers=3, epochs=50)
    one = batch_bytes(configs[0].arch, 1, device="cuda")
    result = plan_trials(configs, device="cuda", memory=0.5 * one / MEMORY_FRACTION, bandwidth=1e12)
    assert not result.batches and len(result.refused) == 1
    assert "default" in result.refused[0] and "at least one trial" in result.refused[0]


def test_the_floor_is_every_weight_read_and_written_once_per_step():
    units, layers, count, bandwidth = 30, 4, 6, 2e9
    configs = _configs("default", count, units=units, hidden_layers=layers, epochs=100)
    # in_dim = out_dim = 1: first layer, hidden-to-hidden layers, output layer (weights and biases).
    parameters = (units + units) + (layers - 1) * (units * units + units) + (units + 1)
    result = plan_trials(configs, device="cuda", memory=1e12, bandwidth=bandwidth)
    [batch] = result.batches
    assert batch.cost == "floor" and batch.trainer == "batched"
    assert batch.epoch_seconds == pytest.approx(count * 2 * parameters * 4 / bandwidth, rel=1e-12)
    assert batch.seconds == pytest.approx(100 * batch.epoch_seconds, rel=1e-12)
    adam = plan_trials(_configs("default", count, units=units, hidden_layers=layers, epochs=100, optimizer="adam",
                                lr=1e-3), device="cuda", memory=1e12, bandwidth=bandwidth)  # fmt: skip
    assert adam.batches[0].epoch_seconds == pytest.approx(3 * batch.epoch_seconds, rel=1e-12), "moments too"
    assert adam.batches[0].trainer == "functional"


def test_fits_and_trials_one_by_one_go_to_the_cpu_model():
    from repdyn.runs import estimate_dataset_seconds, estimate_trial_seconds

    fitted = [TwoPointConfig(arch=get_architecture("default").replace(units=8, hidden_layers=2, epochs=20), seed=s,
                             all_layers=True) for s in range(3)]  # fmt: skip
    small = get_architecture("default").replace(units=8, hidden_layers=2, epochs=20)
    xor = [DatasetConfig(dataset="xor", arch=small, seed=s, loss_convention="half_sum") for s in range(3)]
    alone = DatasetConfig(dataset="xor", arch=small.replace(lr=0.01), loss_convention="half_sum")
    result = plan_trials([*fitted, *xor, alone], device="cuda", memory=1e12, bandwidth=1e12, workers=3)
    assert result.one_by_one == 4 and result.fits == 3 * 3  # two hidden layers and the output, per trial
    assert result.seed_batches == 1, "the three seeds of one network train together on a GPU"
    assert result.one_by_one_seconds == pytest.approx(sum(map(estimate_dataset_seconds, [*xor, alone])))
    unfitted = [replace(c, fit=False, all_layers=False) for c in fitted]
    assert result.fit_seconds == pytest.approx(sum(map(estimate_trial_seconds, fitted))
                                               - sum(map(estimate_trial_seconds, unfitted)))
    assert result.seconds == pytest.approx(result.training_seconds + (result.fit_seconds
                                                                      + result.one_by_one_seconds) / 3)


def test_a_calibration_measures_each_group_on_this_machine():
    configs = _configs("default", 3, units=8, hidden_layers=2, epochs=30)
    result = plan_trials(configs, device="cpu", batched=True, memory=1e12, calibrate_epochs=3)
    [batch] = result.batches
    assert batch.cost == "measured" and 0 < batch.epoch_seconds < 1


def test_interpolation_is_linear_between_the_sizes_measured():
    measured = {4: 1.0, 12: 3.0}
    assert _interpolate(measured, 8) == pytest.approx(2.0)
    assert _interpolate(measured, 2) == 1.0 and _interpolate(measured, 20) == 3.0
    assert _interpolate({5: 0.5}, 9) == 0.5


@no_gpu
def test_a_gpu_that_is_not_here_needs_its_memory_and_cannot_be_calibrated():
    configs = _configs("default", 2, units=8, hidden_layers=2, epochs=10)
    with pytest.raises(ValueError, match="memory"):
        plan_trials(configs, device="cuda")
    with pytest.raises(ValueError, match="calibrat"):
        plan_trials(configs, device="cuda", memory=1e9, calibrate_epochs=2)
    unknown = plan_trials(configs, device="cuda", memory=1e9)
    assert unknown.batches[0].cost == "unknown" and unknown.seconds is None


@pytest.mark.parametrize(("text", "size"), [("141GB", 141 * 10**9), ("80GiB", 80 * 2**30), ("1.5 TB", 15 * 10**11),
                                            ("512", 512), (2048, 2048)])  # fmt: skip
def test_byte_sizes_read_as_makers_state_them(text, size):
    assert byte_size("memory", text) == size


@pytest.mark.parametrize("bad", ["0GB", "12XB", "-1GB", "", True, 2.5, None])
def test_bad_byte_sizes_are_refused_by_name(bad):
    with pytest.raises((ValueError, TypeError), match="^memory must"):
        byte_size("memory", bad)


@no_gpu
def test_the_dry_run_plans_the_paper_profile_for_a_stated_gpu():
    result = runner.invoke(app, ["reproduce", "fig5", "fig11", "--profile", "paper", "--device", "cuda", "--dry-run",
                                 "--device-memory", "141GB", "--device-bandwidth", "4.8TB/s", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    planned = json.loads(result.output)
    fig5 = planned["experiments"]["fig5"]
    assert planned["memory_bytes"] == 141e9 and planned["bandwidth_bytes_per_second"] == 4.8e12
    assert fig5["batched_trials"] == fig5["trials"] == 15 * 75 and fig5["cost"] == "floor"
    assert sum(b["trials"] for b in fig5["batches"]) == fig5["trials"]
    assert all(b["bytes"] <= MEMORY_FRACTION * 141e9 for b in fig5["batches"])
    assert planned["experiments"]["fig11"]["trials"] == 0, "fig11's trials are fig2's and fig3's"
    text = runner.invoke(app, ["reproduce", "fig5", "--profile", "paper", "--device", "cuda", "--dry-run",
                               "--device-memory", "2GB"])  # fmt: skip
    assert text.exit_code == 0, text.output
    assert "fig5: 1125 trials" in text.output and "time per epoch 'unknown'" in text.output
    assert text.output.count("skip (skip, sgd") == 2, "the skip trials split in two batches to fit 2 GB"


@no_gpu
@pytest.mark.parametrize(("extra", "named"), [
    ([], "--device-memory"),
    (["--device-memory", "10MB"], "does not fit"),
    (["--device-memory", "lots"], "--device-memory"),
    (["--device-memory", "141GB", "--calibrate-epochs", "3"], "--calibrate-epochs"),
])  # fmt: skip
def test_a_dry_run_that_cannot_plan_exits_2(extra, named):
    result = runner.invoke(app, ["reproduce", "fig5", "--profile", "paper", "--device", "cuda", "--dry-run", *extra])
    assert result.exit_code == 2, result.output
    assert named in result.output and "Traceback" not in result.output


def test_planning_options_need_the_dry_run(tmp_path):
    result = runner.invoke(app, ["reproduce", "fig5", "--device-memory", "141GB", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--dry-run" in result.output
    assert not (tmp_path / "x").exists()


def test_a_gpu_run_that_cannot_fit_is_refused_before_anything_trains(tmp_path, monkeypatch):
    """The CPU stands in for a GPU of 1 MB: the run's own plan refuses it, and nothing is written."""
    import repdyn.fast

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(repdyn.fast, "device_memory", lambda device="cpu": 10**6)
    monkeypatch.setattr(repdyn.fast, "memory_bandwidth", lambda device="cpu": 1e12)
    result = runner.invoke(app, ["reproduce", "fig5", "--profile", "paper", "--device", "cuda",
                                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "does not fit the GPU's memory" in result.output and "skip" in result.output
    assert not (tmp_path / "run").exists()
