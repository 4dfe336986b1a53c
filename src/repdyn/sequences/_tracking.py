"""Training a sequence model while recording the state and output of every training prefix."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional

from repdyn import checks
from repdyn.nets import make_optimizer
from repdyn.sequences._data import SequenceData, check_test_sets
from repdyn.track import record_epochs

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Losses by name: ``"mse"`` is the mean over batch and outputs of the
#: squared error to one-hot targets (the follow-up's code, no factor 1/2);
#: ``"cross_entropy"`` takes the outputs as logits (its Fig 9 grid).
LOSSES = ("mse", "cross_entropy")
#: How a run ended: every epoch done, stopped at ``stop_loss``, or a non-finite loss.
STATUSES = ("done", "converged", "diverged")
#: Default bound on the recorded states and outputs, in MB (10^6 bytes): the
#: follow-up's record of every epoch (836 MB) is refused, every second one fits.
MAX_RECORD_MB = 500.0
#: Bytes per recorded value (float32).
RECORD_BYTES = 4
#: Sequences per no-grad forward when recording.
EVAL_CHUNK = 4096


def record_megabytes(n_records: int, n_items: int, hidden: int, n_outputs: int, *, initial: bool = True) -> float:
    """Size in MB of a tracking record: states and outputs of every prefix (and ``h_0``) per record.

    Parameters
    ----------
    n_records : int
        Recorded epochs.
    n_items : int
        Training sequences (prefixes).
    hidden, n_outputs : int
        Width of the representation and of the output.
    initial : bool, default True
        Whether the initial state is recorded too.

    Examples
    --------
    The follow-up's full record (2046 prefixes and ``h_0``, 100 units, two
    outputs, 1001 records) is ``record_megabytes(1001, 2046, 100, 2)``, about 836 MB.
    """
    rows = n_items + (1 if initial else 0)
    return n_records * rows * (hidden + n_outputs) * RECORD_BYTES / 1e6


@dataclass(frozen=True, eq=False)
class PrefixTracking:
    """States and outputs of every training prefix over a training run, with the losses.

    Record ``r`` is the model after ``epochs[r]`` epochs (record 0: before
    training), measured in eval mode without gradients.

    Attributes
    ----------
    data : SequenceData
        The training set; row ``i`` of ``states`` is ``data.sequences[i]``.
    epochs : ndarray of int, shape (R,)
    states : ndarray of float32, shape (R, n, H)
        Representation after each prefix.
    outputs : ndarray of float32, shape (R, n, K)
    initial_states : ndarray of float32, shape (R, H), or None
        ``h_0`` per record (None for a model without an initial state).
    initial_outputs : ndarray of float32, shape (R, K), or None
    train_loss, train_accuracy : ndarray, shape (R,)
        Loss (as trained) and argmax accuracy on the whole training set.
    epoch_loss : ndarray, shape (E,)
        Mean minibatch loss of each epoch run (weighted by batch size).
    test_loss, test_accuracy : dict of ndarray, shape (R,)
        Per test set (keyed as given, usually by length).
    loss : str
        The loss trained on (:data:`LOSSES`).
    status : str
        :data:`STATUSES`.
    stop_epoch : int
        Epochs actually run.
    seconds : float
        Wall time of the run.
    settings : dict
        The training options.
    """

    data: SequenceData
    epochs: IntArray
    states: NDArray[np.float32]
    outputs: NDArray[np.float32]
    initial_states: NDArray[np.float32] | None
    initial_outputs: NDArray[np.float32] | None
    train_loss: FloatArray
    train_accuracy: FloatArray
    epoch_loss: FloatArray
    test_loss: dict[Any, FloatArray]
    test_accuracy: dict[Any, FloatArray]
    loss: str
    status: str
    stop_epoch: int
    seconds: float
    settings: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"PrefixTracking({self.data.n_items} prefixes x {self.states.shape[2]} units, "
            f"{self.epochs.size} records to epoch {self.stop_epoch}, {self.status}, "
            f"train loss {self.train_loss[-1]:.3g}, {self.megabytes:.1f} MB)"
        )

    @property
    def n_records(self) -> int:
        """Number of records."""
        return int(self.epochs.size)

    @property
    def megabytes(self) -> float:
        """Size of the recorded states and outputs in MB."""
        total = self.states.nbytes + self.outputs.nbytes
        if self.initial_states is not None and self.initial_outputs is not None:
            total += self.initial_states.nbytes + self.initial_outputs.nbytes
        return total / 1e6

    def record(self, epoch: int) -> int:
        """Index of the record of ``epoch`` (-1: the last)."""
        if epoch == -1:
            return self.n_records - 1
        hits = np.flatnonzero(self.epochs == epoch)
        if hits.size == 0:
            raise checks.ArgumentValueError(
                "epoch", f"epoch {epoch} was not recorded; recorded epochs are {self.epochs[0]}, "
                f"{self.epochs[1] if self.n_records > 1 else ''}... {self.epochs[-1]}"
            )
        return int(hits[0])

    def to_arrays(self) -> dict[str, Any]:
        """The record as a flat dict of numpy arrays and JSON scalars: a :mod:`repdyn.sweep` trial's result.

        The training data are not included (a trial rebuilds them from its
        config); :meth:`from_arrays` reads the dict back with them.
        """
        keys = list(self.test_loss)
        arrays: dict[str, Any] = {
            "epochs": self.epochs, "states": self.states, "outputs": self.outputs,
            "train_loss": self.train_loss, "train_accuracy": self.train_accuracy, "epoch_loss": self.epoch_loss,
            "loss": self.loss, "status": self.status, "stop_epoch": int(self.stop_epoch),
            "seconds": float(self.seconds), "settings": json.dumps(self.settings),
            # Test sets are named by any JSON key (usually a length): their names travel as JSON, their
            # values by position.
            "test_keys": json.dumps(keys),
        }
        if self.initial_states is not None and self.initial_outputs is not None:
            arrays["initial_states"] = self.initial_states
            arrays["initial_outputs"] = self.initial_outputs
        for i, key in enumerate(keys):
            arrays[f"test_loss.{i}"] = self.test_loss[key]
            arrays[f"test_accuracy.{i}"] = self.test_accuracy[key]
        return arrays

    @classmethod
    def from_arrays(cls, data: SequenceData, arrays: Mapping[str, Any]) -> PrefixTracking:
        """The record that :meth:`to_arrays` wrote, on the training data ``data`` it was recorded on."""
        if not isinstance(data, SequenceData):
            raise checks.ArgumentTypeError("data", f"data must be a SequenceData; got {checks.describe(data)}")
        states = np.asarray(arrays["states"])
        if states.ndim != 3 or states.shape[1] != data.n_items:
            raise checks.ArgumentValueError(
                "data", f"the record holds {states.shape[1] if states.ndim == 3 else '?'} prefixes; data has "
                f"{data.n_items}: pass the training data the record was made on"
            )
        keys = json.loads(arrays["test_keys"])
        return cls(
            data=data,
            epochs=np.asarray(arrays["epochs"], dtype=np.int64),
            states=states,
            outputs=np.asarray(arrays["outputs"]),
            initial_states=None if "initial_states" not in arrays else np.asarray(arrays["initial_states"]),
            initial_outputs=None if "initial_outputs" not in arrays else np.asarray(arrays["initial_outputs"]),
            train_loss=np.asarray(arrays["train_loss"], dtype=np.float64),
            train_accuracy=np.asarray(arrays["train_accuracy"], dtype=np.float64),
            epoch_loss=np.asarray(arrays["epoch_loss"], dtype=np.float64),
            test_loss={key: np.asarray(arrays[f"test_loss.{i}"], dtype=np.float64) for i, key in enumerate(keys)},
            test_accuracy={key: np.asarray(arrays[f"test_accuracy.{i}"], dtype=np.float64)
                           for i, key in enumerate(keys)},
            loss=str(arrays["loss"]),
            status=str(arrays["status"]),
            stop_epoch=int(arrays["stop_epoch"]),
            seconds=float(arrays["seconds"]),
            settings=json.loads(arrays["settings"]),
        )


def _check_model(model: Any, data: SequenceData) -> tuple[torch.device, torch.dtype, int, bool]:
    """Run the protocol once on one sequence: device, dtype, hidden width, whether h_0 exists."""
    if not isinstance(model, nn.Module) or not callable(getattr(model, "initial_state", None)):
        raise checks.ArgumentTypeError(
            "model", "model must be a torch.nn.Module with forward(inputs) -> (hidden, output) and "
            f"initial_state() -> (h0, output) or None (see SequenceModel); got {checks.describe(model)}"
        )
    params = [p for p in model.parameters() if p.is_floating_point()]
    if not params:
        raise checks.ArgumentValueError("model", "model has no floating-point parameters to train")
    device, dtype = params[0].device, params[0].dtype
    probe = one_hot(data.symbols[:1, : int(data.lengths[0])], data.n_symbols, device, dtype)
    with torch.no_grad():
        result = model(probe)
        initial = model.initial_state()
    if not (isinstance(result, tuple) and len(result) == 2):
        raise checks.ArgumentTypeError("model", "model(inputs) must return a tuple (hidden, output); see SequenceModel")
    hidden, output = result
    if hidden.ndim != 2 or hidden.shape[0] != 1 or output.shape != (1, data.n_outputs):
        raise checks.ArgumentValueError(
            "model", f"model(inputs of shape (1, T, {data.n_symbols})) must return hidden (1, H) and output "
            f"(1, {data.n_outputs}); got {tuple(hidden.shape)} and {tuple(output.shape)}"
        )
    if initial is not None and (
        not isinstance(initial, tuple) or len(initial) != 2
        or initial[0].shape != (hidden.shape[1],) or initial[1].shape != (data.n_outputs,)
    ):
        raise checks.ArgumentValueError(
            "model", f"model.initial_state() must return None or (h0 of shape ({hidden.shape[1]},), output of "
            f"shape ({data.n_outputs},))"
        )
    return device, dtype, int(hidden.shape[1]), initial is not None


def one_hot(
    symbols: Any, n_symbols: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """One-hot inputs (B, T, S) from symbols (B, T) of one length."""
    index = torch.as_tensor(np.array(symbols, dtype=np.int64), device=device)
    return functional.one_hot(index, n_symbols).to(dtype)


def _loss_function(name: str, n_outputs: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name == "mse":
        return lambda out, target: ((out - functional.one_hot(target, n_outputs).to(out.dtype)) ** 2).mean()
    return lambda out, target: functional.cross_entropy(out, target)


def _optimizer(optimizer: Any, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, str):
        return make_optimizer(optimizer, model, lr=lr)
    if callable(optimizer):
        built = optimizer(model.parameters())
        if isinstance(built, torch.optim.Optimizer):
            return built
    raise checks.ArgumentTypeError(
        "optimizer", "optimizer must be 'sgd', 'adam' or a callable params -> torch.optim.Optimizer; "
        f"got {checks.describe(optimizer)}"
    )


class _Groups:
    """The data (or a test set) as one-hot tensors grouped by length."""

    def __init__(self, data: SequenceData, device: torch.device, dtype: torch.dtype) -> None:
        self.rows: list[IntArray] = []
        self.inputs: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        for n, rows in data.by_length().items():
            self.rows.append(rows)
            self.inputs.append(one_hot(data.symbols[rows, :n], data.n_symbols, device, dtype))
            self.targets.append(torch.as_tensor(data.targets[rows], device=device))

    def evaluate(self, model: nn.Module) -> Iterable[tuple[IntArray, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(rows, hidden, output, target) per length and chunk."""
        for rows, x, target in zip(self.rows, self.inputs, self.targets, strict=True):
            for start in range(0, len(rows), EVAL_CHUNK):
                stop = start + EVAL_CHUNK
                hidden, output = model(x[start:stop])
                yield rows[start:stop], hidden, output, target[start:stop]


def measure_prefixes(
    model: nn.Module, data: SequenceData
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32] | None, NDArray[np.float32] | None]:
    """The state and output after every sequence of ``data``, and at the initial state, in eval mode.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`SequenceModel`.
    data : SequenceData

    Returns
    -------
    states : ndarray of float32, shape (n, H)
    outputs : ndarray of float32, shape (n, K)
    initial_state : ndarray of float32, shape (H,), or None
    initial_output : ndarray of float32, shape (K,), or None
    """
    if not isinstance(data, SequenceData):
        raise checks.ArgumentTypeError("data", f"data must be a SequenceData; got {checks.describe(data)}")
    device, dtype, hidden, has_initial = _check_model(model, data)
    states = np.empty((data.n_items, hidden), dtype=np.float32)
    outputs = np.empty((data.n_items, data.n_outputs), dtype=np.float32)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for rows, h, out, _ in _Groups(data, device, dtype).evaluate(model):
            states[rows] = h.detach().cpu().float().numpy()
            outputs[rows] = out.detach().cpu().float().numpy()
        initial = model.initial_state() if has_initial else None
    model.train(was_training)
    if initial is None:
        return states, outputs, None, None
    return states, outputs, initial[0].detach().cpu().float().numpy(), initial[1].detach().cpu().float().numpy()


def track_prefixes(
    model: nn.Module,
    data: SequenceData,
    *,
    epochs: int,
    lr: float = 0.02,
    optimizer: Any = "sgd",
    batch_size: int = 128,
    loss: str = "mse",
    record_every: int = 1,
    test_sets: Mapping[Any, SequenceData] | None = None,
    stop_loss: float | None = None,
    seed: int = 0,
    max_record_mb: float = MAX_RECORD_MB,
) -> PrefixTracking:
    """Train a sequence model on ``data``, recording every training prefix's state and output.

    The follow-up's schedule: each epoch visits the lengths in increasing
    order, each length's sequences shuffled into minibatches of
    ``batch_size`` that never mix lengths, one optimiser step per minibatch
    (21 steps per epoch on the complete parity data to length 10). Before the
    first epoch and after every ``record_every``-th (and the last), the model
    in eval mode and without gradients gives the state and output of every
    training sequence and of the initial state, the loss and accuracy on the
    training set and on every test set.

    The record's size is known before the run (:func:`record_megabytes`); a
    run whose record would exceed ``max_record_mb`` is refused before it starts.

    Parameters
    ----------
    model : torch.nn.Module
        A :class:`SequenceModel`; trained in place.
    data : SequenceData
        The training set.
    epochs : int
        Most epochs, >= 1.
    lr : float, default 0.02
        Learning rate of a named optimizer.
    optimizer : {"sgd", "adam"} or callable, default "sgd"
        Plain SGD or Adam (:func:`repdyn.nets.make_optimizer`), or a callable
        ``params -> torch.optim.Optimizer``.
    batch_size : int, default 128
    loss : {"mse", "cross_entropy"}, default "mse"
        See :data:`LOSSES`.
    record_every : int, default 1
        Record every this many epochs (and the last).
    test_sets : mapping, optional
        Name (usually the length) -> :class:`SequenceData` whose loss and
        accuracy are measured at every record.
    stop_loss : float, optional
        Stop after the first epoch whose mean minibatch loss is below this
        (the last epoch is then recorded); status ``"converged"``.
    seed : int, default 0
        Seed of the minibatch order.
    max_record_mb : float, default :data:`MAX_RECORD_MB`
        Largest record allowed, in MB.

    Returns
    -------
    PrefixTracking
    """
    if not isinstance(data, SequenceData):
        raise checks.ArgumentTypeError("data", f"data must be a SequenceData; got {checks.describe(data)}")
    epochs = checks.integer("epochs", epochs, minimum=1)
    lr = checks.real("lr", lr, above=0.0)
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    loss = checks.choice("loss", loss, LOSSES)
    record_every = checks.integer("record_every", record_every, minimum=1)
    stop_loss = checks.real("stop_loss", stop_loss, above=0.0, allow_none=True)
    seed = checks.seed("seed", seed)
    max_record_mb = checks.real("max_record_mb", max_record_mb, above=0.0)
    tests = check_test_sets(test_sets, data.n_symbols)
    for key, test in tests.items():
        if test.n_outputs != data.n_outputs:
            raise checks.ArgumentValueError(
                "test_sets", f"test_sets[{key!r}] has {test.n_outputs} outputs; the training data has {data.n_outputs}"
            )
    device, dtype, hidden, has_initial = _check_model(model, data)
    planned = record_epochs(epochs, record_every)
    per_record = record_megabytes(1, data.n_items, hidden, data.n_outputs, initial=has_initial)
    if planned.size * per_record > max_record_mb:
        raise checks.ArgumentValueError("record_every", _record_advice(epochs, planned.size, per_record, max_record_mb))

    opt = _optimizer(optimizer, model, lr)
    loss_fn = _loss_function(loss, data.n_outputs)
    train = _Groups(data, device, dtype)
    test_groups = {key: _Groups(test, device, dtype) for key, test in tests.items()}
    generator = torch.Generator().manual_seed(seed)

    n_records = planned.size
    states = np.full((n_records, data.n_items, hidden), np.nan, dtype=np.float32)
    outputs = np.full((n_records, data.n_items, data.n_outputs), np.nan, dtype=np.float32)
    initial_states = np.full((n_records, hidden), np.nan, dtype=np.float32) if has_initial else None
    initial_outputs = np.full((n_records, data.n_outputs), np.nan, dtype=np.float32) if has_initial else None
    train_loss = np.full(n_records, np.nan)
    train_accuracy = np.full(n_records, np.nan)
    test_loss = {key: np.full(n_records, np.nan) for key in tests}
    test_accuracy = {key: np.full(n_records, np.nan) for key in tests}
    epoch_loss = np.full(epochs, np.nan)

    def measure(r: int) -> None:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            total, correct = 0.0, 0
            for rows, h, out, target in train.evaluate(model):
                states[r, rows] = h.detach().cpu().float().numpy()
                outputs[r, rows] = out.detach().cpu().float().numpy()
                total += float(loss_fn(out, target)) * len(rows)
                correct += int((out.argmax(dim=1) == target).sum())
            train_loss[r] = total / data.n_items
            train_accuracy[r] = correct / data.n_items
            if initial_states is not None and initial_outputs is not None:
                h0, y0 = model.initial_state()
                initial_states[r] = h0.detach().cpu().float().numpy()
                initial_outputs[r] = y0.detach().cpu().float().numpy()
            for key, groups in test_groups.items():
                total, correct, count = 0.0, 0, 0
                for rows, _, out, target in groups.evaluate(model):
                    total += float(loss_fn(out, target)) * len(rows)
                    correct += int((out.argmax(dim=1) == target).sum())
                    count += len(rows)
                test_loss[key][r] = total / count
                test_accuracy[key][r] = correct / count
        model.train(was_training)

    start = time.perf_counter()
    measure(0)
    status, last = "done", 0
    next_record = 1
    for epoch in range(1, epochs + 1):
        model.train()
        total, count = 0.0, 0
        for x, target in zip(train.inputs, train.targets, strict=True):
            order = torch.randperm(x.shape[0], generator=generator).to(device)
            for first in range(0, x.shape[0], batch_size):
                batch = order[first : first + batch_size]
                _, out = model(x[batch])
                value = loss_fn(out, target[batch])
                opt.zero_grad()
                value.backward()
                opt.step()
                total += float(value.detach()) * len(batch)
                count += len(batch)
        epoch_loss[epoch - 1] = total / count
        last = epoch
        if not math.isfinite(epoch_loss[epoch - 1]):
            status = "diverged"
        elif stop_loss is not None and epoch_loss[epoch - 1] < stop_loss:
            status = "converged"
        if status != "done" or epoch == planned[next_record]:
            measure(next_record)
            next_record += 1
        if status != "done":
            break
    keep = next_record
    epochs_done = planned[:keep].copy()
    epochs_done[-1] = last
    return PrefixTracking(
        data=data,
        epochs=epochs_done,
        states=states[:keep],
        outputs=outputs[:keep],
        initial_states=None if initial_states is None else initial_states[:keep],
        initial_outputs=None if initial_outputs is None else initial_outputs[:keep],
        train_loss=train_loss[:keep],
        train_accuracy=train_accuracy[:keep],
        epoch_loss=epoch_loss[:last],
        test_loss={k: v[:keep] for k, v in test_loss.items()},
        test_accuracy={k: v[:keep] for k, v in test_accuracy.items()},
        loss=loss,
        status=status,
        stop_epoch=last,
        seconds=time.perf_counter() - start,
        settings={
            "epochs": epochs, "lr": lr, "optimizer": optimizer if isinstance(optimizer, str) else "custom",
            "batch_size": batch_size, "loss": loss, "record_every": record_every, "stop_loss": stop_loss,
            "seed": seed,
        },
    )


def _n_records(epochs: int, every: int) -> int:
    return epochs // every + 1 + (epochs % every != 0)


def _record_advice(epochs: int, n_records: int, per_record: float, max_record_mb: float) -> str:
    """Why a record is refused, and the smallest ``record_every`` that fits (if any)."""
    text = (
        f"recording {n_records} epochs needs {n_records * per_record:.0f} MB ({per_record:.3g} MB per record: "
        f"every prefix's state and output), above max_record_mb={max_record_mb:g}"
    )
    if 2 * per_record > max_record_mb:
        return text + "; even the first and last records alone do not fit: raise max_record_mb"
    every = max(1, math.ceil(epochs / max(max_record_mb / per_record - 2, 1)))
    while every < epochs and _n_records(epochs, every) * per_record > max_record_mb:
        every += 1
    size = _n_records(epochs, every) * per_record
    return text + f"; record every {every}-th epoch (record_every={every}: {size:.0f} MB) or raise max_record_mb"


def steps_per_epoch(data: SequenceData, batch_size: int = 128) -> int:
    """Optimiser steps in one epoch of :func:`track_prefixes`' schedule (minibatches never mix lengths)."""
    batch_size = checks.integer("batch_size", batch_size, minimum=1)
    return sum(math.ceil(len(rows) / batch_size) for rows in data.by_length().values())
