"""Full-batch training on a pair of points, recording the theory's variables."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from repdyn.track import _checks as check
from repdyn.track._distance import InputDistance, input_distances
from repdyn.track._kernel import (
    ALL_FIELDS,
    KERNEL_PROBES,
    KernelLog,
    KernelMeter,
    check_kernel_options,
    check_optimizer,
    kernel_records,
)
from repdyn.track._layers import LayerProbe, LayerSpec, batch_dims, resolve_layers
from repdyn.track._log import CHECK_EVERY, ChunkSchedule
from repdyn.track._metrics import THEORY_LOSS, check_loss, loss_scale, project_loss
from repdyn.track._record import (
    Progress,
    ProgressSpec,
    Recorder,
    forked_rng,
    forward_depends_on_mode,
    measuring_mode,
    squared_distance,
)
from repdyn.track._result import PairTracking


@check.renamed_keywords(chunk_size="check_every")
def track_pair(
    model: nn.Module,
    layers: LayerSpec,
    x: Any,
    y: Any,
    *,
    optimizer: check.OptimizerSpec,
    epochs: int,
    loss_threshold: float | None = None,
    stop_when_converged: bool = False,
    check_every: int = CHECK_EVERY,
    measure: str = "eval",
    seed: int | None = None,
    batch_dim: int | Mapping[str, int] = 0,
    progress: ProgressSpec = None,
    kernel_every: int | None = None,
    kernel_probes: int = KERNEL_PROBES,
    input_distance: InputDistance = None,
    loss: str = THEORY_LOSS,
) -> PairTracking:
    """Train ``model`` on two points and record ``h``, ``y``, ``w`` and the loss.

    One optimiser step per epoch on the full batch of two points, with the
    loss convention ``loss`` (by default the project loss
    ``1/2 * mean_i ||y_i - yhat_i||^2``). Forward hooks measure
    ``h`` at the tracked layers inside the very forward pass that the step
    uses, so the model needs no changes. Epoch ``e`` is the state after ``e``
    steps: epoch 0 is the initial state and one extra forward (no step) after
    the last step records epoch ``epochs``.

    Parameters
    ----------
    model : nn.Module
        Any module mapping ``x`` to predictions of ``y``'s shape. It is
        trained in place, in the train/eval mode it is in (modules start in
        train mode, so dropout is active in the training steps).
    layers : str, nn.Module, sequence of those, "all" or None
        Submodule(s) whose output is the representation; see
        :func:`resolve_layers`. Each must run once per forward and return a
        tensor with the two points along dimension 0 (any trailing shape: it
        is flattened).
    x : array_like or Tensor, shape (2, ...)
        The two inputs: floats (cast to the model's device and dtype) or
        integer token ids (kept as int64 for an ``nn.Embedding``; give
        ``input_distance`` then).
    y : array_like or Tensor, shape (2, ...)
        Their targets, shaped like the model's output.
    optimizer : torch.optim.Optimizer or callable
        An optimiser over ``model.parameters()``, or a factory called with them
        (e.g. ``functools.partial(torch.optim.SGD, lr=0.005)``).
    epochs : int
        Number of optimisation steps (>= 1).
    loss_threshold : float, optional
        The run is ``"converged"`` if the loss at the last recorded epoch is at
        most this, ``"not_converged"`` otherwise. Without it a finite run is
        ``"completed"``.
    stop_when_converged : bool, default False
        Stop at the end of the first chunk whose last loss is <= the threshold,
        record the state reached, and leave later rows NaN. Needs
        ``loss_threshold``.
    check_every : int, default 256
        Epochs per chunk: the recorded values stay on the device for a chunk
        and are copied to the host and checked for NaN/inf at its end, so a
        divergent run stops at most this many steps after the first bad
        value. (Called ``chunk_size`` before 0.3.0.)
    measure : {"eval", "train"}, default "eval"
        Mode of the measurement. ``"eval"``, as the paper's code measures,
        records with the model in eval mode (dropout off, batch-norm running
        statistics): for a model whose forward depends on the mode (see
        :func:`forward_depends_on_mode`) from an extra no-grad forward before
        each step, for every other model from the training forward itself,
        which then computes the same values at no extra cost. ``"train"``
        always records from the training forward (dropout active).
    seed : int, optional
        Seeds torch's global generators (forked, so the caller's state is
        untouched) for the run: makes random layers such as dropout
        reproducible.

    batch_dim : int or mapping of str to int, default 0
        Dimension of a tracked layer's output that holds the two points: one
        for every layer or one per layer name, e.g. 1 for the output of
        ``nn.MultiheadAttention(batch_first=False)``.
    progress : bool or callable, optional
        True shows a tqdm bar of the epochs on a terminal (silent otherwise,
        e.g. in a log file); a callable is called as ``progress(done, epochs)``
        after each chunk of epochs.
    kernel_every : int, optional
        Also measure the effective rates from the network's tangent kernels,
        with no fit (docs/theory.md, "Rates from the tangent kernel"), at
        epochs ``0, k, 2k, ...`` and the last: ``kernel_eta_h``,
        ``kernel_eta_y``, the diagnostics ``kernel_cos`` and
        ``kernel_isotropy``, and the step rates ``step_eta_h``,
        ``step_eta_y``, at every tracked layer. 25
        (:data:`repdyn.track.KERNEL_EVERY`) cost 16 % of training on the
        paper's default network (benchmarks/bench_kernel_rates.py). Needs SGD, Adam or AdamW. The
        measurement runs in the ``measure`` mode on a copy of the random
        streams, so the training itself is unchanged (bit for bit).
    kernel_probes : int, default 4
        Random probes of the trace of the encoder kernel (the isotropy
        diagnostic); 0 skips it.
    input_distance : callable, float or None, optional
        The pair's squared input distance ``dx2``: None, the squared Euclidean
        distance of the two inputs (flattened); a number; or a function
        ``f(first, second)`` of the two inputs (each of shape ``(1, ...)``)
        returning it, such as :func:`one_hot_distance` for token ids or the
        squared distance of an embedding's outputs. Integer inputs need one.
    loss : {"half_sum", "half_mse", "mse"}, default "half_sum"
        The loss the steps minimise (:data:`repdyn.track.LOSSES`):
        :func:`loss_scale` times the project loss. The recorded loss, the
        thresholds and the kernel rates stay in the project loss's (the
        theory's) convention; the kernel rates include the factor, as the
        steps do.

    Returns
    -------
    PairTracking
        ``epochs + 1`` rows per variable. On divergence the first epoch with a
        NaN/inf value is kept as computed, later rows are NaN, and ``status`` is
        ``"diverged"`` with ``diverged_epoch`` set.

    Raises
    ------
    ValueError
        Bad ``epochs``/``check_every``/``loss_threshold``, ``x``/``y`` not a
        pair or containing NaN/inf, identical inputs, a layer name not in the
        model, or a model output whose shape differs from ``y``'s; with
        ``kernel_every``, an optimiser other than SGD, Adam or AdamW, or a
        layer without trainable parameters on both sides.
    """
    kernel_every, kernel_probes = check_kernel_options(kernel_every, kernel_probes)
    epochs = check.positive_int("epochs", epochs)
    check_every = check.positive_int("check_every", check_every)
    loss_threshold = check.threshold(loss_threshold, stop_when_converged)
    measure = check.measure_mode(measure)
    loss = check_loss(loss)
    device, names, dims, x, y = _pair_inputs(model, layers, x, y, batch_dim)
    scale = loss_scale(loss, y[0].numel())
    separate_measurement = measure == "eval" and forward_depends_on_mode(model)
    dx2, dy2 = _pair_dx2(input_distance, x), squared_distance(y)
    if dx2 == 0:
        raise ValueError(
            "x holds two identical inputs (dx2 = 0): their representations can never differ; "
            "track a pair of distinct inputs"
        )
    opt = check.optimizer(optimizer, model)
    meter: KernelMeter | None = None
    if kernel_every is not None:
        check_optimizer(opt)
        meter = KernelMeter(model, names, dims, opt, probes=kernel_probes,
                            seed=0 if seed is None else seed, device=device, loss_scale=scale)  # fmt: skip
        kernel_log = KernelLog(kernel_records(epochs + 1, kernel_every), (len(names), len(ALL_FIELDS)), device)

    with (
        LayerProbe(model, names, dims) as probe,
        meter if meter is not None else contextlib.nullcontext(),
        forked_rng(seed, device),
        Progress(progress, epochs, "track_pair") as report,
    ):
        rec = Recorder(probe, n_epochs=epochs, chunk_size=check_every, device=device)
        schedule = ChunkSchedule(
            rec.log,
            n_epochs=epochs,
            check_every=check_every,
            loss_threshold=loss_threshold,
            stop_when_converged=stop_when_converged,
            transfer=rec.transfer,
        )
        start = time.perf_counter()
        epoch, diverged = 0, False
        while True:
            due = meter is not None and (epoch % kernel_every == 0 or epoch == schedule.final)  # type: ignore[operator]
            if due and (epoch == schedule.final or separate_measurement):
                kernel_log.add(epoch, meter.measure(x, y, mode=measure, step=True))  # type: ignore[union-attr]
            if epoch == schedule.final:
                _measure(model, rec, x, y, epoch, mode=measure)
                break
            shared = due and not separate_measurement
            if separate_measurement:
                _measure(model, rec, x, y, epoch, mode="eval")
                pred = check.output(model(x), y)
            else:
                with meter.armed() if shared else contextlib.nullcontext([]) as captured:  # type: ignore[union-attr]
                    pred = check.output(rec.forward(model, x, epoch), y)
                rec.outputs(epoch, pred, y)
            opt.zero_grad(set_to_none=True)
            objective = scale * project_loss(pred, y)
            if shared:
                # The kernel shares the training forward and backward; the step is unchanged.
                layer_grads = meter.backward(objective, captured)  # type: ignore[union-attr]
                param_grads = [p.grad for p in meter.params]  # type: ignore[union-attr]
                kernel_log.add(epoch, meter.kernel(x, y, pred, captured, layer_grads, param_grads, step=True))  # type: ignore[union-attr]
            else:
                objective.backward()
            opt.step()
            diverged = schedule.after_step(epoch)
            report.update(rec.log.checked)  # the epochs done, at the end of each chunk
            if diverged:
                break
            epoch += 1
        schedule.finish()
        if not diverged:
            report.update(epoch)
        seconds = time.perf_counter() - start
    result = schedule.result(dx2=dx2, dy2=dy2, seconds=seconds)
    if meter is None:
        return result
    values = kernel_log.host(epochs + 1, stop=result.stop_epoch)
    return dataclasses.replace(
        result, kernel_every=kernel_every,
        **{name: np.ascontiguousarray(values[:, :, k]) for k, name in enumerate(ALL_FIELDS)},
    )  # fmt: skip


def _pair_inputs(
    model: nn.Module, layers: LayerSpec, x: Any, y: Any, batch_dim: int | Mapping[str, int]
) -> tuple[torch.device, tuple[str, ...], tuple[int, ...], torch.Tensor, torch.Tensor]:
    """The model's device, the tracked layers and their batch dimensions, and the pair on the device."""
    device, dtype = check.model_placement(model)
    names = resolve_layers(model, layers)
    dims = batch_dims(batch_dim, names)
    x = check.inputs("x", x, dtype=dtype, device=device)
    y = check.tensor("y", y, dtype=dtype, device=device)
    check.targets(x, y, n_points=2)
    return device, names, dims, x, y


def _pair_dx2(input_distance: InputDistance, x: torch.Tensor) -> float:
    """``dx2`` of the pair ``x`` (two rows)."""
    one, two = torch.zeros(1, dtype=torch.long, device=x.device), torch.ones(1, dtype=torch.long, device=x.device)
    return float(input_distances(input_distance, x, one, two, np.array([[0, 1]]))[0])


def _measure(
    model: nn.Module, rec: Recorder, x: torch.Tensor, y: torch.Tensor, epoch: int, *, mode: str
) -> None:
    """A no-grad forward of the pair that records epoch ``epoch``."""
    with torch.no_grad(), measuring_mode(model, mode):
        pred = check.output(rec.forward(model, x, epoch), y)
        rec.outputs(epoch, pred, y)


def measure_pair(
    model: nn.Module,
    layers: LayerSpec,
    x: Any,
    y: Any,
    *,
    measure: str = "eval",
    batch_dim: int | Mapping[str, int] = 0,
    input_distance: InputDistance = None,
) -> dict[str, np.ndarray]:
    """``(h, y, w)`` of a pair at the model's current weights, without training.

    Parameters
    ----------
    model, layers, x, y, batch_dim, input_distance
        As for :func:`track_pair`.
    measure : {"eval", "train"}, default "eval"
        Mode of the forward pass (``"train"`` leaves the model's mode as it is).

    Returns
    -------
    dict
        Layer name -> float64 array ``[h, y, w]`` (shape (3,)), in the order
        of the resolved layers. Useful for initial states, e.g. to predict the
        final distance of many pairs from one network.
    """
    measure = check.measure_mode(measure)
    device, names, dims, x, y = _pair_inputs(model, layers, x, y, batch_dim)
    with LayerProbe(model, names, dims) as probe:
        rec = Recorder(probe, n_epochs=0, chunk_size=1, device=device)
        _measure(model, rec, x, y, 0, mode=measure)
        diverged = rec.flush()
    record = rec.result(
        stop_epoch=0,
        diverged_epoch=diverged,
        loss_threshold=None,
        dx2=_pair_dx2(input_distance, x),
        dy2=squared_distance(y),
        seconds=0.0,
    )
    return {name: record.z(name)[0] for name in names}
