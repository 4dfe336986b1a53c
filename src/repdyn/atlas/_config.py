"""An atlas run as a frozen config (its cache key), resolved and checked from the user's arguments."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.sweep import KEY_OMITS_DEFAULT
from repdyn.runs import (
    DataSource,
    InputDistanceSource,
    ModelSource,
    Training,
    check_device,
    check_forward,
    data_source,
    input_distance_source,
    model_source,
)

#: Pairs tracked by default: enough that a fit-quality fraction per layer and
#: stratum is known to about +-7 % (100 pairs a stratum), few enough to fit
#: every (pair, layer) in minutes.
DEFAULT_PAIRS = 200
#: The model each data set gets when none is named: the paper's network for it
#: (Table 2; ``blobs low`` is the context task at low initial scale). Other
#: data (a file, arrays, a PointSet) get the paper's MNIST MLP shape (4 hidden
#: layers of 100), under the key ``"other"``.
DEFAULT_MODELS = {"mnist": "mnist", "blobs": "blobs low", "xor": "xor low", "other": "mnist"}
#: Epochs of models without a setting of their own (the CNN, a user's model).
DEFAULT_EPOCHS = 100
#: Minibatch size of the atlas: the paper does not state one; 32, as the
#: project's own MNIST and context-task experiments use. A data set of at most
#: 32 points (XOR's four) trains full batch.
DEFAULT_BATCH_SIZE = 32
#: The form of explicit pairs, for messages.
PAIRS_FORM = "a number of pairs >= 1, or a list of (i, j) index pairs"


@dataclass(frozen=True)
class AtlasConfig:
    """Everything that decides what an atlas run computes (its cache key).

    Build one with :func:`plan_atlas`, which resolves defaults and checks every value.

    Attributes
    ----------
    model : repdyn.runs.ModelSource
        The model (an architecture, the CNN, a user's factory or callable).
    data : repdyn.runs.DataSource
        The data set (built in, a file, arrays or a PointSet).
    input_distance : repdyn.runs.InputDistanceSource
        How each pair's squared input distance ``dx2`` is measured.
    n_points : int
        Points of the data set.
    pairs : int or tuple of (int, int)
        Pairs to draw (stratified, seeded with ``seed``), or the pairs themselves.
    layers : tuple of str
        The tracked layers (resolved names).
    training : repdyn.runs.Training
        Optimiser, learning rate, epochs and minibatch size, resolved.
    record_every : int
        Epochs between records of the tracked pairs.
    seed : int
        Initial weights, minibatch order and the draw of pairs.
    device : str
        ``cpu`` or ``cuda``.
    kernel_every : int or None
        Records between kernel records: every pair's rates measured from the
        network's tangent kernels (:func:`repdyn.track.track_pairs`), for the
        zero-fit predictor. None (default): not measured, and left out of the
        cache key.
    """

    model: ModelSource
    data: DataSource
    input_distance: InputDistanceSource
    n_points: int
    pairs: int | tuple[tuple[int, int], ...]
    layers: tuple[str, ...]
    training: Training
    record_every: int
    seed: int
    device: str
    kernel_every: int | None = field(default=None, metadata={KEY_OMITS_DEFAULT: True})

    @property
    def n_records(self) -> int:
        """Records per tracked value: epoch 0, every ``record_every``-th and the last."""
        epochs = self.training.epochs
        return epochs // self.record_every + 1 + (epochs % self.record_every != 0)

    @property
    def n_pairs(self) -> int:
        return self.pairs if isinstance(self.pairs, int) else len(self.pairs)

    @property
    def steps_per_epoch(self) -> int:
        """Optimisation steps per epoch: the theory's time runs in steps, ``epoch * steps_per_epoch``."""
        batch = self.training.batch_size
        return 1 if self.training.full_batch else math.ceil(self.n_points / int(batch))


def plan_atlas(
    model: Any = None,
    data: Any = "mnist",
    *,
    labels: Any = None,
    input_distance: Any = None,
    pairs: int | Sequence[Sequence[int]] = DEFAULT_PAIRS,
    layers: str | Sequence[str] = "all",
    gain: float | None = None,
    lr: float | None = None,
    epochs: int | None = None,
    batch_size: int | str | None = None,
    optimizer: str | None = None,
    record_every: int = 1,
    seed: int = 0,
    device: str = "cpu",
    kernel_every: int | None = None,
    loss: str | None = None,
) -> AtlasConfig:
    """Resolve an atlas run's settings and check every one of them before anything trains.

    Parameters are those of :func:`repdyn.atlas.atlas`.

    Raises
    ------
    repdyn.checks.BadArgument
        A ValueError or TypeError whose ``parameter`` names the bad argument.
    """
    source = data_source(data, labels=labels)
    model = DEFAULT_MODELS[source.name if source.kind == "builtin" else "other"] if model is None else model
    model = model_source(model, gain=gain)
    distance = input_distance_source(input_distance)
    checks.integer("record_every", record_every, minimum=1)
    checks.integer("kernel_every", kernel_every, minimum=1, allow_none=True,
                   fix="pass None (no kernel rates) or the records between kernel records, such as 25")
    checks.seed("seed", seed)
    check_device("device", device)
    points = source.load()
    training = Training(optimizer=optimizer, lr=lr, epochs=epochs, batch_size=batch_size, loss=loss).resolve(
        model, default_epochs=DEFAULT_EPOCHS, default_batch_size=DEFAULT_BATCH_SIZE, n_points=len(points),
        data=source.name if source.kind == "builtin" else None)
    if record_every > training.epochs:
        raise checks.ArgumentValueError(
            "record_every", f"record_every ({record_every}) exceeds the epochs ({training.epochs}); record at least "
            "once after the first epoch")
    if not points.x.is_floating_point() and distance.kind == "euclidean":
        from repdyn.track import INTEGER_INPUTS_FIX

        raise checks.ArgumentValueError("input_distance", f"the data hold integer inputs: {INTEGER_INPUTS_FIX}")
    # Built once here (on the CPU) to check the layer names and the data's shape against the model.
    net = model.probe(points.input_shape, points.out_dim)
    names = _layers(net, layers)
    check_forward(net, points.x[:2], points.out_dim, model.label)
    distance.for_model(net)  # a submodule name that the model lacks fails here, not after training
    return AtlasConfig(
        model=model,
        data=source,
        input_distance=distance,
        n_points=len(points),
        pairs=_pairs(pairs, len(points)),
        layers=names,
        training=training,
        record_every=int(record_every),
        seed=int(seed),
        device=device,
        kernel_every=None if kernel_every is None else int(kernel_every),
    )


def _pairs(pairs: Any, n_points: int) -> int | tuple[tuple[int, int], ...]:
    if isinstance(pairs, int | np.integer) and not isinstance(pairs, bool):
        count = checks.integer("pairs", pairs, minimum=1, fix=f"Give {PAIRS_FORM}")
        return min(int(count), n_points * (n_points - 1) // 2)
    if isinstance(pairs, bool | str | float):
        raise checks.ArgumentTypeError("pairs", f"pairs must be {PAIRS_FORM}; got {checks.describe(pairs)}")
    try:
        resolved = tuple((checks.integer("pairs", i), checks.integer("pairs", j)) for i, j in pairs)
    except (TypeError, ValueError):
        raise checks.ArgumentValueError("pairs", f"pairs must be {PAIRS_FORM}; got {checks.describe(pairs)}") from None
    for i, j in resolved:
        if not (0 <= i < n_points and 0 <= j < n_points) or i == j:
            raise checks.ArgumentValueError(
                "pairs", f"pairs: ({i}, {j}) is no pair of two different points among {n_points}")
    if not resolved:
        raise checks.ArgumentValueError("pairs", "pairs is empty; give at least one pair")
    return resolved  # type: ignore[return-value]


def _layers(net: Any, layers: str | Sequence[str]) -> tuple[str, ...]:
    from repdyn.track import resolve_layers

    spec: Any = layers
    if isinstance(layers, str) and layers != "all":
        spec = [name.strip() for name in layers.split(",") if name.strip()]
    try:
        return resolve_layers(net, spec)
    except (ValueError, TypeError) as exc:
        raise checks.ArgumentValueError("layers", f"layers: {exc}") from None


#: Bytes per value of the tracked arrays planned for, relative to the result's
#: own: the host copy made while recording, the result, and the store's npz
#: written from it.
MEMORY_COPIES = 3
#: Bytes per (pair, layer) of the analysis: about 40 float64 fields (rates,
#: R^2, predictions, flags) and their string forms.
ANALYSIS_BYTES_PER_FIT = 40 * 8
#: Rough single-thread seconds of training per point and parameter (forward,
#: backward and step): the MNIST MLP's 110,000 parameters take 0.08 s per
#: epoch of 5,000 points on this project's CPU cores (benchmarks/bench_atlas.py).
SECONDS_PER_POINT_PARAMETER = 1.5e-10
#: Rough seconds of a minibatch step's fixed cost (optimiser, launch).
SECONDS_PER_STEP = 1e-4
#: Rough seconds of fitting one (pair, layer) trajectory: a fixed part and a
#: part per record (0.025 s measured for 101 records at the coarse tolerance,
#: about as much again where a fine pass follows).
FIT_SECONDS = 0.02
FIT_SECONDS_PER_RECORD = 3e-4
#: Above these an atlas says what it will cost before it starts.
LARGE_SECONDS = 60.0
LARGE_BYTES = 100e6


@dataclass(frozen=True)
class AtlasEstimate:
    """Rough memory and time of an atlas run, to say what a large run costs (and refuse one too large)."""

    bytes: float
    training_seconds: float
    analysis_seconds: float

    @property
    def seconds(self) -> float:
        return self.training_seconds + self.analysis_seconds

    @property
    def large(self) -> bool:
        return self.seconds > LARGE_SECONDS or self.bytes > LARGE_BYTES

    def describe(self) -> str:
        from repdyn.runs import format_bytes

        return (f"about {format_bytes(self.bytes)} of memory and {_duration(self.seconds)} (training "
                f"{_duration(self.training_seconds)}, analysis {_duration(self.analysis_seconds)}), on one CPU thread")


def estimate_atlas(config: AtlasConfig) -> AtlasEstimate:
    """Rough memory and single-thread time of a planned atlas run (see the constants above)."""
    from repdyn.track import PairsTracking

    k, n_layers, records = config.n_pairs, len(config.layers), config.n_records
    points = min(2 * k, config.n_points)
    tracking = PairsTracking.estimate_bytes(k, n_layers, records)
    analysis = k * n_layers * (ANALYSIS_BYTES_PER_FIT + 3 * 8 * records) + 8 * points**2 * (n_layers + 6)
    model = config.model.probe(config.data.load().input_shape, config.data.load().out_dim)
    parameters = sum(p.numel() for p in model.parameters())
    epochs = config.training.epochs
    training = epochs * (config.n_points * parameters * SECONDS_PER_POINT_PARAMETER
                         + config.steps_per_epoch * SECONDS_PER_STEP)
    fits = k * n_layers * (FIT_SECONDS + FIT_SECONDS_PER_RECORD * records)
    return AtlasEstimate(bytes=MEMORY_COPIES * tracking + analysis, training_seconds=training, analysis_seconds=fits)


def require_fits_in_memory(config: AtlasConfig, estimate: AtlasEstimate) -> None:
    """Refuse a run that would not fit in this machine's memory, naming what sets its size."""
    from repdyn.runs import require_memory

    require_memory(
        "pairs", estimate.bytes,
        f"tracking {config.n_pairs} pairs (pairs) at {len(config.layers)} layers (layers) over {config.n_records} "
        "records (epochs, record_every)",
        "lower pairs or epochs, or raise record_every",
    )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
