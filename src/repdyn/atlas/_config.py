"""An atlas run as a frozen config (its cache key), resolved and checked from the user's arguments."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repdyn.atlas._inputs import (
    BATCH_SIZES,
    DEFAULT_MODELS,
    AtlasInputError,
    accepts_gain,
    build_model,
    dataset_kind,
    file_digest,
    is_factory,
    load_factory,
    load_points,
    mnist_directory,
    model_defaults,
)

#: Pairs tracked by default: enough that a fit-quality fraction per layer and
#: stratum is known to about +-7 % (100 pairs a stratum), few enough to fit
#: every (pair, layer) in minutes.
DEFAULT_PAIRS = 200
#: ``batch_size`` that trains full batch.
FULL_BATCH = "full"
OPTIMIZERS = ("sgd", "adam")
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class AtlasConfig:
    """Everything that decides what an atlas run computes (its cache key).

    Build one with :func:`plan_atlas`, which resolves defaults and checks every value.

    Parameters
    ----------
    model : str
        A registered architecture name (``repdyn.nets.ARCHITECTURES``), ``"cnn"``,
        or ``"FILE.py:FACTORY"`` with an absolute path.
    model_sha256 : str or None
        The factory file's digest, so that an edited file is a new run.
    dataset : str
        ``"mnist"``, ``"blobs"``, ``"xor"`` or the absolute path of an ``.npz`` file.
    dataset_sha256 : str or None
        The ``.npz`` file's digest.
    mnist_dir : str or None
        The user's MNIST directory (``$REPDYN_MNIST_DIR``); None: the bundled subset.
    pairs : int or tuple of (int, int)
        Pairs to draw (stratified, seeded with ``seed``), or the pairs themselves.
    layers : tuple of str
        The tracked layers (resolved names).
    gain : float or None
        Initial weight gain (None: a user's factory that takes no gain).
    lr, epochs, optimizer, batch_size
        Training: learning rate, passes over the data, ``sgd``/``adam``, and the
        minibatch size (None: full batch).
    record_every : int
        Epochs between records of the tracked pairs.
    seed : int
        Initial weights, minibatch order and the draw of pairs.
    device : str
        ``cpu`` or ``cuda``.
    """

    model: str
    model_sha256: str | None
    dataset: str
    dataset_sha256: str | None
    mnist_dir: str | None
    pairs: int | tuple[tuple[int, int], ...]
    layers: tuple[str, ...]
    gain: float | None
    lr: float
    epochs: int
    optimizer: str
    batch_size: int | None
    record_every: int
    seed: int
    device: str

    @property
    def n_records(self) -> int:
        """Records per tracked value: epoch 0, every ``record_every``-th and the last."""
        return self.epochs // self.record_every + 1 + (self.epochs % self.record_every != 0)


def plan_atlas(
    model: str | None = None,
    dataset: str = "mnist",
    *,
    pairs: int | Sequence[Sequence[int]] = DEFAULT_PAIRS,
    layers: str | Sequence[str] = "all",
    gain: float | None = None,
    lr: float | None = None,
    epochs: int | None = None,
    batch_size: int | str | None = None,
    optimizer: str = "sgd",
    record_every: int = 1,
    seed: int = 0,
    device: str = "cpu",
) -> AtlasConfig:
    """Resolve an atlas run's settings and check every one of them before anything trains.

    Parameters are those of :func:`repdyn.atlas.atlas`.

    Raises
    ------
    AtlasInputError
        A ValueError whose ``parameter`` names the bad argument.
    """
    kind = dataset_kind(dataset)
    dataset_path = Path(dataset).resolve() if kind == "npz" else None
    model = DEFAULT_MODELS[kind] if model is None else str(model)
    factory_path = None
    if is_factory(model):
        file, _, name = model.rpartition(":")
        factory_path = Path(file).resolve()
        factory = load_factory(model)
        if gain is not None and not accepts_gain(factory):
            raise AtlasInputError("gain", f"{model} takes no gain argument; drop --gain or give the factory "
                                          "a gain parameter")
        model = f"{factory_path}:{name}"
    defaults = model_defaults(model)
    _number("gain", gain, above=0.0)
    _number("lr", lr, above=0.0)
    for name, value in (("epochs", epochs), ("record_every", record_every)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise AtlasInputError(name, f"must be an integer >= 1; got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AtlasInputError("seed", f"must be an integer >= 0; got {seed!r}")
    if optimizer not in OPTIMIZERS:
        raise AtlasInputError("optimizer", f"must be one of {', '.join(OPTIMIZERS)}; got {optimizer!r}")
    if device not in DEVICES:
        raise AtlasInputError("device", f"must be one of {', '.join(DEVICES)}; got {device!r}")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise AtlasInputError("device", "cuda was asked for, but torch sees no CUDA device here; use cpu")
    mnist_dir = mnist_directory() if kind == "mnist" else None
    if lr is None and defaults["lr"] is None:
        raise AtlasInputError("lr", f"{model} has no default learning rate; pass one")
    epochs = defaults["epochs"] if epochs is None else epochs
    if record_every > epochs:
        raise AtlasInputError("record_every", f"({record_every}) exceeds the epochs ({epochs}); record at "
                                              "least once after the first epoch")
    points = load_points(str(dataset_path or dataset), mnist_dir)
    batch = _batch_size(batch_size, kind, len(points))
    # Built once here (on the CPU, cheap at these sizes) to check the layer names.
    net = build_model(model, in_dim=points.in_dim, out_dim=points.out_dim, gain=gain, seed=seed)
    names = _layers(net, layers)
    return AtlasConfig(
        model=model,
        model_sha256=None if factory_path is None else file_digest(factory_path),
        dataset=str(dataset_path) if dataset_path else kind,
        dataset_sha256=None if dataset_path is None else file_digest(dataset_path),
        mnist_dir=mnist_dir,
        pairs=_pairs(pairs, len(points)),
        layers=names,
        gain=defaults["gain"] if gain is None else float(gain),
        lr=float(defaults["lr"] if lr is None else lr),
        epochs=int(epochs),
        optimizer=optimizer,
        batch_size=batch,
        record_every=int(record_every),
        seed=int(seed),
        device=device,
    )


def _number(name: str, value: float | None, *, above: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= above:
        raise AtlasInputError(name, f"must be a finite number > {above:g}; got {value!r}")


def _batch_size(batch_size: int | str | None, kind: str, n_points: int) -> int | None:
    if batch_size == FULL_BATCH:
        return None
    if batch_size is None:
        default = BATCH_SIZES[kind]
        return None if default is None or default >= n_points else default
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= n_points:
        raise AtlasInputError("batch_size", f"must be an integer in [1, {n_points}] (the points of the data set) "
                                            f"or full batch; got {batch_size!r}")
    return None if batch_size == n_points else batch_size


def _pairs(pairs: Any, n_points: int) -> int | tuple[tuple[int, int], ...]:
    if isinstance(pairs, bool):
        raise AtlasInputError("pairs", f"must be a number of pairs >= 1 or a list of index pairs; got {pairs!r}")
    if isinstance(pairs, int):
        if pairs < 1:
            raise AtlasInputError("pairs", f"must be >= 1 (pairs to track); got {pairs}")
        return min(pairs, n_points * (n_points - 1) // 2)
    try:
        resolved = tuple((int(i), int(j)) for i, j in pairs)
    except (TypeError, ValueError):
        raise AtlasInputError("pairs", "must be a number of pairs or a list of (i, j) index pairs") from None
    for i, j in resolved:
        if not (0 <= i < n_points and 0 <= j < n_points) or i == j:
            raise AtlasInputError("pairs", f"({i}, {j}) is no pair of two different points among {n_points}")
    if not resolved:
        raise AtlasInputError("pairs", "is empty; give at least one pair")
    return resolved


def _layers(net: Any, layers: str | Sequence[str]) -> tuple[str, ...]:
    from repdyn.track import resolve_layers

    spec: Any = layers
    if isinstance(layers, str) and layers != "all":
        spec = [name.strip() for name in layers.split(",") if name.strip()]
    try:
        return resolve_layers(net, spec)
    except (ValueError, TypeError) as exc:
        raise AtlasInputError("layers", str(exc)) from None
