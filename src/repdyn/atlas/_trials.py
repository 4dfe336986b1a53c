"""The atlas's two trials: training with many-pair tracking, then the analysis of that training.

Both are pure functions of their configs, so the result store caches each:
a rerun reads both back, and a run killed during the analysis trains nothing
again. The analysis trial needs the training's result; :func:`atlas` hands it
over in memory (:func:`remember_training`) after reading or computing it, and
without that the analysis trial computes the training itself (same result).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from repdyn.atlas._config import AtlasConfig
from repdyn.sweep import trial

#: The fit's objective in the analysis (:data:`repdyn.theory.OBJECTIVES`).
OBJECTIVE = "scaled"

_TRAINED: dict[str, dict[str, Any]] = {}


@dataclass(frozen=True)
class AnalysisConfig:
    """The analysis of one atlas training: the training's config and the fit's objective."""

    run: AtlasConfig
    objective: str = OBJECTIVE


def tracked_points(pairs: np.ndarray) -> np.ndarray:
    """The distinct points of the pairs, sorted: the rows and columns of every matrix of the atlas."""
    return np.unique(np.asarray(pairs, dtype=np.int64))


@trial("atlas-training")
def atlas_training(config: AtlasConfig) -> dict[str, Any]:
    """Train the config's model on its data set, tracking its pairs at its layers every record.

    Returns the :class:`repdyn.track.PairsTracking` arrays and scalars, plus,
    for the distinct tracked points (``points``): their targets and labels,
    their squared input distances (``input_d2``, (P, P), by the config's
    input distance) and inputs as points with those distances (``x_points``:
    the flattened inputs, or, for another input distance, coordinates whose
    squared Euclidean distances are ``input_d2``), the initial
    representations at every layer (``hidden0_<l>``, float32 as the model
    computes them), the initial outputs and the final squared distance matrix
    of every layer (``rdm_final``, (L, P, P)). With ``kernel_every``: the
    records measured (``kernel_records``) and the kernel rates there,
    ``kernel_eta_h`` and ``kernel_eta_y`` (K, L, S).
    """
    import torch

    from repdyn.nets import make_optimizer
    from repdyn.rsa import rdm
    from repdyn.runs import euclidean_coordinates, pairwise_input_distances
    from repdyn.track import layer_outputs, sample_pairs, track_pairs

    data = config.data.load()
    device = torch.device(config.device)
    net = config.model.build(data.input_shape, data.out_dim, seed=config.seed, device=config.device)
    x, y = data.x.to(device), data.y.to(device)
    if isinstance(config.pairs, int):
        pairs = sample_pairs(data.y, config.pairs, seed=config.seed).pairs
    else:
        pairs = np.asarray(config.pairs, dtype=np.int64)
    points = tracked_points(pairs)
    layers = list(config.layers)
    distance = config.input_distance.for_model(net)
    tracked = torch.as_tensor(points, device=device)
    # Measured before training: an embedding's distances are those of its initial weights, as dx2 is.
    input_d2 = pairwise_input_distances(distance, points if isinstance(distance, np.ndarray) else x[tracked])
    before = layer_outputs(net, [*layers, ""], x[tracked])
    training = config.training
    run = track_pairs(
        net, layers, x, y, pairs,
        optimizer=lambda params: make_optimizer(training.optimizer, params, lr=training.lr),
        epochs=training.epochs, batch_size=None if training.full_batch else training.batch_size,
        seed=config.seed, record_every=config.record_every, progress=True, input_distance=distance,
        kernel_every=config.kernel_every,
        loss=training.loss,
    )  # fmt: skip
    after = layer_outputs(net, layers, x[tracked])
    if config.input_distance.kind == "euclidean":
        x_points, non_euclidean = data.x[points].reshape(len(points), -1).numpy().astype(np.float64), 0.0
    else:
        x_points, non_euclidean = euclidean_coordinates(input_d2)
    result: dict[str, Any] = {
        "epochs": run.epochs, "layers": np.array(run.layers, dtype=np.str_), "pairs": run.pairs,
        "same": run.same, "h": run.h, "y": run.y, "w": run.w, "loss": run.loss,
        "train_loss": run.train_loss, "m0": run.m0, "dx2": run.dx2, "dy2": run.dy2,
        "status": run.status, "stop_epoch": run.stop_epoch, "diverged_epoch": run.diverged_epoch,
        "final_loss": run.final_loss, "seconds": run.seconds, "record_every": run.record_every,
        "steps_per_epoch": config.steps_per_epoch,
        "points": points, "x_points": x_points, "y_points": data.y[points].numpy(), "input_d2": input_d2,
        "input_non_euclidean": non_euclidean,
        "output0": before[""].astype(np.float64),
        "rdm_final": np.stack([_finite_rdm(rdm, after[name]) for name in layers]),
        "n_points": len(data), "in_dim": data.in_dim, "out_dim": data.out_dim,
        "input_shape": np.array(data.input_shape, dtype=np.int64),
        "data_description": data.meta["description"],
        "n_parameters": int(sum(p.numel() for p in net.parameters())),
    }  # fmt: skip
    if data.labels is not None:
        result["labels_points"] = data.labels[points].numpy()
    if "label_names" in data.meta:
        result["label_names"] = np.array(data.meta["label_names"], dtype=np.str_)
    for index, name in enumerate(layers):
        result[f"hidden0_{index}"] = before[name]
    if config.kernel_every is not None:
        # Only the kernel records: the rates are NaN at every other record.
        rows = np.flatnonzero(np.isfinite(run.kernel_eta_h).any(axis=(0, 1)))
        result["kernel_records"] = rows
        result["kernel_eta_h"] = run.kernel_eta_h[:, :, rows]
        result["kernel_eta_y"] = run.kernel_eta_y[:, :, rows]
    return result


def _finite_rdm(rdm: Any, representations: np.ndarray) -> np.ndarray:
    """Squared distances of the final representations; NaN throughout if the run left them non-finite."""
    if not np.isfinite(representations).all():
        n = len(representations)
        return np.full((n, n), np.nan)
    return rdm(representations)


def remember_training(key: str, result: dict[str, Any]) -> None:
    """Hand a training result to the analysis trial of the same run (read back or just computed)."""
    _TRAINED.clear()
    _TRAINED[key] = result


@trial("atlas-analysis")
def atlas_analysis(config: AnalysisConfig) -> dict[str, Any]:
    """Fit, cross-validate and compare structure for the training of ``config.run``."""
    from repdyn.atlas._analysis import analyse
    from repdyn.sweep import cache_key

    key = cache_key(atlas_training, config.run)
    training = _TRAINED.get(key)
    if training is None:
        training = atlas_training(config.run)
    return analyse(training, objective=config.objective, progress=True)


#: Bumped when the analysis computes something different, so a store never serves an older analysis.
atlas_analysis.result_version = 3  # type: ignore[attr-defined]
