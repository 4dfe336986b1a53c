"""The two-point trial: train one network on two points, track it, fit the theory.

:func:`two_point_trial` is a pure function of its :class:`TwoPointConfig`
(seeds included), so trials can be cached and run on any executor.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repdyn import checks
from repdyn.nets import ArchSpec, get_architecture, tracked_layer_index
from repdyn.runs._execution import check_device
from repdyn.runs._model import ModelSource, model_source
from repdyn.runs._training import FULL_BATCH, Training
from repdyn.sweep import KEY_OMITS_DEFAULT, trial
from repdyn.track import KERNEL_FIELDS, MEASURE_MODES, STEP_FIELDS


def resolve_layer(arch: ArchSpec | ModelSource, layer: int | str | None, *, in_dim: int = 1,
                  out_dim: int = 1) -> str:
    """The submodule name of the layer a trial tracks.

    Parameters
    ----------
    arch : ArchSpec or ModelSource
        The trial's model (a network's depth bounds a layer number).
    layer : int, str or None
        ``None``: the reference layer: for the paper's networks hidden layer
        ``L // 2`` counted from 0 (:func:`repdyn.nets.tracked_layer_index`),
        for another model its ``tracked_layer``; an int ``n``: hidden layer
        ``n`` counted from 1 (``1 <= n <= L``; another model must declare
        ``hidden_layer_names``); a str: a submodule name of the network
        (``"hidden.10"``, ``"output"``, ``"blocks.1[0]"``).
    in_dim, out_dim : int
        The inputs and outputs another model is built for, to read its layers.

    Raises
    ------
    repdyn.checks.BadArgument
        (``parameter="layer"``) no such layer; the message lists what there is.
    """
    if isinstance(layer, bool) or not isinstance(layer, (int, str, type(None))):
        raise checks.ArgumentTypeError(
            "layer", f"layer must be None, a hidden layer number or a submodule name; got {checks.describe(layer)}")
    if isinstance(layer, str) and layer.strip().isdigit():
        layer = int(layer)
    if isinstance(layer, str) and not layer.strip():
        raise checks.ArgumentValueError(
            "layer", "layer must not be empty: pass a hidden layer number or a submodule name")
    if isinstance(arch, ModelSource):
        return _model_layer(arch, layer, in_dim, out_dim)
    n_layers = arch.hidden_layers
    if layer is None:
        return f"hidden.{tracked_layer_index(n_layers)}"
    if isinstance(layer, int):
        checks.integer("layer", layer, minimum=1, maximum=n_layers,
                       fix=f"{arch.name!r} has {n_layers} hidden layers, counted from 1; or pass a submodule name")
        return f"hidden.{layer - 1}"
    name = layer.strip()
    if name in {f"hidden.{k}" for k in range(n_layers)}:
        return name
    if name not in _submodule_names(arch):
        raise checks.ArgumentValueError(
            "layer", f"layer {name!r} is not a submodule of {arch.name!r}: pass a hidden layer number from 1 to "
            f"{n_layers}, or a submodule name such as 'hidden.0', 'hidden.0.activation' or 'output'")
    return name


def _model_layer(source: ModelSource, layer: int | str | None, in_dim: int, out_dim: int) -> str:
    """A layer of a model that is not one of the paper's networks, checked on a probe instance."""
    from repdyn.track import resolve_layers

    model = source.probe((in_dim,), out_dim)
    declared = tuple(getattr(model, "hidden_layer_names", ()) or ())
    if isinstance(layer, int):
        if not declared:
            raise checks.ArgumentValueError(
                "layer", f"{source.label} declares no hidden_layer_names, so a layer number means nothing; "
                "pass a submodule name")
        checks.integer("layer", layer, minimum=1, maximum=len(declared),
                       fix=f"{source.label} declares {len(declared)} hidden layers, counted from 1")
        return declared[layer - 1]
    try:
        [name] = resolve_layers(model, None if layer is None else layer.strip())
    except ValueError as exc:
        raise checks.ArgumentValueError("layer", f"layer: {exc}") from None
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
#: Epochs of a two-point run of a model without a default of its own: Table 1's.
DEFAULT_EPOCHS = ArchSpec().epochs


@dataclass(frozen=True)
class TwoPointConfig:
    """One two-point trial.

    Parameters
    ----------
    arch : ArchSpec, str, callable or ModelSource
        The model (any model source, see :func:`repdyn.runs.model_source`): a
        registered architecture (name or :class:`~repdyn.nets.ArchSpec`, whose
        ``lr``, ``epochs`` and ``optimizer`` are its training), ``"cnn"``,
        ``"FILE.py:FACTORY"`` or a callable. Stored as the architecture's
        ArchSpec with the training applied, or as the :class:`ModelSource`.
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
        256 epochs) instead of running every epoch.
    layer : int, str or None
        The tracked layer; stored as its submodule name (see
        :func:`resolve_layer`), so that it enters the cache key. None is the
        reference layer of the authors' code, hidden layer ``L // 2`` from 0.
    measure : {"eval", "train"}
        Measurement mode: ``"eval"`` as the paper's code (dropout off in the
        measurement, on in the steps); ``"train"`` measures the training forward.
    device : str
        ``"cpu"`` or ``"cuda"``.
    training : Training, optional
        Optimiser, learning rate and epochs (:class:`repdyn.runs.Training`;
        full batch: the two points). Unset fields take the model's defaults by
        the one rule of :meth:`Training.resolve` (Adam without a rate: the
        architecture's documented Adam rate). For an architecture the result
        is written into ``arch`` and ``training`` is None; another model keeps
        it here (a model without a default rate needs ``lr``).
    kernel_every : int, optional
        Also measure the effective rates from the network's tangent kernels
        every ``kernel_every`` epochs (:func:`repdyn.track.track_pair`; the
        paper's value is :data:`repdyn.track.KERNEL_EVERY`, 25), and run the
        theory with them and no fit (:func:`kernel_trial_fields`). The
        training is the same run; it takes the autograd path, which alone
        measures kernels. None (default): not measured, and left out of the
        cache key, so trials without it keep their stored results.
    loss_convention : {"half_sum", "half_mse", "mse"}, optional
        The loss reduction of the steps (:class:`repdyn.runs.Training`'s
        ``loss``; either may give it). Default: the authors' two-point
        convention, ``"half_mse"`` (``0.5 * F.mse_loss``). Stored resolved,
        so that it enters the cache key. (Not ``loss``: that is the loss
        curve of a trial's record.)
    """

    arch: ArchSpec | ModelSource = field(default_factory=lambda: get_architecture("default"))
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
    training: Training | None = None
    kernel_every: int | None = field(default=None, metadata={KEY_OMITS_DEFAULT: True})
    loss_convention: str | None = None

    def __post_init__(self) -> None:
        source = model_source(self.arch)
        if self.training is not None and not isinstance(self.training, Training):
            raise checks.ArgumentTypeError(
                "training", f"training must be a repdyn.runs.Training; got {checks.describe(self.training)}")
        training = with_loss(self.training or Training(), self.loss_convention).resolve(
            source, default_epochs=DEFAULT_EPOCHS, data="two-point")
        object.__setattr__(self, "loss_convention", training.loss)
        if not training.full_batch:
            raise checks.ArgumentValueError(
                "batch_size", "a two-point trial trains full batch on its two points; leave batch_size out")
        if source.kind == "architecture":
            spec = source.spec
            wanted = {"optimizer": training.optimizer, "lr": training.lr, "epochs": training.epochs}
            if any(getattr(spec, k) != v for k, v in wanted.items()):
                spec = spec.replace(**wanted)
            object.__setattr__(self, "arch", spec)
            object.__setattr__(self, "training", None)
        else:
            object.__setattr__(self, "arch", source)
            object.__setattr__(self, "training", training)
        checks.seed("seed", self.seed)
        # The two points and their distances live in float32, the network's type: a squared distance that
        # float32 holds only as inf, or as a subnormal that rounds the points onto each other, is refused.
        fix = "The two points are float32, the network's type; rescale the problem"
        checks.real("dx2", self.dx2, at_least=FLOAT32_NORMAL[0], at_most=FLOAT32_NORMAL[1], fix=fix)
        checks.real("dy2", self.dy2, at_least=0, at_most=FLOAT32_NORMAL[1], fix=fix)
        if 0 < self.dy2 < FLOAT32_NORMAL[0]:
            checks.real("dy2", self.dy2, at_least=FLOAT32_NORMAL[0], fix="It may also be 0. " + fix)
        checks.integer("in_dim", self.in_dim, minimum=1)
        checks.integer("out_dim", self.out_dim, minimum=1)
        checks.real("loss_threshold", self.loss_threshold, above=0)
        checks.choice("measure", self.measure, MEASURE_MODES)
        check_device("device", self.device, here=False)
        checks.integer("kernel_every", self.kernel_every, minimum=1, allow_none=True,
                       fix="pass None (no kernel rates) or the epochs between kernel records, such as 25")
        for name in ("all_layers", "fit", "stop_when_converged"):
            checks.flag(name, getattr(self, name))
        object.__setattr__(self, "layer", resolve_layer(self.arch, self.layer, in_dim=self.in_dim,
                                                        out_dim=self.out_dim))
        if self.all_layers and not self.fit:
            raise checks.ArgumentValueError(
                "all_layers", "all_layers=True fits every layer, so it needs fit=True; pass fit=True")
        if self.all_layers and self.layer not in self.hidden_layers:
            raise checks.ArgumentValueError(
                "all_layers", f"all_layers=True tracks every hidden layer, and layer {self.layer!r} is not one of "
                "them; pass a hidden layer number or all_layers=False")

    @property
    def model(self) -> ModelSource:
        """The model as a :class:`ModelSource` (an architecture's carries its ArchSpec)."""
        return self.arch if isinstance(self.arch, ModelSource) else model_source(self.arch)

    @property
    def name(self) -> str:
        """The model's name in tables: the architecture's name, or the source's label."""
        return self.arch.name if isinstance(self.arch, ArchSpec) else self.arch.label

    @property
    def trained_with(self) -> Training:
        """The resolved training: the architecture's settings, or :attr:`training`."""
        if isinstance(self.arch, ArchSpec):
            return Training(optimizer=self.arch.optimizer, lr=self.arch.lr, epochs=self.arch.epochs,
                            batch_size=FULL_BATCH, loss=self.loss_convention)
        assert self.training is not None
        return self.training

    @property
    def hidden_layers(self) -> tuple[str, ...]:
        """The hidden layers ``all_layers`` tracks: ``hidden.0 ...`` or the model's ``hidden_layer_names``."""
        if isinstance(self.arch, ArchSpec):
            return tuple(f"hidden.{k}" for k in range(self.arch.hidden_layers))
        model = self.arch.probe((self.in_dim,), self.out_dim)
        return tuple(getattr(model, "hidden_layer_names", ()) or ())


#: The squared distances ``dx2`` and ``dy2`` a two-point trial takes: the normal
#: float32 numbers (``dy2`` may be 0 as well).
FLOAT32_NORMAL = (float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max))


def with_loss(training: Training, loss: str | None) -> Training:
    """``training`` with a config's own ``loss_convention`` in it; the two may not disagree."""
    if loss is None:
        return training
    from repdyn.track import check_loss

    merged = check_loss(loss, name="loss_convention")
    if training.loss is not None and training.loss != merged:
        raise checks.ArgumentValueError(
            "loss_convention", f"loss_convention={merged!r} differs from training.loss={training.loss!r}; "
            "give the loss once")
    return dataclasses.replace(training, loss=merged)


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
        training=config.training,
        seed=config.seed,
        layer=config.layer,
        measure=config.measure,
        all_layers=config.all_layers,
        loss_threshold=config.loss_threshold,
        stop_when_converged=config.stop_when_converged,
        device=config.device,
        kernel_every=config.kernel_every,
        loss=config.loss_convention,
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
    result: dict[str, Any] = {"layer": tracked, "loss_scale": loss_factor(config.loss_convention, config.out_dim),
                              **run_fields(run, tracked, TWO_POINT_RUN_FIELDS)}
    if result["converged_epoch"] is None:
        result["converged_epoch"] = NEVER_CONVERGED
    z0 = run.z(tracked)[0]
    result.update(h0=z0[0], y0=z0[1], w0=z0[2], h_final=run.z(tracked)[run.last_finite_epoch, 0])
    if config.kernel_every is not None:
        result.update(kernel_trial_fields(run, tracked))
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


#: The measured kernel quantities a two-point record keeps, per epoch of the
#: tracked layer (NaN between kernel records).
KERNEL_TRIAL_FIELDS = KERNEL_FIELDS + STEP_FIELDS
#: The zero-fit theory's fields of a two-point record with kernel rates.
ZERO_FIT_FIELDS = ("zero_fit_h", "zero_fit_y", "zero_fit_w", "r2_zero_h", "r2_zero_y", "r2_zero_w",
                   "h_inf_kernel", "zero_fit_message")


def kernel_trial_fields(run: Any, layer: str) -> dict[str, Any]:
    """The kernel rates of ``layer`` and the theory run on them with no fit: a two-point record's fields.

    :data:`KERNEL_TRIAL_FIELDS` over every epoch (NaN between kernel records);
    the zero-fit trajectory ``zero_fit_h``, ``zero_fit_y``, ``zero_fit_w``
    (:func:`repdyn.theory.solve_varying` on
    :meth:`~repdyn.track.PairTracking.zero_fit_inputs`, NaN after the last
    finite record), its ``r2_zero_<variable>`` scored as the fit scores its own
    (:func:`repdyn.theory.trajectory_r2`), and ``h_inf_kernel``, the final
    distance from the initial state and the rates at epoch 0 alone
    (:func:`repdyn.theory.final_distance`). What cannot be computed (no
    usable rate, a solver failure) is NaN, with the reason in
    ``zero_fit_message``.
    """
    from repdyn.theory import SolverError, final_distance, solve_varying, trajectory_r2

    column = run.layer_index(layer)
    n = len(run.epochs)
    out: dict[str, Any] = {name: np.asarray(getattr(run, name)[:, column], dtype=np.float64)
                           for name in KERNEL_TRIAL_FIELDS}
    out.update({f"zero_fit_{v}": np.full(n, np.nan) for v in "hyw"})
    out.update({f"r2_zero_{v}": np.nan for v in "hyw"}, h_inf_kernel=np.nan, zero_fit_message="")
    try:
        inputs = run.zero_fit_inputs(layer)
        predicted = solve_varying(**inputs)
    except (ValueError, SolverError) as exc:
        out["zero_fit_message"] = str(exc)
        return out
    stop = len(inputs["t"])
    for i, v in enumerate("hyw"):
        out[f"zero_fit_{v}"][:stop] = predicted[:, i]
    observed = run.z(layer)[:stop]
    out.update({f"r2_zero_{v}": value for v, value in trajectory_r2(observed, predicted).items()})
    eta_h0, eta_y0 = out["kernel_eta_h"][0], out["kernel_eta_y"][0]
    h0, y0 = observed[0, 0], observed[0, 1]
    if np.isfinite(eta_h0) and np.isfinite(eta_y0) and eta_h0 > 0 and eta_y0 > 0 and h0 > 0:
        fd = final_distance(h0, max(y0, 0.0), eta_h=eta_h0, eta_y=eta_y0, dx2=run.dx2, dy2=run.dy2)
        out["h_inf_kernel"] = float(fd.h_inf)
    else:
        out["zero_fit_message"] = "no finite positive kernel rates at epoch 0: h_inf_kernel is NaN"
    return out


def loss_factor(loss: str, n_outputs: int) -> float:
    """A record's ``loss_scale``: the factor ``c`` of its trained loss over the theory's.

    The record's config names the convention (``loss_convention``); ``c``
    (:func:`repdyn.track.loss_scale`) says how to read its rates: they are per
    epoch of the run as trained, and under SGD, divided by ``c``, the rates of
    the run trained on the theory's loss at the same learning rate
    (docs/theory.md, "Loss conventions").
    """
    from repdyn.track import loss_scale

    return loss_scale(loss, n_outputs)


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
