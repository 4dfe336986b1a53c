"""The 2024 theory for pairs of prefixes: continuations, (H, Y, W) per pair, fits and mergers.

The follow-up (van Rossem & Saxe 2025, eq 4) derives for two prefixes the
same closed system as the 2024 theory for two points, with ``h = H``,
``y = Y``, ``w = W``, ``dx2 = 1``, ``dy2 = D2`` and the rates
``eta_h = 1 / (2 tau_h)`` and ``eta_y = 1 / (2 N tau_y)``. Everything here
therefore solves, fits and predicts with :mod:`repdyn.theory`; only the
measurement of the variables is new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn import checks
from repdyn.sequences._automata import Automaton, int_array, minimize
from repdyn.sequences._data import INITIAL, SequenceData, as_sequence
from repdyn.sequences._tracking import PrefixTracking
from repdyn.theory import FitResult, exact_identical_targets, final_distance, fit

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The squared input distance of a prefix pair: the theory's input-side
#: constant is absorbed into ``tau_h`` (the follow-up's mapping).
DX2 = 1.0


@dataclass(frozen=True, eq=False)
class Continuations:
    """The continuations two prefixes share in a data set.

    A continuation ``s`` counts when both ``p1 s`` and ``p2 s`` are training
    sequences (the empty one when both prefixes are); on complete data to
    length L that is ``N = S^0 + ... + S^(L - max(m1, m2))`` of them.

    Attributes
    ----------
    suffixes : tuple of tuple of int
    rows : ndarray of int, shape (N, 2)
        Rows of ``p1 s`` and ``p2 s``.
    delta : ndarray, shape (N, K)
        One-hot target of ``p2 s`` minus that of ``p1 s`` (the follow-up's Delta_i).
    """

    suffixes: tuple[tuple[int, ...], ...]
    rows: IntArray
    delta: FloatArray

    @property
    def n(self) -> int:
        """Number of shared continuations, N."""
        return len(self.suffixes)

    @property
    def d2(self) -> float:
        """``D2 = mean_i ||Delta_i||^2`` (NaN without continuations)."""
        return float(np.mean(np.sum(self.delta**2, axis=1))) if self.n else float("nan")


def _prefix(data: SequenceData, value: Any) -> tuple[int, ...]:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        row = int(value)
        if row == INITIAL:
            return ()
        if not 0 <= row < data.n_items:
            raise checks.ArgumentValueError(
                "prefix",
                f"a prefix row must lie in [0, {data.n_items - 1}] or be {INITIAL} (the empty prefix); got {row}",
            )
        return data.sequences[row]
    return as_sequence(value, data.n_symbols)


def continuations(data: SequenceData, first: Any, second: Any) -> Continuations:
    """The continuations shared by two prefixes in ``data`` and their target differences.

    Parameters
    ----------
    data : SequenceData
    first, second
        Prefixes: a row of ``data`` (:data:`INITIAL` for the empty prefix), a
        string of digits or a sequence of ints (need not be in ``data``).

    Returns
    -------
    Continuations
    """
    if not isinstance(data, SequenceData):
        raise checks.ArgumentTypeError("data", f"data must be a SequenceData; got {checks.describe(data)}")
    p1, p2 = _prefix(data, first), _prefix(data, second)
    m1 = len(p1)
    starts = data.lengths >= m1
    if m1:
        starts &= np.all(data.symbols[:, :m1] == np.asarray(p1), axis=1)
    suffixes, rows = [], []
    for r in np.flatnonzero(starts):
        suffix = data.sequences[r][m1:]
        other = data.index.get(p2 + suffix)
        if other is not None:
            suffixes.append(suffix)
            rows.append((int(r), other))
    rows_arr = np.array(rows, dtype=np.int64).reshape(-1, 2)
    eye = np.eye(data.n_outputs)
    delta = eye[data.targets[rows_arr[:, 1]]] - eye[data.targets[rows_arr[:, 0]]]
    return Continuations(suffixes=tuple(suffixes), rows=rows_arr, delta=delta)


def _pairs(pairs: Any, n_items: int) -> IntArray:
    arr = int_array("pairs", pairs, ndim=2)
    if arr.shape[1] != 2:
        raise checks.ArgumentValueError("pairs", f"pairs must have shape (P, 2); got {arr.shape}")
    if arr.size and (arr.min() < INITIAL or arr.max() >= n_items):
        raise checks.ArgumentValueError(
            "pairs", f"pairs must hold rows in [0, {n_items - 1}] or {INITIAL} (the empty prefix)"
        )
    return arr


@dataclass(frozen=True, eq=False)
class PairVariables:
    """The follow-up's (H, Y, W) for pairs of prefixes at every record of a run.

    Attributes
    ----------
    pairs : ndarray of int, shape (P, 2)
        Rows of the two prefixes (:data:`INITIAL`: the empty prefix).
    epochs : ndarray of int, shape (R,)
    h : ndarray, shape (P, R)
        ``H = ||h_2 - h_1||^2``.
    y : ndarray, shape (P, R)
        ``Y = mean_i ||dy_i||^2`` with ``dy_i`` the output difference after continuation ``i``.
    w : ndarray, shape (P, R)
        ``W = mean_i (||dy_i||^2 - dy_i . Delta_i)``.
    d2 : ndarray, shape (P,)
        ``D2 = mean_i ||Delta_i||^2``.
    n : ndarray of int, shape (P,)
        Shared continuations N (0: no Y, W or D2; NaN there).
    lengths : ndarray of int, shape (P, 2)
        Prefix lengths m_1, m_2.
    """

    pairs: IntArray
    epochs: IntArray
    h: FloatArray
    y: FloatArray
    w: FloatArray
    d2: FloatArray
    n: IntArray
    lengths: IntArray

    def observed(self) -> FloatArray:
        """``(H, Y, W)`` stacked as :func:`repdyn.theory.fit` takes them, shape (P, R, 3)."""
        return np.stack([self.h, self.y, self.w], axis=-1)


def pair_variables(tracking: PrefixTracking, pairs: ArrayLike) -> PairVariables:
    """Measure (H, Y, W), D2, N and the prefix lengths of pairs of training prefixes.

    ``dy_i`` is the network's output after ``p2 s_i`` minus that after
    ``p1 s_i`` (to first order the follow-up's ``D_i dh``), ``Delta_i`` the
    difference of their one-hot targets.

    Parameters
    ----------
    tracking : PrefixTracking
    pairs : array_like of int, shape (P, 2)
        Rows of ``tracking.data``; :data:`INITIAL` (-1) for the empty prefix
        (needs the initial state in the record).

    Returns
    -------
    PairVariables
    """
    if not isinstance(tracking, PrefixTracking):
        raise checks.ArgumentTypeError(
            "tracking", f"tracking must be a PrefixTracking; got {checks.describe(tracking)}"
        )
    data = tracking.data
    idx = _pairs(pairs, data.n_items)
    if np.any(idx == INITIAL) and tracking.initial_states is None:
        raise checks.ArgumentValueError("pairs", "a pair holds the empty prefix but the run recorded no initial state")
    states = tracking.states.astype(np.float64)
    if tracking.initial_states is not None:
        states = np.concatenate([states, tracking.initial_states.astype(np.float64)[:, None]], axis=1)
    outputs = tracking.outputs.astype(np.float64)
    n_pairs, n_records = idx.shape[0], tracking.n_records
    h = np.sum((states[:, idx[:, 1]] - states[:, idx[:, 0]]) ** 2, axis=-1).T
    y = np.full((n_pairs, n_records), np.nan)
    w = np.full((n_pairs, n_records), np.nan)
    d2 = np.full(n_pairs, np.nan)
    n = np.zeros(n_pairs, dtype=np.int64)
    for p, (a, b) in enumerate(idx):
        cont = continuations(data, int(a), int(b))
        n[p] = cont.n
        if not cont.n:
            continue
        dy = outputs[:, cont.rows[:, 1]] - outputs[:, cont.rows[:, 0]]  # (R, N, K)
        sq = np.sum(dy**2, axis=-1)
        y[p] = sq.mean(axis=1)
        w[p] = (sq - np.einsum("rnk,nk->rn", dy, cont.delta)).mean(axis=1)
        d2[p] = cont.d2
    lengths = np.where(idx == INITIAL, 0, data.lengths[np.maximum(idx, 0)])
    return PairVariables(pairs=idx, epochs=tracking.epochs.copy(), h=h, y=y, w=w, d2=d2, n=n, lengths=lengths)


def merger_condition(a_low: ArrayLike, a_high: ArrayLike) -> NDArray[np.bool_]:
    """The follow-up's merger condition (its eq 7): ``A_low = 0`` and ``A_high < 0``.

    Then ``H_inf = 0``: no continuation in the data tells the prefixes apart
    (``D2 = 0``) and ``H_0^2 < rho Y_0``. ``A_high = 0`` is marginal and not a merger.
    """
    a_low = checks.real_array("a_low", a_low, at_least=0.0)
    a_high = checks.real_array("a_high", a_high)
    return (a_low == 0) & (a_high < 0)


@dataclass(frozen=True, eq=False)
class MergerPrediction:
    """The theory's endpoint for prefix pairs (the follow-up's eqs 5-7).

    Attributes
    ----------
    h_inf : ndarray
        Predicted final ``H``.
    a_low : ndarray
        ``sqrt(rho D2)``.
    a_high : ndarray
        ``H_0 - rho Y_0 / H_0``.
    merges : ndarray of bool
        :func:`merger_condition`.
    """

    h_inf: FloatArray
    a_low: FloatArray
    a_high: FloatArray
    merges: NDArray[np.bool_]


def predict_merger(h0: ArrayLike, y0: ArrayLike, d2: ArrayLike, rho: ArrayLike) -> MergerPrediction:
    """The final distance and merger of prefix pairs from their initial state (the theory's fixed point).

    ``H_inf = A_high/2 + sqrt(A_high^2/4 + A_low^2)`` from
    :func:`repdyn.theory.final_distance` with ``dx2 = 1``, ``dy2 = D2`` and
    the rate ratio ``rho = N tau_y / tau_h = eta_h / eta_y``.

    Parameters
    ----------
    h0 : array_like
        Initial ``H`` (> 0).
    y0 : array_like
        Initial ``Y`` (>= 0).
    d2 : array_like
        ``D2`` (>= 0).
    rho : array_like
        Rate ratio (> 0), e.g. ``eta_h / eta_y`` of a fit.

    Returns
    -------
    MergerPrediction
    """
    fd = final_distance(h0, y0, eta_h=rho, eta_y=1.0, dx2=DX2, dy2=d2)
    return MergerPrediction(
        h_inf=fd.h_inf, a_low=fd.a_low, a_high=fd.a_high, merges=merger_condition(fd.a_low, fd.a_high)
    )


def theory_rates(*, tau_h: ArrayLike, tau_y: ArrayLike, n: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """The 2024 theory's ``(eta_h, eta_y)`` (with ``dx2 = 1``) from the follow-up's time constants.

    ``eta_h = 1 / (2 tau_h)`` (``1/tau_h = 1/tau_h1 + 1/tau_h2``) and
    ``eta_y = 1 / (2 N tau_y)``, so that ``repdyn.theory.rhs`` is the
    follow-up's eq 4 and ``rho = N tau_y / tau_h = eta_h / eta_y``.

    Parameters
    ----------
    tau_h, tau_y : array_like
        Time constants of the representations and of the output maps, > 0.
    n : array_like
        Number of shared continuations, >= 1.
    """
    tau_h = checks.real_array("tau_h", tau_h, above=0.0)
    tau_y = checks.real_array("tau_y", tau_y, above=0.0)
    n = checks.real_array("n", n, at_least=1.0)
    return 1.0 / (2.0 * tau_h), 1.0 / (2.0 * n * tau_y)


def agreeing_pair_distance(
    h0: ArrayLike, y0: ArrayLike, t: ArrayLike, *, tau_h: ArrayLike, tau_y: ArrayLike, n: ArrayLike
) -> FloatArray:
    """``H(t)`` of a pair that no shared continuation distinguishes (``D2 = 0``, the follow-up's eq 35).

    The 2024 theory's exact solution for identical targets
    (:func:`repdyn.theory.exact_identical_targets`) at the rates of
    :func:`theory_rates`: it decays to 0 (exponentially) iff ``A_high < 0``,
    else it tends to ``A_high``.

    Parameters
    ----------
    h0, y0 : array_like
        Initial ``H`` (> 0) and ``Y`` (>= 0); ``W_0 = Y_0``.
    t : array_like, shape (T,)
        Times (epochs) since the initial state, >= 0.
    tau_h, tau_y, n
        As for :func:`theory_rates`.

    Returns
    -------
    ndarray, shape (..., T)
    """
    eta_h, eta_y = theory_rates(tau_h=tau_h, tau_y=tau_y, n=n)
    return exact_identical_targets(h0, y0, t, eta_h=eta_h, eta_y=eta_y, dx2=DX2)[..., 0]


@dataclass(frozen=True, eq=False)
class PairFit:
    """Rates fitted to prefix pairs with :func:`repdyn.theory.fit`, and the endpoints they predict.

    Attributes
    ----------
    fitted : ndarray of bool, shape (P,)
        Pairs that could be fitted (N >= 1, H > 0 at the first record).
    rho : ndarray, shape (P,)
        ``eta_h / eta_y`` (NaN where not fitted).
    r2 : dict of ndarray, shape (P,)
        R^2 of ``h``, ``y``, ``w``.
    quality : ndarray of str, shape (P,)
        ``"good"``, ``"poor"``, ``"unfit"`` (``""`` where not fitted).
    prediction : MergerPrediction
        From the first record's ``H``, ``Y``, the pair's ``D2`` and the fitted ``rho``.
    result : FitResult or None
        The batch fit of the fitted pairs (None if there were none).
    """

    fitted: NDArray[np.bool_]
    rho: FloatArray
    r2: dict[str, FloatArray]
    quality: NDArray[np.str_]
    prediction: MergerPrediction
    result: FitResult | None


def fit_pairs(variables: PairVariables, **fit_options: Any) -> PairFit:
    """Fit the theory to every pair's (H, Y, W) trajectory and predict its endpoint.

    Parameters
    ----------
    variables : PairVariables
    **fit_options
        Passed to :func:`repdyn.theory.fit` (``objective``, ``rtol``, ``max_nfev``).

    Returns
    -------
    PairFit
    """
    if not isinstance(variables, PairVariables):
        raise checks.ArgumentTypeError(
            "variables", f"variables must be PairVariables; got {checks.describe(variables)}"
        )
    observed = variables.observed()
    n_pairs = observed.shape[0]
    ok = (variables.n > 0) & (variables.h[:, 0] > 0) & np.all(np.isfinite(observed), axis=(1, 2))
    rho = np.full(n_pairs, np.nan)
    r2 = {v: np.full(n_pairs, np.nan) for v in ("h", "y", "w")}
    quality = np.full(n_pairs, "", dtype="<U5")
    result = None
    if ok.any():
        result = fit(observed[ok], variables.epochs.astype(np.float64), dx2=DX2, dy2=variables.d2[ok], **fit_options)
        rho[ok] = np.asarray(result.eta_h) * DX2 / np.asarray(result.eta_y)
        for v in r2:
            r2[v][ok] = np.asarray(result.r2[v])
        quality[ok] = np.asarray(result.quality)
    h0 = np.where(ok, variables.h[:, 0], 1.0)
    y0 = np.where(ok, variables.y[:, 0], 0.0)
    prediction = predict_merger(h0, y0, np.where(ok, variables.d2, 0.0), np.where(ok, rho, 1.0))
    nan = np.where(ok, 1.0, np.nan)
    prediction = MergerPrediction(
        h_inf=prediction.h_inf * nan, a_low=prediction.a_low * nan, a_high=prediction.a_high * nan,
        merges=prediction.merges & ok,
    )
    return PairFit(fitted=ok, rho=rho, r2=r2, quality=quality, prediction=prediction, result=result)


def agreeing(task: Automaton, data: SequenceData, pairs: ArrayLike) -> NDArray[np.bool_]:
    """Whether the task gives both prefixes of each pair the same output after every continuation.

    That is, both prefixes lead to the same state of the task's minimal
    automaton (no extension of any length tells them apart; for parity: the
    same parity).

    Parameters
    ----------
    task : Automaton
    data : SequenceData
    pairs : array_like of int, shape (P, 2)
        Rows of ``data`` (:data:`INITIAL` for the empty prefix).
    """
    if not isinstance(task, Automaton):
        raise checks.ArgumentTypeError("task", f"task must be an Automaton; got {checks.describe(task)}")
    idx = _pairs(pairs, data.n_items)
    state = task_states(task, data)
    return state[idx[:, 0]] == state[idx[:, 1]]


def task_states(task: Automaton, data: SequenceData) -> IntArray:
    """State of the task's minimal automaton after each sequence of ``data``, then after the empty prefix.

    Index with a row, or with :data:`INITIAL` (-1) for the empty prefix.
    """
    small = minimize(task)
    after = small.states_after(np.where(data.symbols < 0, 0, data.symbols), data.lengths)
    return np.append(after, small.initial)
