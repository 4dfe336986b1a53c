"""No hidden host synchronisation inside the epoch loop of the batched engine (issue 24).

On a GPU every value the host reads from the device (``.item()``, ``.cpu()``,
``float(t)``, ``if t:``, ``.nonzero()``) waits for the device to finish. The
engines copy the recorded rows to the host once per chunk of ``check_every``
epochs and nowhere else. The CPU stands in for the GPU: every such read is
counted while training, and the count must not grow with the epochs inside a
chunk, only with the number of chunks.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator

import pytest
import torch

from repdyn.fast import train_pairs_batched
from repdyn.nets import build_network, get_architecture
from repdyn.track import track_pair

#: Tensor methods that make the host wait for the device (on a GPU).
READS = ("item", "cpu", "numpy", "tolist", "__bool__", "__float__", "__int__", "__index__", "nonzero")


@contextlib.contextmanager
def counting_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    counts: Counter = Counter()
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    original_to = torch.Tensor.to

    def to(self, *args, **kwargs):
        target = args[0] if args else kwargs.get("device")
        if isinstance(target, str | torch.device) and torch.device(target).type == "cpu":
            counts["to cpu"] += 1
        return original_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", to)
    try:
        yield counts
    finally:
        monkeypatch.undo()


def _reads(monkeypatch, spec, epochs: int, check_every: int, batched: bool) -> int:
    seeds = [0, 1, 2]
    networks = [build_network(spec, 3, 2, seed=seed) for seed in seeds]
    generator = torch.Generator().manual_seed(5)
    xs = torch.randn(3, 2, 3, generator=generator)
    ys = torch.randn(3, 2, 2, generator=generator)
    with counting_reads(monkeypatch) as counts:
        if batched:
            train_pairs_batched(networks, xs, ys, layers="all", lr=spec.lr, epochs=epochs, optimizer=spec.optimizer,
                                seeds=seeds, check_every=check_every)  # fmt: skip
        else:
            from repdyn.nets import make_optimizer

            track_pair(networks[0], "all", xs[0], ys[0], epochs=epochs, seed=0, check_every=check_every,
                       optimizer=lambda p: make_optimizer(spec.optimizer, p, lr=spec.lr))  # fmt: skip
    return sum(counts.values())


CASES = [("default", {}), ("dropout", {}), ("convolution", {"channels": 2, "kernel_size": 3}),
         ("skip", {"optimizer": "adam", "lr": 1e-3})]  # fmt: skip


def _cases() -> list:
    """Every case batched; one by one (repdyn.track.track_pair) the SGD ones: torch.optim.Adam reads
    its step count, a host tensor (no wait for the device), each step, which the stand-in cannot tell apart."""
    found = []
    for name, changes in CASES:
        found.append(pytest.param(name, changes, True, id=f"batched-{name}"))
        if changes.get("optimizer", "sgd") == "sgd":
            found.append(pytest.param(name, changes, False, id=f"per-trial-{name}"))
    return found


@pytest.mark.parametrize(("name", "changes", "batched"), _cases())
def test_reads_from_the_device_do_not_grow_with_the_epochs_of_a_chunk(monkeypatch, name, changes, batched):
    spec = get_architecture(name).replace(units=8, hidden_layers=3, **changes)
    short = _reads(monkeypatch, spec, epochs=5, check_every=100, batched=batched)
    long = _reads(monkeypatch, spec, epochs=90, check_every=100, batched=batched)
    assert long == short, f"{long - short} reads more in 85 more epochs of one chunk"
    # More chunks: a bounded number of reads each (the copy of its rows, its checks).
    chunks = _reads(monkeypatch, spec, epochs=90, check_every=10, batched=batched)
    assert 0 < chunks - long <= 12 * 8, "reads per chunk"


def test_the_counter_sees_a_read_in_the_loop(monkeypatch):
    """The oracle of the test above can fail: an epoch loop that reads a loss each epoch is counted."""
    spec = get_architecture("default").replace(units=8, hidden_layers=3)
    with counting_reads(monkeypatch) as counts:
        loss = torch.zeros(())
        for _ in range(7):
            if loss > 1:  # a hidden sync: the host waits for the comparison
                break
            float(loss)
    assert counts["__bool__"] == 7 and counts["__float__"] == 7
    assert _reads(monkeypatch, spec, epochs=5, check_every=100, batched=True) > 0
