"""Where the theory holds: fits of every (pair, layer), cross-validated predictions, structure.

Numpy and :mod:`repdyn.theory` / :mod:`repdyn.rsa` only (no torch): it reads a
training result (arrays) and returns arrays.

- Every fittable (pair, layer) trajectory is fitted in one batched
  :func:`repdyn.theory.fit` call at the coarse solver tolerance
  :data:`COARSE_RTOL`, and those whose verdict could depend on the tolerance
  (every fit not missed by more than the data's spread) again, in one more
  batched call, at the fit's own automatic tolerance. A trajectory that
  cannot be fitted is masked with its reason (``FIT_STATES``) instead of
  stopping the batch.
- The final distance of each pair is predicted by the theory's fixed point
  ``h_inf`` from the pair's measured initial state, with the rate ratio
  ``eta_h / eta_y`` (the only rate the fixed point depends on) taken as the
  median over the *other* pairs at that layer (leave one pair out), and, for
  comparison, from the pair's own fit (in sample) and by the "no change"
  baseline ``h0``.
- The measured final squared distances of all tracked points at a layer are
  compared (RDM correlations) with the pairwise theory from the initial state,
  the exponential weighing and the N-point extension, beside the initial
  distances and the input distances.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Why a (pair, layer) has or has no fit. ``fitted``: in the batched fit;
#: the others are masked: fewer than 3 finite records (the fit needs 3),
#: identical inputs (``dx2 = 0``: the theory's ``h`` cannot move), identical
#: initial representations (``h0 = 0``: the fit starts from ``h0 > 0``).
FITTED, FEW_RECORDS, SAME_INPUT, ZERO_H0 = "fitted", "fewer than 3 finite records", "dx2 = 0", "h0 = 0"
FIT_STATES = (FITTED, FEW_RECORDS, SAME_INPUT, ZERO_H0)
#: Solver tolerance of the first pass over every trajectory. The fit's own
#: tolerance goes down to 1e-12 where a variable barely moves, and a theory
#: that cannot follow the data (a same-target pair whose ``h`` grows: the
#: theory only lets it shrink) drives the optimiser to very stiff rates, where
#: one solve at that tolerance took seconds (a CNN pair: 210 s for one fit at
#: the automatic tolerance, 0.05 s at 1e-6, the same R^2 of -19). At 1e-6 the
#: solver's error stays near 1e-5 of each variable's magnitude, so a fit whose
#: R^2 is below 0 (a miss larger than the data's own spread) is unfit at any
#: tighter tolerance too; only those are not fitted again.
COARSE_RTOL = 1e-6
#: The predictors of each pair's final distance, and the baseline.
PREDICTORS = ("cross_validated", "own_fit", "h0_baseline")
#: The zero-fit predictor of a pair's final distance, beside :data:`PREDICTORS`
#: in a run with kernel rates (``kernel_every``): ``h_inf`` from the pair's
#: initial state and its rates measured from the tangent kernels at the first
#: record, no fit.
KERNEL_PREDICTOR = "kernel_init"
#: The fitted variables, in the order of every R^2 axis.
VARIABLES = ("h", "y", "w")
#: Pairs every summary is given for.
STRATA = ("all", "same", "different")
#: Predictions of the tracked points' final distance matrix, then the two
#: baselines (initial distances at the layer, input distances).
STRUCTURE_METHODS = ("pairwise", "exp_weighing", "npoint", "initial", "inputs")
#: The exponential weighing as ``repdyn predict`` makes it by default (the
#: variant chosen by measurement in docs/structure.md): row-normalised
#: weights, ``tau`` the default quantile, centred into distances.
EXP_WEIGHING = {"normalise": True, "distances": "centred"}


def finite_records(training: Mapping[str, Any]) -> int:
    """Records at the start of the run at which every tracked value is finite."""
    h, y, w = (np.asarray(training[k]) for k in ("h", "y", "w"))
    ok = np.isfinite(h).all(axis=(0, 1)) & np.isfinite(y).all(axis=0) & np.isfinite(w).all(axis=0)
    return int(np.argmin(ok)) if not ok.all() else len(ok)


def optimisation_steps(training: Mapping[str, Any]) -> np.ndarray:
    """The records' times in optimisation steps (the theory's time): epochs times the steps per epoch.

    With minibatches each epoch is several gradient steps; fitted on steps,
    ``eta_h`` and ``eta_y`` are rates per optimisation step, as the theory's
    are, whatever the batch size.
    """
    return np.asarray(training["epochs"], dtype=np.float64) * float(training.get("steps_per_epoch", 1))


#: Trajectories per batched call of the fit: the unit of the analysis's progress bar.
FIT_CHUNK = 64


class _FitProgress:
    """A bar of the trajectories fitted (a terminal only; silent in a log or a worker)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar = None
        if enabled:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc="atlas: fitting (pair, layer)", unit="fit", disable=None, leave=False)

    def __enter__(self) -> _FitProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def add(self, more: int) -> None:
        """``more`` trajectories join the work (the fine pass)."""
        if self._bar is not None and more:
            self._bar.total += more
            self._bar.refresh()

    def update(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(done)


def _fit_in_chunks(fit: Any, report: _FitProgress, *, observed: np.ndarray, dx2: np.ndarray, dy2: np.ndarray,
                   **options: Any) -> Any:
    """One batched fit, called :data:`FIT_CHUNK` trajectories at a time (each fit is independent of the
    others in a batch, so the result is the same), with the bar moved after each chunk."""
    from types import SimpleNamespace

    parts = []
    for start in range(0, len(observed), FIT_CHUNK):
        stop = start + FIT_CHUNK
        parts.append(fit(observed=observed[start:stop], dx2=dx2[start:stop], dy2=dy2[start:stop], **options))
        report.update(len(observed[start:stop]))
    if len(parts) == 1:
        return parts[0]
    joined = {name: np.concatenate([np.atleast_1d(getattr(p, name)) for p in parts])
              for name in ("eta_h", "eta_y", "h_inf", "quality", "success")}
    joined["r2"] = {v: np.concatenate([np.atleast_1d(p.r2[v]) for p in parts]) for v in VARIABLES}
    return SimpleNamespace(**joined)


def fit_all(training: Mapping[str, Any], *, objective: str = "scaled", progress: bool = False) -> dict[str, np.ndarray]:
    """Fit every fittable (pair, layer) in batched calls; masked ones keep NaN and their reason.

    Times are optimisation steps (:func:`optimisation_steps`), so the rates
    are per optimisation step. ``progress`` shows a bar of the fits on a terminal.

    Returns arrays of shape (K, L): ``fit_state``, ``eta_h``, ``eta_y``,
    ``r2_h``, ``r2_y``, ``r2_w``, ``r2_worst`` (the lowest finite of the three),
    ``quality``, ``fit_success``, ``fit_refined`` (fitted again at the fit's
    automatic tolerance), ``h_inf`` (own fit), ``h0``, ``y0``,
    ``h_final`` (the last finite record) and ``regime`` (rich / intermediate /
    lazy by the own fit's fixed point).
    """
    from repdyn.theory import fit, final_distance

    h, y, w = (np.asarray(training[k], dtype=np.float64) for k in ("h", "y", "w"))
    dx2, dy2 = np.asarray(training["dx2"], np.float64), np.asarray(training["dy2"], np.float64)
    n_pairs, n_layers, _ = h.shape
    t_count = finite_records(training)
    state = np.full((n_pairs, n_layers), FITTED, dtype=object)
    h0 = h[:, :, 0]
    state[h0 <= 0] = ZERO_H0
    state[np.broadcast_to(dx2[:, None] <= 0, state.shape)] = SAME_INPUT
    if t_count < 3:
        state[:] = FEW_RECORDS
    last = max(t_count - 1, 0)
    out = {name: np.full((n_pairs, n_layers), np.nan) for name in
           ("eta_h", "eta_y", "r2_h", "r2_y", "r2_w", "r2_worst", "h_inf")}  # fmt: skip
    out["quality"] = np.full((n_pairs, n_layers), "masked", dtype=object)
    out["fit_success"] = np.zeros((n_pairs, n_layers), dtype=bool)
    out["fit_refined"] = np.zeros((n_pairs, n_layers), dtype=bool)
    out["regime"] = np.full((n_pairs, n_layers), "", dtype=object)
    k_idx, l_idx = np.nonzero(state == FITTED)
    if len(k_idx):
        t = optimisation_steps(training)[:t_count]
        observed = np.stack([h[k_idx, l_idx, :t_count], y[k_idx, :t_count], w[k_idx, :t_count]], axis=-1)
        batch = {"t": t, "objective": objective}
        with _FitProgress(len(k_idx), progress) as report:
            coarse = _fit_in_chunks(fit, report, observed=observed, dx2=dx2[k_idx], dy2=dy2[k_idx],
                                    rtol=COARSE_RTOL, **batch)  # fmt: skip
            _store_fits(out, coarse, k_idx, l_idx)
            refine = _worth_refining(coarse)
            report.add(int(refine.sum()))
            if refine.any():
                fine = _fit_in_chunks(fit, report, observed=observed[refine], dx2=dx2[k_idx[refine]],
                                      dy2=dy2[k_idx[refine]], **batch)  # fmt: skip
                _store_fits(out, fine, k_idx[refine], l_idx[refine])
        out["fit_refined"][k_idx[refine], l_idx[refine]] = True
        r2 = np.stack([out[f"r2_{v}"][k_idx, l_idx] for v in VARIABLES])
        with np.errstate(all="ignore"):
            out["r2_worst"][k_idx, l_idx] = np.where(np.isfinite(r2).any(0), np.nanmin(
                np.where(np.isfinite(r2), r2, np.inf), axis=0), np.nan)
        good_rates = np.isfinite(out["eta_h"][k_idx, l_idx])
        kk, ll = k_idx[good_rates], l_idx[good_rates]
        out["regime"][kk, ll] = final_distance(
            h0[kk, ll], y[kk, 0], eta_h=out["eta_h"][kk, ll], eta_y=out["eta_y"][kk, ll],
            dx2=dx2[kk], dy2=dy2[kk]).regime  # fmt: skip
    out.update(
        fit_state=state,
        h0=h0.copy(),
        y0=np.broadcast_to(y[:, :1], (n_pairs, n_layers)).copy(),
        h_final=h[:, :, last].copy(),
    )
    return out


def _worth_refining(result: Any) -> np.ndarray:
    """Coarse fits to repeat at the fit's own tolerance: all but those unfit by a finite R^2 below 0."""
    r2 = np.stack([np.atleast_1d(result.r2[v]) for v in VARIABLES])
    with np.errstate(invalid="ignore"):
        missed = (np.isfinite(r2) & (r2 < 0)).any(axis=0)
    return ~missed


def _store_fits(out: dict[str, np.ndarray], result: Any, k_idx: np.ndarray, l_idx: np.ndarray) -> None:
    values = {"eta_h": result.eta_h, "eta_y": result.eta_y, "h_inf": result.h_inf,
              **{f"r2_{v}": result.r2[v] for v in VARIABLES}}  # fmt: skip
    for name, value in values.items():
        out[name][k_idx, l_idx] = np.atleast_1d(value)
    out["quality"][k_idx, l_idx] = np.atleast_1d(result.quality)
    out["fit_success"][k_idx, l_idx] = np.atleast_1d(result.success)


def usable(fits: Mapping[str, np.ndarray]) -> np.ndarray:
    """(pair, layer) whose rates may stand for the layer: fitted, optimiser converged, not unfit."""
    return (fits["fit_state"] == FITTED) & fits["fit_success"] & (fits["quality"] != "unfit") & np.isfinite(
        fits["eta_h"]) & np.isfinite(fits["eta_y"])


def cross_validated(fits: Mapping[str, np.ndarray], dx2: np.ndarray, dy2: np.ndarray) -> dict[str, np.ndarray]:
    """``h_inf`` of each pair from the median rate ratio of the *other* usable pairs at its layer.

    Returns ``eta_ratio_cv`` and ``h_inf_cv``, shape (K, L); NaN where fewer
    than two other usable pairs exist or the pair's own initial state cannot
    start the theory (``h0 = 0`` or ``dx2 = 0``).
    """
    from repdyn.theory import final_distance

    ok = usable(fits)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(fits["eta_h"] / fits["eta_y"])
    n_pairs, n_layers = ok.shape
    ratio = np.full((n_pairs, n_layers), np.nan)
    for layer in range(n_layers):
        members = np.flatnonzero(ok[:, layer])
        ratio[:, layer] = np.exp(leave_one_out_medians(log_ratio[members, layer], members, n_pairs))
    startable = np.isfinite(ratio) & (fits["h0"] > 0) & (dx2[:, None] > 0)
    h_inf = np.full((n_pairs, n_layers), np.nan)
    kk, ll = np.nonzero(startable)
    h_inf[kk, ll] = final_distance(
        fits["h0"][kk, ll], fits["y0"][kk, ll], eta_h=ratio[kk, ll], eta_y=1.0, dx2=dx2[kk], dy2=dy2[kk]
    ).h_inf
    return {"eta_ratio_cv": ratio, "h_inf_cv": h_inf}


def leave_one_out_medians(values: np.ndarray, members: np.ndarray, n: int) -> np.ndarray:
    """For each of ``n`` pairs, the median of ``values`` without the pair's own (NaN if fewer than 2 remain).

    ``values[m]`` belongs to pair ``members[m]``; a pair that is no member
    gets the median of all values. Equal to ``np.median(values[members != k])``
    for every ``k``, in O(n + m log m) instead of O(n m): the median of a
    sorted array less one element is one of its middle elements, or the mean
    of two of them, by where the element left out lies.
    """
    out = np.full(n, np.nan)
    m = len(values)
    if m >= 2:
        out[:] = np.median(values)
    if m < 3:
        out[members] = np.nan
        return out
    order = np.argsort(values, kind="stable")
    ranks = np.empty(m, dtype=np.int64)
    ranks[order] = np.arange(m)
    s = values[order]
    rest = m - 1

    def kept(q: np.ndarray, rank: np.ndarray) -> np.ndarray:
        """Element ``q`` of the sorted values without the one at ``rank``."""
        return s[q + (q >= rank)]

    if rest % 2:
        median = kept(np.full(m, rest // 2), ranks)
    else:
        lower, upper = kept(np.full(m, rest // 2 - 1), ranks), kept(np.full(m, rest // 2), ranks)
        median = np.mean(np.stack([lower, upper]), axis=0)
    out[members] = median
    return out


def kernel_analysis(training: Mapping[str, Any], fits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The zero-fit predictions of a training with kernel rates; arrays of shape (K, L).

    ``h_inf_kernel``: :func:`repdyn.theory.final_distance` from the pair's
    initial state and its kernel rates at the first record (only their ratio
    enters ``h_inf``). ``r2_zero_h``, ``r2_zero_y``, ``r2_zero_w`` and
    ``r2_zero_worst``: the trajectory of :func:`repdyn.theory.solve_varying`
    with the rates measured at every kernel record, scored as the fit scores
    its own (:func:`repdyn.theory.trajectory_r2`). The kernel rates are those
    of the pair trained alone on its two points; in a data set of ``N`` points
    the pair's own term of the loss carries ``2 / N`` of that weight per
    optimisation step (full batch exactly, minibatches in expectation), so the
    trajectory runs with the rates times ``2 / N``; what the other points do
    to the pair is what the theory leaves out, and what this R^2 measures.
    NaN where the pair is not fitted or a rate it needs is not finite and positive.
    """
    from repdyn.theory import SolverError, final_distance, solve_varying, trajectory_r2

    eta_h = np.asarray(training["kernel_eta_h"], np.float64)
    eta_y = np.asarray(training["kernel_eta_y"], np.float64)
    records = np.asarray(training["kernel_records"], np.int64)
    h, y, w = (np.asarray(training[k], dtype=np.float64) for k in ("h", "y", "w"))
    dx2, dy2 = np.asarray(training["dx2"], np.float64), np.asarray(training["dy2"], np.float64)
    n_pairs, n_layers = fits["h0"].shape
    out = {name: np.full((n_pairs, n_layers), np.nan)
           for name in ("h_inf_kernel", "r2_zero_h", "r2_zero_y", "r2_zero_w", "r2_zero_worst")}
    t_count = finite_records(training)
    inside = records < t_count
    steps = optimisation_steps(training)
    weight = 2.0 / float(training["n_points"])
    fitted = fits["fit_state"] == FITTED
    with np.errstate(invalid="ignore"):
        starts = fitted & (eta_h[:, :, 0] > 0) & (eta_y[:, :, 0] > 0) & (records[0] == 0)
        usable_rates = np.all((eta_h[:, :, inside] > 0) & (eta_y[:, :, inside] > 0), axis=2)
    kk, ll = np.nonzero(starts)
    if len(kk):
        out["h_inf_kernel"][kk, ll] = final_distance(
            fits["h0"][kk, ll], fits["y0"][kk, ll], eta_h=eta_h[kk, ll, 0], eta_y=eta_y[kk, ll, 0],
            dx2=dx2[kk], dy2=dy2[kk]).h_inf  # fmt: skip
    if t_count < 2 or not inside.any():
        return out
    t = steps[:t_count]
    for layer in range(n_layers):
        pairs = np.flatnonzero(starts[:, layer] & usable_rates[:, layer])
        if not len(pairs):
            continue
        observed = np.stack([h[pairs, layer, :t_count], y[pairs, :t_count], w[pairs, :t_count]], axis=-1)
        try:
            predicted = solve_varying(
                observed[:, 0], t, eta_h=weight * eta_h[pairs, layer][:, inside],
                eta_y=weight * eta_y[pairs, layer][:, inside], dx2=dx2[pairs], dy2=dy2[pairs],
                rate_times=steps[records[inside]])  # fmt: skip
        except (ValueError, SolverError):
            continue
        for i, k in enumerate(pairs):
            r2 = trajectory_r2(observed[i], predicted[i])
            for v in VARIABLES:
                out[f"r2_zero_{v}"][k, layer] = r2[v]
            values = [r2[v] for v in VARIABLES]
            out["r2_zero_worst"][k, layer] = min(values) if np.all(np.isfinite(values)) else np.nan
    return out


def prediction_scores(
    predicted: Mapping[str, np.ndarray], measured: np.ndarray, same: np.ndarray
) -> dict[str, np.ndarray]:
    """Spearman and Pearson correlation and median relative error per layer, predictor and stratum.

    The predictors are those of ``predicted``, in its order (:data:`PREDICTORS`,
    and :data:`KERNEL_PREDICTOR` in a run with kernel rates).

    Every predictor is scored on the same pairs: those where all of them and
    the measurement are finite (and the measurement is > 0, which the relative
    error divides by). Returns arrays of shape (L, predictors, strata) and the
    counts ``n_scored`` (L, strata).
    """
    from scipy.stats import pearsonr, spearmanr

    n_layers = measured.shape[1]
    names = tuple(predicted)
    shape = (n_layers, len(names), len(STRATA))
    out = {name: np.full(shape, np.nan) for name in ("spearman", "pearson", "median_rel_error")}
    out["n_scored"] = np.zeros((n_layers, len(STRATA)), dtype=np.int64)
    masks = {"all": np.ones_like(same, dtype=bool), "same": same, "different": ~same}
    for layer in range(n_layers):
        meas = measured[:, layer]
        ok = np.isfinite(meas) & (meas > 0)
        for name in names:
            ok &= np.isfinite(predicted[name][:, layer])
        for s, stratum in enumerate(STRATA):
            rows = ok & masks[stratum]
            out["n_scored"][layer, s] = int(rows.sum())
            for p, name in enumerate(names):
                pred = predicted[name][rows, layer]
                if rows.sum() >= 1:
                    out["median_rel_error"][layer, p, s] = float(np.median(np.abs(pred - meas[rows]) / meas[rows]))
                if rows.sum() >= 3 and np.ptp(pred) > 0 and np.ptp(meas[rows]) > 0:
                    out["spearman"][layer, p, s] = float(spearmanr(pred, meas[rows]).statistic)
                    out["pearson"][layer, p, s] = float(pearsonr(pred, meas[rows]).statistic)
    return out


def structure_scores(training: Mapping[str, Any], fits: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """RDM correlations (Spearman, Pearson) of each layer's measured final distances with each method.

    ``pairwise`` uses the layer's initial representations and outputs with the
    median rates of its usable fits; ``exp_weighing`` and ``npoint`` are the
    rich-limit predictions from inputs and targets alone, whose correlations do
    not depend on the rates (they enter only as an overall factor, and the
    weighing's ``tau`` is a quantile of the same matrix). Returns
    ``rdm_spearman`` and ``rdm_pearson`` of shape (L, methods) and the rates
    used, ``structure_eta_h`` and ``structure_eta_y`` (L,).
    """
    from repdyn.rsa import compare_rdms, rdm
    from repdyn.theory import exponential_weighing, npoint_distances, pairwise_final_distances
    from repdyn.theory import rich_limit_distances

    x = np.asarray(training["x_points"], dtype=np.float64)
    y = np.asarray(training["y_points"], dtype=np.float64)
    output0 = np.asarray(training["output0"], dtype=np.float64)
    finals = np.asarray(training["rdm_final"])
    n_layers = finals.shape[0]
    ok = usable(fits)
    eta_h = np.array([np.median(fits["eta_h"][ok[:, l], l]) if ok[:, l].any() else np.nan
                      for l in range(n_layers)])  # fmt: skip
    eta_y = np.array([np.median(fits["eta_y"][ok[:, l], l]) if ok[:, l].any() else np.nan
                      for l in range(n_layers)])  # fmt: skip
    # The inputs' squared distances as the run measured dx2 (for token ids: the chosen input distance);
    # x holds points with those distances, which is all the predictions read of the inputs.
    shared: dict[str, np.ndarray] = {"inputs": np.asarray(training["input_d2"], dtype=np.float64)
                                     if "input_d2" in training else rdm(x)}
    if len(x) >= 3:
        shared["exp_weighing"] = exponential_weighing(
            rich_limit_distances(x, y, eta_h=1.0, eta_y=1.0), count_violations=False, **EXP_WEIGHING
        ).d
        shared["npoint"] = npoint_distances(x, y, eta_h=1.0, eta_y=1.0)
    scores = {name: np.full((n_layers, len(STRUCTURE_METHODS)), np.nan) for name in ("rdm_spearman", "rdm_pearson")}
    for layer in range(n_layers):
        hidden0 = np.asarray(training[f"hidden0_{layer}"], dtype=np.float64)
        predictions = dict(shared, initial=rdm(hidden0))
        if np.isfinite(eta_h[layer]):
            predictions["pairwise"] = pairwise_final_distances(
                x, y, hidden0, output0, eta_h=eta_h[layer], eta_y=eta_y[layer]
            )
        measured = finals[layer]
        if not np.isfinite(measured).all():
            continue
        for m, method in enumerate(STRUCTURE_METHODS):
            if method not in predictions:
                continue
            for key, how in (("rdm_spearman", "spearman"), ("rdm_pearson", "pearson")):
                try:
                    scores[key][layer, m] = compare_rdms(measured, predictions[method], method=how)
                except ValueError:  # fewer than two pairs of points, or a constant matrix
                    pass
    return {**scores, "structure_eta_h": eta_h, "structure_eta_y": eta_y}


def fit_summary(fits: Mapping[str, np.ndarray], same: np.ndarray) -> dict[str, np.ndarray]:
    """Per layer and stratum: pairs, fitted pairs, good fits, their share, median R^2 (worst, and per variable).

    A fit is good when every R^2 of h, y and w is at least
    :data:`repdyn.theory.POOR_R2` (its ``quality``); the share of good fits is
    of all pairs of the stratum, masked ones included (the theory does not
    describe a pair it cannot be fitted to). Arrays of shape (L, strata);
    ``fit_median_r2`` (L, strata, variables) holds the median R^2 of h, y and w.
    """
    n_layers = fits["quality"].shape[1]
    masks = {"all": np.ones_like(same, dtype=bool), "same": same, "different": ~same}
    out = {name: np.zeros((n_layers, len(STRATA)), dtype=np.int64) for name in ("fit_pairs", "fit_fitted", "fit_good")}
    out["fit_good_fraction"] = np.full((n_layers, len(STRATA)), np.nan)
    out["fit_median_r2_worst"] = np.full((n_layers, len(STRATA)), np.nan)
    out["fit_median_r2"] = np.full((n_layers, len(STRATA), len(VARIABLES)), np.nan)
    for s, stratum in enumerate(STRATA):
        rows = masks[stratum]
        for layer in range(n_layers):
            fitted = rows & (fits["fit_state"][:, layer] == FITTED)
            out["fit_pairs"][layer, s] = int(rows.sum())
            out["fit_fitted"][layer, s] = int(fitted.sum())
            out["fit_good"][layer, s] = int((rows & (fits["quality"][:, layer] == "good")).sum())
            if rows.any():
                out["fit_good_fraction"][layer, s] = out["fit_good"][layer, s] / rows.sum()
            for name, target in (("r2_worst", out["fit_median_r2_worst"][layer]),
                                 *((f"r2_{v}", out["fit_median_r2"][layer, :, i]) for i, v in enumerate(VARIABLES))):
                values = np.asarray(fits[name])[fitted, layer]
                if np.isfinite(values).any():
                    target[s] = float(np.nanmedian(values))
    return out


def analyse(training: Mapping[str, Any], *, objective: str = "scaled", progress: bool = False) -> dict[str, Any]:
    """Fits, cross-validated predictions and structure scores of one training result (flat dict)."""
    fits = fit_all(training, objective=objective, progress=progress)
    dx2, dy2 = np.asarray(training["dx2"], np.float64), np.asarray(training["dy2"], np.float64)
    cv = cross_validated(fits, dx2, dy2)
    same = np.asarray(training["same"], dtype=bool)
    predicted = {"cross_validated": cv["h_inf_cv"], "own_fit": fits["h_inf"], "h0_baseline": fits["h0"]}
    kernel = kernel_analysis(training, fits) if "kernel_eta_h" in training else {}
    if kernel:
        predicted[KERNEL_PREDICTOR] = kernel["h_inf_kernel"]
    scores = prediction_scores(predicted, fits["h_final"], same)
    structure = structure_scores(training, fits)
    out: dict[str, Any] = {**fits, **cv, **kernel, **{f"final_{k}": v for k, v in scores.items()}, **structure}
    if kernel:
        out["predictors"] = np.array(list(predicted), dtype=np.str_)
    out["finite_records"] = finite_records(training)
    # Stored results hold numeric and string arrays only.
    for name, value in list(out.items()):
        if isinstance(value, np.ndarray) and value.dtype == object:
            out[name] = value.astype(np.str_)
    return out
