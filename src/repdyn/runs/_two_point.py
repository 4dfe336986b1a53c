"""The two-point trial: train one network on two points, track it, fit the theory.

:func:`two_point_trial` is a pure function of its :class:`TwoPointConfig`
(seeds included), so trials can be cached and run on any executor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repdyn.nets import ArchSpec, get_architecture, tracked_layer_index
from repdyn.sweep import trial

#: How a trial's tracked layers are measured (see :func:`repdyn.track.track_pair`).
MEASURE_MODES = ("eval", "train")


def resolve_layer(arch: ArchSpec, layer: int | str | None) -> str:
    """The submodule name of the layer a trial tracks.

    Parameters
    ----------
    arch : ArchSpec
        The trial's architecture (its depth bounds a layer number).
    layer : int, str or None
        ``None``: the reference layer, hidden layer ``L // 2`` counted from 0
        (:func:`repdyn.nets.tracked_layer_index`); an int ``n``: hidden layer
        ``n`` counted from 1 (``1 <= n <= L``); a str: a submodule name of the
        network (``"hidden.10"``, ``"output"``; checked when the network is built).
    """
    n_layers = arch.hidden_layers
    if layer is None:
        return f"hidden.{tracked_layer_index(n_layers)}"
    if isinstance(layer, bool) or not isinstance(layer, (int, str)):
        raise TypeError(f"layer must be None, a hidden layer number or a submodule name; got {layer!r}")
    if isinstance(layer, str) and layer.strip().isdigit():
        layer = int(layer)
    if isinstance(layer, int):
        if not 1 <= layer <= n_layers:
            raise ValueError(
                f"layer {layer} is not a hidden layer of {arch.name!r}, which has {n_layers}: "
                f"pass a number from 1 to {n_layers} (counted from 1), or a submodule name"
            )
        return f"hidden.{layer - 1}"
    name = layer.strip()
    if not name:
        raise ValueError("layer must not be empty: pass a hidden layer number or a submodule name")
    if name in {f"hidden.{k}" for k in range(n_layers)}:
        return name
    if name not in _submodule_names(arch):
        raise ValueError(
            f"layer {name!r} is not a submodule of {arch.name!r}: pass a hidden layer number from 1 to "
            f"{n_layers}, or a submodule name such as 'hidden.0', 'hidden.0.activation' or 'output'"
        )
    return name


def _submodule_names(arch: ArchSpec) -> list[str]:
    """Submodule names of ``arch``'s network, from a copy built on the meta device (no weights allocated)."""
    import torch

    from repdyn.nets import Network

    with torch.device("meta"):
        return [name for name, _ in Network(arch, 1, 1).named_modules()]

#: Default loss below which a two-point run counts as converged. With the
#: project loss, dy2 = 0.5 starts the target-difference term at about 1/16;
#: 1e-3 is 1.6 % of that, where h is within a few percent of its final value.
DEFAULT_LOSS_THRESHOLD = 1e-3


@dataclass(frozen=True)
class TwoPointConfig:
    """One two-point trial.

    Parameters
    ----------
    arch : ArchSpec
        Architecture and training settings (``lr``, ``epochs``, ``optimizer``).
    seed : int
        Seeds the initial weights (and dropout): same seed, same trajectory.
    dx2, dy2 : float
        Squared input and target distances of the two points.
    in_dim, out_dim : int
        Input and output dimensions (values spread so dx2, dy2 are unchanged).
    all_layers : bool
        Also track and fit every hidden layer, not only the middle one.
    loss_threshold : float
        Final loss at or below which the run is ``"converged"``.
    fit : bool
        Fit the theory's rates (and ``eta_m``) to the tracked layer. Trials
        that only need the initial and final state (the final-distance grid)
        skip the fit; their fitted fields are NaN.
    stop_when_converged : bool
        Stop training once the loss reaches ``loss_threshold`` (checked every
        256 epochs) instead of running every epoch of ``arch.epochs``.
    layer : int, str or None
        The tracked layer; stored as its submodule name (see
        :func:`resolve_layer`), so that it enters the cache key. None is the
        reference layer of the authors' code, hidden layer ``L // 2`` from 0.
    measure : {"eval", "train"}
        Measurement mode: ``"eval"`` as the paper's code (dropout off in the
        measurement, on in the steps); ``"train"`` measures the training forward.
    device : str
        ``"cpu"`` or ``"cuda"``.
    """

    arch: ArchSpec = field(default_factory=lambda: get_architecture("default"))
    seed: int = 0
    dx2: float = 1.0
    dy2: float = 0.5
    in_dim: int = 1
    out_dim: int = 1
    all_layers: bool = False
    loss_threshold: float = DEFAULT_LOSS_THRESHOLD
    fit: bool = True
    stop_when_converged: bool = False
    layer: int | str | None = None
    measure: str = "eval"
    device: str = "cpu"

    def __post_init__(self) -> None:
        if isinstance(self.arch, str):
            object.__setattr__(self, "arch", get_architecture(self.arch))
        if not isinstance(self.arch, ArchSpec):
            raise TypeError(f"arch must be an ArchSpec or a registered name; got {type(self.arch).__name__}")
        object.__setattr__(self, "layer", resolve_layer(self.arch, self.layer))
        if self.measure not in MEASURE_MODES:
            raise ValueError(f"measure must be one of {MEASURE_MODES}; got {self.measure!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an int >= 0; got {self.seed!r}")
        if not 0 < self.dx2 < math.inf or not 0 <= self.dy2 < math.inf:
            raise ValueError(f"dx2 must be finite and > 0, dy2 finite and >= 0; got dx2={self.dx2!r}, "
                             f"dy2={self.dy2!r}")
        if not self.loss_threshold > 0:
            raise ValueError(f"loss_threshold must be > 0; got {self.loss_threshold!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda'; got {self.device!r}")
        for name in ("all_layers", "fit", "stop_when_converged"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False; got {getattr(self, name)!r}")
        if self.all_layers and not self.fit:
            raise ValueError("all_layers=True fits every layer, so it needs fit=True; pass fit=True")
        hidden = {f"hidden.{k}" for k in range(self.arch.hidden_layers)}
        if self.all_layers and self.layer not in hidden:
            raise ValueError(
                f"all_layers=True tracks every hidden layer, and layer {self.layer!r} is not one of them; "
                "pass a hidden layer number or all_layers=False"
            )


@trial("two-point")
def two_point_trial(config: TwoPointConfig) -> dict[str, Any]:
    """Train, track and fit one two-point network; a flat dict of scalars and arrays.

    Arrays: ``epochs``, ``h`` (tracked layer), ``y``, ``w``, ``loss`` and the
    fitted theory's ``theory_h``, ``theory_y``, ``theory_w``, ``theory_loss``
    (NaN after a divergence). With ``all_layers``: ``h_layers`` (L, T) and the
    per-layer fits ``eta_h_layers``, ``eta_y_layers``, ``r2_layers`` (L, 3).
    Scalars: ``status``, ``seconds`` (training only), the fitted rates, ``r2_*``,
    the initial state ``h0``, ``y0``, ``w0``, ``m0``, measured ``h_final``,
    predicted ``h_inf`` and the rich limit ``a_low`` (a baseline that ignores
    the initial state; ``h0`` is the "no change" baseline), ``stop_epoch`` and ``converged_epoch`` (-1 if never).
    Without ``config.fit`` the fitted fields are NaN and the theory arrays absent.
    """
    from repdyn.data import two_point
    from repdyn.runs._train_pair import train_pair

    data = two_point(dx2=config.dx2, dy2=config.dy2, in_dim=config.in_dim, out_dim=config.out_dim)
    run, _ = train_pair(
        config.arch,
        data.x,
        data.y,
        seed=config.seed,
        layer=config.layer,
        measure=config.measure,
        all_layers=config.all_layers,
        loss_threshold=config.loss_threshold,
        stop_when_converged=config.stop_when_converged,
        device=config.device,
    )
    return trial_result(config, run)


def trial_result(config: TwoPointConfig, run: Any) -> dict[str, Any]:
    """The result of :func:`two_point_trial` from its training run: measurements and fits.

    Shared by the per-trial path and the batched one
    (:mod:`repdyn.runs._batched`), so both give the same fields.

    Parameters
    ----------
    config : TwoPointConfig
        The trial's config (``fit`` and ``all_layers`` choose the fits).
    run : repdyn.track.PairTracking
        The training run of ``config``, tracking ``config.layer``.
    """
    tracked = config.layer
    result: dict[str, Any] = {"layer": tracked, **run_fields(run, tracked, TWO_POINT_RUN_FIELDS)}
    if result["converged_epoch"] is None:
        result["converged_epoch"] = NEVER_CONVERGED
    z0 = run.z(tracked)[0]
    result.update(h0=z0[0], y0=z0[1], w0=z0[2], h_final=run.z(tracked)[run.last_finite_epoch, 0])
    if not config.fit:
        result.update({k: v for k, v in fit_tracked(None, tracked, with_loss=True).items()
                       if not k.startswith("theory_")})
        result["a_low"] = np.nan
        result["fit_message"] = "not fitted (config.fit is False)"
        return result
    result.update(fit_tracked(run, tracked, with_loss=True))
    result["a_low"] = rich_limit(result)
    if config.all_layers:
        fits = [fit_tracked(run, name, with_loss=False) for name in run.layers]
        result["layer_names"] = np.array(run.layers, dtype=np.str_)
        result["h_layers"] = run.h.T
        result["eta_h_layers"] = np.array([f["eta_h"] for f in fits])
        result["eta_y_layers"] = np.array([f["eta_y"] for f in fits])
        result["r2_layers"] = np.array([[f[f"r2_{v}"] for v in "hyw"] for f in fits])
    return result


#: The fields of a run's record (:meth:`repdyn.track.PairTracking.to_dict`) that
#: a two-point trial's record keeps, in the record's order.
TWO_POINT_RUN_FIELDS = (
    "status", "seconds", "final_loss", "diverged_epoch", "stop_epoch", "converged_epoch", "dx2", "dy2", "m0",
    "epochs", "h", "y", "w", "loss",
)
#: ``converged_epoch`` of a two-point record whose run never reached its
#: threshold (the run's record says None); trial files write it as missing.
NEVER_CONVERGED = -1


def run_fields(run: Any, layer: str, fields: Sequence[str]) -> dict[str, Any]:
    """``fields`` of the run's own record (:meth:`repdyn.track.PairTracking.to_dict`), in that order.

    ``h`` is the column of the tracked ``layer`` (the run's record holds every
    tracked layer's); every other field is the run's record's value.
    """
    tracking = run.to_dict()
    tracking["h"] = tracking["h"][:, run.layer_index(layer)]
    return {name: tracking[name] for name in fields}


def fit_fields(result: Any, *, with_loss: bool) -> dict[str, Any]:
    """A trial record's fitted scalars from the fit's own summary (:meth:`repdyn.theory.FitResult.to_dict`).

    The rates, ``h_inf``, ``r2_<variable>``, ``fit_success``, ``fit_message``
    and, ``with_loss``, ``eta_m``. The summary writes NaN (an undetermined
    ``eta_m``, the R^2 of a constant variable) as JSON's None; a record holds
    NaN, as for a trial that was not fitted.
    """
    summary = result.to_dict()
    out: dict[str, Any] = {name: _number(summary[name]) for name in ("eta_h", "eta_y", "h_inf")}
    out.update(fit_success=summary["success"], fit_message=summary["message"],
               **{f"r2_{k}": _number(v) for k, v in summary["r2"].items()})
    if with_loss:
        out["eta_m"] = _number(summary["eta_m"])
    return out


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def rich_limit(result: dict[str, Any]) -> float:
    """The rich limit ``A_low`` of a fitted trial (the baseline that ignores the initial state); NaN unfitted."""
    from repdyn.theory import final_distance

    eta_h, eta_y = float(result["eta_h"]), float(result["eta_y"])
    if not (np.isfinite(eta_h) and np.isfinite(eta_y) and result["h0"] > 0):
        return float("nan")
    fd = final_distance(result["h0"], max(result["y0"], 0.0), eta_h=eta_h, eta_y=eta_y,
                        dx2=result["dx2"], dy2=result["dy2"])
    return float(fd.a_low)


def fit_tracked(run: Any, layer: str, *, with_loss: bool) -> dict[str, Any]:
    """Fit the theory to one tracked layer of a run; flat fields, NaN when it cannot be fitted.

    ``run=None`` returns the all-NaN record (no theory arrays).
    """
    from repdyn.theory import fit

    n = 0 if run is None else len(run.epochs)
    out: dict[str, Any] = {
        "eta_h": np.nan, "eta_y": np.nan, "eta_m": np.nan, "h_inf": np.nan,
        "r2_h": np.nan, "r2_y": np.nan, "r2_w": np.nan, "r2_loss": np.nan,
        "fit_success": False, "fit_message": "",
        "theory_h": np.full(n, np.nan), "theory_y": np.full(n, np.nan),
        "theory_w": np.full(n, np.nan), "theory_loss": np.full(n, np.nan),
    }
    if run is None:
        return out
    try:
        inputs = run.theory_inputs(layer)
        if not with_loss:
            inputs.pop("loss")
        result = fit(**inputs)
    except ValueError as exc:  # e.g. a run diverged before 3 finite epochs: nothing to fit
        out["fit_message"] = str(exc)
        return out
    stop = len(inputs["t"])
    out.update(fit_fields(result, with_loss=with_loss))
    for i, v in enumerate("hyw"):
        out[f"theory_{v}"][:stop] = result.predicted[:, i]
    if with_loss:
        out["theory_loss"][:stop] = result.predicted_loss
    return out
