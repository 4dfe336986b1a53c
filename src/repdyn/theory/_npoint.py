"""An N-point extension of the theory (beyond the paper): a shared smooth encoder and decoder.

The paper's theory linearises the network around one pair at a time; applied
to every pair independently, the predictions need not fit together (they can
break the triangle inequality, which exponential weighing then patches).
Here every point is kept in one model and the interactions come from the
model itself, not from a heuristic:

* the decoder is linear and *shared* by all points: ``yhat_i = W_g h_i``;
* the encoder is a smooth map trained by gradient flow whose tangent kernel
  is ``K(x, x')``: the representations move as
  ``dH/dt = (2 eta_h / N) K_c E W_g`` while ``dW_g/dt = (2 eta_y / N) E^T H``,
  with ``E = Y - H W_g^T`` the errors (all quantities centred over points;
  the output mean is fitted separately, as in the two-point theory, through
  ``eta_m``).

This is gradient flow on ``L = 1/2 mean_i ||y_i - yhat_i||^2`` for a two-layer
linear network on the features of ``K``. With two points it *is* the paper's
linearised model: the entry equals :func:`final_distance` with ``dx2``
replaced by the feature distance ``q = K_11 + K_22 - 2 K_12`` (``q = dx2`` for
the linear kernel; ``q ~ dx2`` for nearby points with the default RBF kernel).
The factors ``2 eta / N`` make the two-point case match ``eta_h``, ``eta_y``
exactly; the final state depends only on ``eta_h / eta_y``.

Small initial weights (the rich limit) have a closed form. A small balanced
start keeps ``W_f W_f^T / eta_f = W_g^T W_g / eta_g``, and the flow ends at the
least-squares map ``M = W_g W_f`` of minimal norm; together these give the
final representation kernel ``sqrt(eta_h / eta_y) Phi (M^T M)^(1/2) Phi^T``.
In terms of the centred kernel ``K_c = V diag(lam) V^T`` and
``Psi = diag(lam)^(-1/2) V^T Y_c = P diag(s) Q^T`` (an SVD), the final
representations are the rows of ``B = V diag(lam)^(1/2) P diag(s)^(1/2)``,
of rank at most the output dimension. The predicted squared distances
``sqrt(eta_h / eta_y) ||B_i - B_j||^2`` are distances of actual points, so they
satisfy the triangle inequality by construction, and same-target points
merge exactly as in the pairwise rich limit.

From measured initial representations (``H0``, ``Yhat0``) the flow itself
is integrated to convergence: the decoder starts as the least-squares map
from ``H0`` to ``Yhat0``, and components of ``H0`` outside the kernel's reach
stay as they are (the lazy regime keeps its random features).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from repdyn.theory import _validate as check
from repdyn.theory._pairwise import _points, _scalar_rate, squared_distances
from repdyn.theory._validate import ArgumentValueError
from repdyn.theory._system import SolverError

FloatArray = NDArray[np.float64]

KERNELS = ("rbf", "linear")

# Windows integrated before convergence is judged: near the saddle of small
# initial weights the state barely moves in the first, shortest windows.
_MIN_WINDOWS = 8


def encoder_kernel(
    X: ArrayLike,
    *,
    kernel: Literal["rbf", "linear"] | ArrayLike = "rbf",
    length_scale: float | None = None,
) -> FloatArray:
    return _kernel(X, kernel, length_scale, centred_use=False)


def _kernel(X: ArrayLike, kernel: Literal["rbf", "linear"] | ArrayLike, length_scale: float | None,
            *, centred_use: bool) -> FloatArray:
    """The encoder's kernel matrix ``K`` on the inputs (not centred).

    Parameters
    ----------
    X : array_like, shape (N, d_in) or (N,)
        Inputs.
    kernel : {"rbf", "linear"} or array_like of shape (N, N)
        ``"linear"``: ``x_i . x_j``, one global linearisation (a deep linear
        network); cannot separate XOR. ``"rbf"`` (default):
        ``l^2 exp(-||x_i - x_j||^2 / (2 l^2))``, a smooth encoder whose
        feature distance ``q = 2 l^2 (1 - exp(-dx2 / (2 l^2)))`` equals ``dx2``
        for nearby points and saturates at ``2 l^2`` for far ones. An array is
        used as given (e.g. a measured tangent kernel of the encoder); it must
        be symmetric positive semi-definite.
    length_scale : float, optional
        ``l`` of the RBF kernel; default the root of the median positive
        squared input distance.

    Returns
    -------
    ndarray, shape (N, N)
    """
    x = _points("X", X)
    n = x.shape[0]
    if isinstance(kernel, str):
        if kernel not in KERNELS:
            raise ArgumentValueError("kernel", f"kernel must be one of {KERNELS} or an (N, N) matrix; got {kernel!r}")
        if kernel == "linear":
            if length_scale is not None:
                raise ArgumentValueError("length_scale", "length_scale applies to kernel='rbf' only; drop it for 'linear'")
            return x @ x.T
        dx2 = squared_distances(x)
        if length_scale is None:
            positive = dx2[np.triu_indices(n, 1)]
            positive = positive[positive > 0]
            scale2 = float(np.median(positive)) if positive.size else 1.0
        else:
            with np.errstate(over="ignore", under="ignore"):
                scale2 = float(np.float64(_scalar_rate("length_scale", length_scale)) ** 2)
            if not np.finfo(np.float64).tiny <= scale2 < np.inf:
                raise ArgumentValueError(
                    "length_scale", f"length_scale must lie between 1.5e-154 and 1.3e154 (its square, the "
                    f"kernel's scale, must be a normal float64); got {length_scale!r}")
        with np.errstate(under="ignore"):
            if centred_use:
                # K minus the constant l^2, which centring removes anyway: without it a
                # length scale far above the data's keeps the digits of the differences.
                return scale2 * np.expm1(-dx2 / (2.0 * scale2))
            return scale2 * np.exp(-dx2 / (2.0 * scale2))
    k = np.asarray(kernel, dtype=np.float64)
    if k.shape != (n, n):
        raise ArgumentValueError(
            "kernel", f"a kernel matrix must have shape (N, N) = ({n}, {n}) for these inputs; got {k.shape}"
        )
    if not np.all(np.isfinite(k)) or not np.allclose(k, k.T, rtol=1e-10, atol=0.0):
        raise ArgumentValueError(
            "kernel", "a kernel matrix must be finite and symmetric; symmetrise it, e.g. (K + K.T) / 2"
        )
    if np.linalg.eigvalsh(0.5 * (k + k.T))[0] < -1e-8 * max(1.0, float(np.abs(k).max())):
        raise ArgumentValueError(
            "kernel", "a kernel matrix must be positive semi-definite (it has a negative eigenvalue)"
        )
    return 0.5 * (k + k.T)


def _centre(k: FloatArray) -> FloatArray:
    c = k - k.mean(axis=0) - k.mean(axis=1, keepdims=True) + k.mean()
    return 0.5 * (c + c.T)


def _kernel_modes(kc: FloatArray, rcond: float) -> tuple[FloatArray, FloatArray]:
    """Eigenvalues above ``rcond * largest`` and their eigenvectors."""
    lam, vec = np.linalg.eigh(kc)
    keep = lam > rcond * max(float(lam[-1]), 0.0)
    if not np.any(keep):
        raise ArgumentValueError(
            "X", "X: the encoder kernel is zero on these inputs (all inputs identical?); nothing can be learned"
        )
    return lam[keep], vec[:, keep]


def _rich_representation(kc: FloatArray, yc: FloatArray, rcond: float) -> FloatArray:
    lam, vec = _kernel_modes(kc, rcond)
    root = np.sqrt(lam)
    psi = (vec.T @ yc) / root[:, None]
    p, s, _ = np.linalg.svd(psi, full_matrices=False)
    return (vec * root) @ (p * np.sqrt(s))


def npoint_distances(
    X: ArrayLike,
    Y: ArrayLike,
    H0: ArrayLike | None = None,
    Yhat0: ArrayLike | None = None,
    *,
    eta_h: float,
    eta_y: float,
    kernel: Literal["rbf", "linear"] | ArrayLike = "rbf",
    length_scale: float | None = None,
    rcond: float = 1e-10,
    rtol: float = 1e-6,
    max_doublings: int = 60,
) -> FloatArray:
    """Predicted final squared representational distances of all N points together.

    An extension beyond the paper (see the module notes): gradient flow of a
    shared smooth encoder (kernel ``K``) and a shared linear decoder on all
    points at once. Without ``H0`` the closed-form rich limit (small initial
    weights) is returned; with ``H0`` and ``Yhat0`` the flow is integrated from
    that state to convergence.

    Parameters
    ----------
    X : array_like, shape (N, d_in) or (N,)
        Inputs.
    Y : array_like, shape (N, d_out) or (N,)
        Targets.
    H0 : array_like, shape (N, d_h), optional
        Hidden representations before training; give with ``Yhat0``.
    Yhat0 : array_like, shape (N, d_out), optional
        Network outputs before training.
    eta_h, eta_y : float
        Effective learning rates (> 0), e.g. fitted on one pair.
    kernel, length_scale
        The encoder's kernel; see :func:`encoder_kernel`.
    rcond : float
        Kernel eigenvalues below ``rcond`` times the largest are treated as 0
        (directions the encoder cannot move the representations in).
    rtol : float
        Flow only: stop at the end of a time window (windows double in length)
        once the squared distances changed by less than ``rtol`` times the
        largest during it and their current rate of change, times the elapsed
        time, is below that too. Kernel directions so slow that they would
        move the distances only after that are left unfitted, as in a network
        trained for a finite time.
    max_doublings : int
        Flow only: the time window doubles from the fastest time scale up to
        this many times before giving up.

    Notes
    -----
    The flow is integrated with LSODA, whose stiff mode builds a dense
    Jacobian of the ``(N + d_out) * rank(H0)`` state, so its cost grows
    steeply with N: on this project's 2-core machine about 5 s for N = 20 and
    20-60 s for N = 40 (10 outputs, 100 hidden units); N = 100 takes many
    minutes. For larger N use the rich limit, which costs one
    eigen-decomposition of the (N, N) kernel (milliseconds for N = 100,
    seconds for N = 2,000).

    With the RBF kernel the rich limit depends on the rough, small-eigenvalue
    directions of the kernel (the minimal-norm fit is dominated by them), so
    ``rcond`` and ``length_scale`` change the overall scale and, for several
    outputs, the structure. For one output the structure is fixed: the
    representation is one-dimensional and ``D_ij`` is proportional to
    ``(f_i - f_j)^2``, with ``f`` the kernel's least-squares fit of the targets
    (the targets themselves when the kernel can fit them, e.g. RBF on
    distinct inputs): a line ordered by target, as in the paper's
    very-small-weight figure 12.

    Returns
    -------
    ndarray, shape (N, N)
        Symmetric, zero diagonal, squared distances of a point configuration.

    Raises
    ------
    SolverError
        If the flow does not converge within ``max_doublings`` windows.
    """
    x = _points("X", X)
    n = x.shape[0]
    y = _points("Y", Y, n)
    rate_h, rate_y = _scalar_rate("eta_h", eta_h), _scalar_rate("eta_y", eta_y)
    rcond = check.real_scalar("rcond", rcond, at_least=0, below=1)
    max_doublings = check.integer("max_doublings", max_doublings, minimum=1, maximum=1000)
    if (H0 is None) != (Yhat0 is None):
        raise ArgumentValueError(
            "H0, Yhat0", "give H0 and Yhat0 together (the initial state), or neither (the rich limit)"
        )
    kc = _centre(_kernel(x, kernel, length_scale, centred_use=True))
    yc = y - y.mean(axis=0)

    if H0 is None:
        rep = _rich_representation(kc, yc, rcond)
        with np.errstate(over="ignore", under="ignore"):
            out = np.sqrt(rate_h / rate_y) * squared_distances(rep)
        check.computable("eta_h, eta_y, X, Y", out)
        return out

    h0 = _points("H0", H0, n)
    yhat0 = _points("Yhat0", Yhat0, n)
    if yhat0.shape[1] != y.shape[1]:
        raise ArgumentValueError(
            "Yhat0", f"Yhat0 must have the same number of output columns as Y ({y.shape[1]}); got {yhat0.shape[1]}"
        )
    rtol = check.real_scalar("rtol", rtol, above=0, below=1)
    lam, vec = _kernel_modes(kc, rcond)
    # The linearised encoder can only produce representations in the kernel's
    # span (dh = W_f dx for the linear kernel); the rest of H0 is dropped, or
    # the decoder would, over unbounded time, fit the targets through those
    # frozen (possibly tiny) components.
    h0c = h0 - h0.mean(axis=0)
    rep = _flow(
        (vec * lam) @ vec.T,
        yc,
        vec @ (vec.T @ h0c),
        yhat0 - yhat0.mean(axis=0),
        2.0 * rate_h / n,
        2.0 * rate_y / n,
        float(lam[-1]),
        rtol=rtol,
        max_doublings=max_doublings,
    )
    return squared_distances(rep)


def _flow(
    kc: FloatArray,
    yc: FloatArray,
    hc: FloatArray,
    yhatc: FloatArray,
    a: float,
    b: float,
    lam_max: float,
    *,
    rtol: float,
    max_doublings: int,
) -> FloatArray:
    """Integrate the N-point flow from (hc, yhatc); return the final representations."""
    # Only the span of the initial representations is ever used (the updates
    # K E W and E^T H stay in it), so work in its coordinates: r <= min(N, d_h).
    u, s, _ = np.linalg.svd(hc, full_matrices=False)
    rank = int(np.count_nonzero(s > 1e-12 * max(float(s[0]) if s.size else 0.0, 1e-300)))
    if rank == 0:
        raise ArgumentValueError(
            "H0", "H0 is the same for every point, so the flow cannot start (a saddle); use H0=None for the rich limit"
        )
    h = u[:, :rank] * s[:rank]
    # The decoder that reproduces the initial outputs best from these representations.
    w = np.linalg.lstsq(h, yhatc, rcond=None)[0].T
    n, d = yc.shape
    split = n * rank

    def unpack(z: FloatArray) -> tuple[FloatArray, FloatArray]:
        return z[:split].reshape(n, rank), z[split:].reshape(d, rank)

    def velocity(_t: float, z: FloatArray) -> FloatArray:
        hh, ww = unpack(z)
        err = yc - hh @ ww.T
        return np.concatenate([(a * (kc @ (err @ ww))).ravel(), (b * (err.T @ hh)).ravel()])

    z = np.concatenate([h.ravel(), w.ravel()])
    size = float(np.linalg.norm(z)) + float(np.linalg.norm(yc))
    t, window = 0.0, 1.0 / (a * lam_max + b)
    dist = squared_distances(h)
    for k in range(max_doublings):
        # LSODA switches to a stiff method once the fitted directions relax
        # much faster than the slow kernel directions still moving.
        # Only the end state is kept (t_eval): storing every step costs memory.
        from scipy.integrate import solve_ivp
        sol = solve_ivp(
            velocity,
            (t, t + window),
            z,
            method="LSODA",
            t_eval=(t + window,),
            rtol=1e-10,
            atol=1e-13 * size,
        )
        if not sol.success:
            raise SolverError(f"the N-point flow failed at t = {t:.3g}: {sol.message}")
        z, t = sol.y[:, -1], t + window
        if not np.all(np.isfinite(z)):
            raise SolverError(f"the N-point flow diverged (non-finite state) by t = {t:.3g}")
        hh = unpack(z)[0]
        new = squared_distances(hh)
        # Rate of change of every squared distance: 2 (h_i - h_j) . (v_i - v_j).
        vel = unpack(velocity(t, z))[0]
        own = np.einsum("ik,ik->i", hh, vel)
        cross = hh @ vel.T
        rate = 2.0 * (own[:, None] + own[None, :] - cross - cross.T)
        scale = rtol * float(new.max())
        settled = (
            float(np.abs(new - dist).max()) <= scale and t * float(np.abs(rate).max()) <= scale
        )
        if settled and k >= _MIN_WINDOWS:
            return hh
        dist, window = new, t
    raise SolverError(
        f"the N-point flow did not converge by t = {t:.3g} (after {max_doublings} doublings); "
        "raise max_doublings or rcond (slow kernel directions), or use H0=None for the rich limit"
    )
