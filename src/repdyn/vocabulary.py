"""One vocabulary for what repdyn writes: long names and units of its variables, JSON-ready values.

Every netCDF file and xarray Dataset that repdyn writes (``trials.nc``,
``atlas.nc``, ``PairTracking.to_xarray()``, ``PairsTracking.to_xarray()``)
takes the ``long_name`` and ``units`` of its variables from :data:`VOCABULARY`
(through :func:`annotate`), and every JSON file its values from
:func:`json_ready`. This module sits below everything else (numpy only, as
:mod:`repdyn.checks`), so the theory, the trackers, the experiments and the
atlas all use it.

Units follow the CF conventions: ``"1"`` marks a dimensionless number (counts,
indices, seeds and 0/1 flags included); text variables carry no units. Two
units depend on the run: what one epoch is (a full-batch epoch is one
optimisation step, a minibatch epoch a pass over the data) and what time the
rates were fitted against; the writer names both (:data:`EPOCH_UNITS`,
:data:`RATE_UNITS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["EPOCH_UNITS", "RATE_UNITS", "VOCABULARY", "annotate", "attributes", "json_ready"]

#: What the epochs of a record count: ``"optimisation steps"`` (full batch: one
#: step per epoch) or ``"epochs"`` (passes over the data).
EPOCH_UNITS = ("optimisation steps", "epochs")
#: The unit of a fitted rate: per optimisation step (the theory's time) or per
#: epoch (a fit against epochs of minibatch training).
RATE_UNITS = ("1 / optimisation step", "1 / epoch")

_ONE = "1"
_RATE = "{rate}"
_EPOCHS = "{epoch}"
_SECONDS = "s"

#: ``long_name`` and units of every variable and coordinate repdyn writes.
#: Units ``"{rate}"`` and ``"{epoch}"`` stand for the run's rate and epoch
#: units (see :func:`attributes`); None: text, or a name with no unit.
VOCABULARY: dict[str, tuple[str, str | None]] = {
    # The theory's variables and the pair they belong to.
    "h": ("squared representational distance ||h(x_1) - h(x_2)||^2 at the tracked layer", _ONE),
    "y": ("squared output distance ||yhat(x_1) - yhat(x_2)||^2", _ONE),
    "w": ("alignment w = ||dyhat||^2 - dy . dyhat", _ONE),
    "loss": ("loss on the pair: 1/2 mean over its two points of ||y - yhat||^2", _ONE),
    "train_loss": ("mean minibatch loss of the epoch before the record (record 0: the whole data set)", _ONE),
    "m0": ("squared distance of the pair's mean prediction from its mean target at epoch 0", _ONE),
    "dx2": ("squared input distance ||x_1 - x_2||^2 of the pair", _ONE),
    "dy2": ("squared target distance ||y_1 - y_2||^2 of the pair", _ONE),
    "result_dx2": ("squared input distance of the pair (as measured)", _ONE),
    "result_dy2": ("squared target distance of the pair (as measured)", _ONE),
    "same": ("1 if the pair's two points share a target (or group), else 0", _ONE),
    "h0": ("measured initial squared representational distance (the no-change baseline)", _ONE),
    "y0": ("measured initial squared output distance", _ONE),
    "w0": ("measured initial alignment", _ONE),
    "h_final": ("measured squared representational distance at the last finite record", _ONE),
    "a_low": ("rich-limit baseline A_low of the final distance", _ONE),
    "h_layers": ("squared representational distance at every hidden layer", _ONE),
    # Records and their axes.
    "epoch": ("epoch of the record (training before it, in the units given)", _EPOCHS),
    "epochs": ("epoch of each record", _EPOCHS),
    "step": ("optimisation steps before the record (the theory's time, in which rates are fitted)",
             "optimisation steps"),
    "stop_epoch": ("last recorded epoch", _EPOCHS),
    "diverged_epoch": ("epoch the run diverged at (missing: never)", _EPOCHS),
    "converged_epoch": ("first epoch with loss below the threshold (missing: never)", _EPOCHS),
    "trial": ("index of the trial", _ONE),
    "seed": ("random seed of the initial weights", _ONE),
    "pair": ("index of the tracked pair", _ONE),
    "pair_i": ("data set index of the pair's first point", _ONE),
    "pair_j": ("data set index of the pair's second point", _ONE),
    "point": ("data set index of a tracked point", _ONE),
    "point_other": ("data set index of a tracked point", _ONE),
    "point_label": ("label of the tracked point", _ONE),
    "layer": ("tracked layer (submodule name)", None),
    "result_layer": ("tracked layer (submodule name)", None),
    "hidden_layer": ("index of the hidden layer", _ONE),
    "layer_names": ("names of the hidden layers", None),
    "variable": ("fitted variable (h, y, w)", None),
    # Fits of the theory.
    "eta_h": ("fitted effective learning rate eta_h", _RATE),
    "eta_y": ("fitted effective learning rate eta_y", _RATE),
    "eta_m": ("fitted effective learning rate eta_m of the mean", _RATE),
    "eta_h_layers": ("effective learning rate eta_h fitted per layer", _RATE),
    "eta_y_layers": ("effective learning rate eta_y fitted per layer", _RATE),
    "theory_h": ("fitted theory: squared representational distance", _ONE),
    "theory_y": ("fitted theory: squared output distance", _ONE),
    "theory_w": ("fitted theory: alignment w", _ONE),
    "theory_loss": ("fitted theory: training loss", _ONE),
    "r2_h": ("R^2 of the fitted theory for h", _ONE),
    "r2_y": ("R^2 of the fitted theory for y", _ONE),
    "r2_w": ("R^2 of the fitted theory for w", _ONE),
    "r2_loss": ("R^2 of the fitted theory for the loss", _ONE),
    "r2_worst": ("worst R^2 over h, y, w (fit quality)", _ONE),
    "r2_layers": ("R^2 of the fit per layer and variable", _ONE),
    "quality": ("verdict on the fit: good (every R^2 of h, y, w at least POOR_R2), poor, unfit (missing: not "
                "fitted)", None),
    "fit_success": ("1 if the fit's optimiser reported success, else 0", _ONE),
    "fit_message": ("the fit's message", None),
    "fit_state": ("fitted, or why the pair was not fitted at the layer", None),
    "fit_refined": ("1 if fitted again at the fit's automatic solver tolerance, 0 if only at the coarse one "
                    "(unfit there)", _ONE),
    "regime": ("regime of the fitted fixed point: rich, intermediate, lazy", None),
    "h_inf": ("final squared representational distance predicted by the pair's own fitted theory (in sample)",
              _ONE),
    "eta_ratio_cv": ("eta_h / eta_y: median over the other pairs' usable fits at the layer", _ONE),
    "h_inf_cv": ("final squared distance predicted with eta_ratio_cv (cross-validated by pair)", _ONE),
    # Rates measured from the tangent kernels, no fit (docs/theory.md).
    "kernel_eta_h": ("eta_h from the encoder's tangent kernel along v (no fit)", "1 / optimisation step"),
    "kernel_eta_y": ("eta_y from the decoder's tangent kernel along e (no fit)", "1 / optimisation step"),
    "kernel_cos": ("cosine between v (decoder pull-back of the error difference) and dh", _ONE),
    "kernel_isotropy": ("Rayleigh quotient of D_f along v over the mean eigenvalue of D_f", _ONE),
    "step_eta_h": ("eta_h matching the whole first-order step of dh along v (common mode included)",
                   "1 / optimisation step"),
    "step_eta_y": ("eta_y matching the whole first-order step of dyhat along e (common mode included)",
                   "1 / optimisation step"),
    # The theory run on the measured rates, no fit (a two-point trial's kernel_every).
    "zero_fit_h": ("zero-fit theory (measured kernel rates): squared representational distance", _ONE),
    "zero_fit_y": ("zero-fit theory (measured kernel rates): squared output distance", _ONE),
    "zero_fit_w": ("zero-fit theory (measured kernel rates): alignment w", _ONE),
    "r2_zero_h": ("R^2 of the zero-fit theory (measured kernel rates) for h", _ONE),
    "r2_zero_y": ("R^2 of the zero-fit theory (measured kernel rates) for y", _ONE),
    "r2_zero_w": ("R^2 of the zero-fit theory (measured kernel rates) for w", _ONE),
    "h_inf_kernel": ("final squared representational distance predicted from the initial state and the kernel "
                     "rates at epoch 0 (no fit)", _ONE),
    "r2_zero_worst": ("worst R^2 over h, y, w of the zero-fit theory (measured kernel rates)", _ONE),
    "zero_fit_median_r2_worst": ("median worst R^2 of the zero-fit theory (measured kernel rates, times 2 / N) "
                                 "over the fitted pairs", _ONE),
    "kernel_epoch": ("epoch of a kernel record", _EPOCHS),
    "zero_fit_message": ("why the zero-fit theory or h_inf_kernel is missing (empty: computed)", None),
    # The atlas's scores.
    "predictor": ("predictor of the final distance (h0_baseline: no change; kernel_init: kernel rates at the first "
                  "record, no fit)", None),
    "stratum": ("pairs scored: all, same target, different target", None),
    "structure": ("prediction of the final distance matrix (initial, inputs: baselines)", None),
    "final_spearman": ("Spearman correlation of predicted and measured final distances over pairs", _ONE),
    "final_pearson": ("Pearson correlation of predicted and measured final distances over pairs", _ONE),
    "final_median_rel_error": ("median of |predicted - measured| / measured final distance over pairs", _ONE),
    "final_n_scored": ("pairs scored (every predictor and the measurement finite, measurement > 0)", _ONE),
    "fit_pairs": ("pairs in the stratum", _ONE),
    "fit_fitted": ("pairs fitted (not masked)", _ONE),
    "fit_good": ("pairs whose fit is good (every R^2 of h, y, w at least POOR_R2)", _ONE),
    "fit_good_fraction": ("share of the stratum's pairs whose fit is good", _ONE),
    "fit_median_r2_worst": ("median worst R^2 of the fitted pairs", _ONE),
    "fit_median_r2": ("median R^2 of the fitted pairs per variable", _ONE),
    "rdm_spearman": ("Spearman correlation of the measured final squared distances of the tracked points with "
                     "the method's", _ONE),
    "rdm_pearson": ("Pearson correlation of the measured final squared distances of the tracked points with the "
                    "method's", _ONE),
    "structure_eta_h": ("median eta_h of the usable fits (the pairwise method's rates)", _RATE),
    "structure_eta_y": ("median eta_y of the usable fits (the pairwise method's rates)", _RATE),
    "rdm_final": ("measured final squared distance between tracked points", _ONE),
    # How a run went.
    "status": ("outcome of the run (converged, not converged, diverged, error, ...)", None),
    "error": ("error message of a trial that raised", None),
    "seconds": ("wall time of the training", _SECONDS),
    "final_loss": ("loss at the last recorded epoch", _ONE),
    "loss_threshold": ("loss at or below which a run counts as converged", _ONE),
    "loss_convention": ("loss the steps minimised: half_sum (the theory's 1/2 mean_i ||e_i||^2), half_mse "
                        "(0.5 * F.mse_loss), mse (nn.MSELoss())", None),
    "loss_scale": ("factor c of the trained loss over the theory's; under SGD, rate / c is the theory's rate", _ONE),
    # Settings of a two-point trial (its config's columns).
    "measure": ("measurement mode (eval: dropout off while measuring; train)", None),
    "in_dim": ("input dimension", _ONE),
    "out_dim": ("output dimension", _ONE),
    "all_layers": ("1 if every hidden layer was tracked and fitted, else 0", _ONE),
    "fit": ("1 if the theory was fitted, else 0", _ONE),
    "kernel_every": ("epochs between kernel records (missing: kernel rates not measured)", _EPOCHS),
    "stop_when_converged": ("1 if training stopped once converged, else 0", _ONE),
    "device": ("device the trial ran on", None),
    "arch": ("the model: an architecture (row of Table 1 or 2 of the paper), or the name of another model", None),
    "arch_kind": ("where the model comes from: architecture, cnn, file, callable", None),
    "arch_sha256": ("digest of the model's file or source (an edited model is another model)", None),
    "arch_spec": ("the architecture of the model source (missing: the model is not one)", _ONE),
    "arch_variant": ("architecture family", None),
    "arch_units": ("hidden width", _ONE),
    "arch_hidden_layers": ("number of hidden layers", _ONE),
    "arch_nonlinearity": ("nonlinearity", None),
    "arch_gain": ("gain of the initial weights", _ONE),
    "arch_lr": ("learning rate", _ONE),
    "arch_epochs": ("training epochs", _EPOCHS),
    "arch_optimizer": ("optimizer", None),
    "arch_dropout": ("dropout probability", _ONE),
    "arch_channels": ("channels of the convolutional layers", _ONE),
    "arch_kernel_size": ("kernel size of the convolutional layers", _ONE),
    "training": ("training of a model that is not an architecture (missing: an architecture trains as its "
                 "arch_optimizer, arch_lr, arch_epochs say)", _ONE),
    "training_optimizer": ("optimizer", None),
    "training_lr": ("learning rate", _ONE),
    "training_epochs": ("training epochs", _EPOCHS),
    "training_batch_size": ("minibatch size (full: full batch)", None),
    "training_loss": ("loss convention of the steps (half_sum, half_mse, mse)", None),
}


def attributes(name: str, *, rate_unit: str | None = None, epoch_unit: str = "epochs",
               text: bool = False) -> dict[str, str]:
    """``long_name`` and ``units`` of a variable of :data:`VOCABULARY`, as netCDF attributes.

    Parameters
    ----------
    name : str
        A name of :data:`VOCABULARY`.
    rate_unit : str, optional
        One of :data:`RATE_UNITS`; needed for a rate (``eta_h``, ...).
    epoch_unit : str, default "epochs"
        One of :data:`EPOCH_UNITS`: what the epochs of the records count.
    text : bool, default False
        The variable holds text: it gets no ``units``.

    Raises
    ------
    ValueError
        For a name not in the vocabulary, an unknown unit, or a rate without ``rate_unit``.
    """
    if name not in VOCABULARY:
        raise ValueError(f"{name!r} has no entry in repdyn.vocabulary.VOCABULARY; add its long name and units there")
    if rate_unit is not None and rate_unit not in RATE_UNITS:
        raise ValueError(f"rate_unit must be one of {RATE_UNITS}; got {rate_unit!r}")
    if epoch_unit not in EPOCH_UNITS:
        raise ValueError(f"epoch_unit must be one of {EPOCH_UNITS}; got {epoch_unit!r}")
    long_name, units = VOCABULARY[name]
    if units == _RATE and rate_unit is None:
        raise ValueError(f"{name} is a rate: give rate_unit, one of {RATE_UNITS}")
    if units is None or text:
        return {"long_name": long_name}
    return {"long_name": long_name, "units": units.format(rate=rate_unit, epoch=epoch_unit)}


def annotate(dataset: Any, *, rate_unit: str | None = None, epoch_unit: str = "epochs",
             extra: Mapping[str, tuple[str, str | None]] | None = None) -> Any:
    """Set ``long_name`` and ``units`` on every variable and coordinate of an xarray Dataset, in place.

    Parameters
    ----------
    dataset : xarray.Dataset
    rate_unit, epoch_unit
        As for :func:`attributes`.
    extra : mapping, optional
        ``long_name`` and units of names outside the vocabulary (a field of a
        user's own config); a name of the vocabulary may not be given again.

    Returns
    -------
    xarray.Dataset
        ``dataset`` itself.
    """
    extra = dict(extra or {})
    redefined = sorted(set(extra) & set(VOCABULARY))
    if redefined:
        raise ValueError(f"extra may not redefine names of the vocabulary: {redefined}")
    for name in dataset.variables:
        key = str(name)
        is_text = dataset[name].dtype.kind in "OUS"
        if key in extra:
            long_name, units = extra[key]
            attrs = {"long_name": long_name, **({"units": units} if units and not is_text else {})}
        else:
            attrs = attributes(key, rate_unit=rate_unit, epoch_unit=epoch_unit, text=is_text)
        dataset[name].attrs.update(attrs)
    return dataset


def json_ready(value: Any) -> Any:
    """A value JSON can hold: numpy scalars and arrays as Python, tuples as lists, NaN and inf as None.

    JSON has no NaN or infinity; a missing or undefined number is written as
    ``null``. Mapping keys become strings.
    """
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
