"""The cost model of a batch: memory by hand count, the bandwidth floor, measured time, batches that fit."""

from __future__ import annotations

import pytest
import torch

from repdyn.fast import BatchCost, batch_bytes, batch_cost, memory_bandwidth, split_batches, step_bytes
from repdyn.nets import ArchSpec

torch.set_num_threads(1)

#: 1 -> 4 -> 4 -> 1 units: (1*4 + 4) + (4*4 + 4) + (4*1 + 1) = 33 parameters, the largest tensor 16.
TINY = ArchSpec(name="tiny", units=4, hidden_layers=2, epochs=9, lr=0.01)
PARAMETERS, LARGEST = 33, 16


def by_hand(trials: int, *, copies: int, itemsize: int = 4, layers: int = 2, noise: int = 0) -> int:
    """What a batch holds, counted from the model's parts for TINY (check_every > epochs: 10 rows)."""
    activations = 4 * 2 * (1 + 2 * 4 + 1) * itemsize  # four copies of both points' representations
    rows = 10 * (layers + 3) * 8
    per_trial = copies * PARAMETERS * itemsize + activations + rows
    return trials * per_trial + noise + trials * LARGEST * itemsize


def test_memory_is_counted_part_by_part() -> None:
    # Hand-written kernels: the weights only, updated in place.
    assert batch_bytes(TINY, 1) == by_hand(1, copies=1)
    assert batch_bytes(TINY, 7) == by_hand(7, copies=1)
    # torch.func: weights and gradients; Adam adds two moments and its step's denominator.
    assert batch_bytes(TINY.replace(variant="skip"), 7) == by_hand(7, copies=2)
    assert batch_bytes(TINY.replace(optimizer="adam"), 7) == by_hand(7, copies=5)
    assert batch_bytes(TINY, 7, dtype=torch.float64) == by_hand(7, copies=1, itemsize=8)
    assert batch_bytes(TINY, 7, all_layers=False) == by_hand(7, copies=1, layers=1)
    # Dropout: the noise of a chunk of epochs drawn ahead (10 epochs of 2 points x 8 hidden units).
    assert batch_bytes(TINY.replace(variant="dropout"), 7) == by_hand(7, copies=2, noise=7 * 2 * 8 * 4 * 10)


def test_the_floor_is_the_weights_read_and_written_at_the_bandwidth() -> None:
    assert step_bytes(TINY) == 2 * PARAMETERS * 4
    assert step_bytes(TINY.replace(optimizer="adam")) == 6 * PARAMETERS * 4
    cost = batch_cost(TINY, 5, bandwidth=1e9)
    assert isinstance(cost, BatchCost)
    assert cost.floor_seconds == pytest.approx(5 * 2 * PARAMETERS * 4 / 1e9)
    assert cost.seconds is None and cost.epoch_seconds == cost.floor_seconds and cost.floor_fraction is None
    assert cost.trainer == "batched" and cost.parameters == PARAMETERS and cost.bytes == batch_bytes(TINY, 5)
    assert cost.trial_epoch_seconds == pytest.approx(cost.floor_seconds / 5)


def test_measured_time_and_bandwidth() -> None:
    assert memory_bandwidth("cpu") > 1e8  # any machine copies 100 MB/s
    cost = batch_cost(TINY.replace(variant="convolution", channels=2, kernel_size=3), 3, measure_epochs=20)
    assert cost.trainer == "functional"
    assert cost.seconds is not None and cost.seconds > 0 and cost.epoch_seconds == cost.seconds
    assert cost.floor_fraction == pytest.approx(cost.floor_seconds / cost.seconds)


def test_batches_fit_the_memory_and_keep_the_order() -> None:
    items = list(range(23))
    five = batch_bytes(TINY, 5)
    batches = split_batches(items, TINY, memory=five)
    assert [len(b) for b in batches] == [5, 5, 5, 4, 4]
    assert sum(batches, []) == items
    assert all(batch_bytes(TINY, len(b)) <= five for b in batches)
    assert [len(b) for b in split_batches(items, TINY, memory=five - 1)] == [4] * 5 + [3]
    assert [len(b) for b in split_batches(items, TINY, memory=1e12, most=10)] == [8, 8, 7]
    assert split_batches([], TINY, memory=1.0) == []
    with pytest.raises(ValueError, match="memory must hold at least one trial of 'tiny'"):
        split_batches(items, TINY, memory=batch_bytes(TINY, 1) - 1)
    with pytest.raises(ValueError, match="memory must be a finite number > 0"):
        split_batches(items, TINY, memory=0)
    with pytest.raises(TypeError, match="most must be an integer"):
        split_batches(items, TINY, memory=1e9, most=2.5)
