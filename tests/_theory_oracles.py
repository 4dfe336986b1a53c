"""Independent oracles for the theory tests: gradient flow on the full linearised matrices."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp


def no_rotation_problem(rng: np.random.Generator, d_in: int, d_hidden: int, d_out: int, scale: float):
    """Two points and linearisation matrices on which the 3-variable reduction is exact.

    ``W_f = u a^T`` and ``W_g = c u^T`` for a unit vector ``u``: the decoder's row
    space and ``dh`` start parallel, so they stay parallel (theory.md).
    """
    dx = rng.normal(size=d_in)
    dy = rng.normal(size=d_out)
    u = rng.normal(size=d_hidden)
    u /= np.linalg.norm(u)
    w_f = scale * np.outer(u, rng.normal(size=d_in))
    w_g = scale * np.outer(rng.normal(size=d_out), u)
    return dx, dy, w_f, w_g


def matrix_flow(dx, dy, w_f, w_g, eta_h, eta_y, t, *, eta_m=0.0, m_err0=None):
    """Integrate dW_f, dW_g (and the output mean) with eta_f = 2 eta_h, eta_g = 2 eta_y.

    Returns h, y, w and the loss ``1/2 ||ybar - m||^2 + 1/8 ||e||^2`` at times ``t``.
    """
    eta_f, eta_g = 2 * eta_h, 2 * eta_y
    shape_f, shape_g = w_f.shape, w_g.shape
    m_err0 = np.zeros(dy.size) if m_err0 is None else m_err0

    def field(_t, s):
        wf = s[: w_f.size].reshape(shape_f)
        wg = s[w_f.size : w_f.size + w_g.size].reshape(shape_g)
        merr = s[w_f.size + w_g.size :]
        dh = wf @ dx
        e = dy - wg @ dh
        d_wf = (eta_f / 4) * np.outer(wg.T @ e, dx)
        d_wg = (eta_g / 4) * np.outer(e, dh)
        return np.concatenate([d_wf.ravel(), d_wg.ravel(), -eta_m * merr])

    s0 = np.concatenate([w_f.ravel(), w_g.ravel(), m_err0])
    sol = solve_ivp(field, (t[0], t[-1]), s0, t_eval=t, method="DOP853", rtol=1e-12, atol=1e-14)
    assert sol.success, sol.message
    out = []
    for s in sol.y.T:
        wf = s[: w_f.size].reshape(shape_f)
        wg = s[w_f.size : w_f.size + w_g.size].reshape(shape_g)
        merr = s[w_f.size + w_g.size :]
        dh = wf @ dx
        dyhat = wg @ dh
        e = dy - dyhat
        out.append([dh @ dh, dyhat @ dyhat, dyhat @ dyhat - dy @ dyhat, 0.5 * merr @ merr + e @ e / 8])
    out = np.array(out)
    return out[:, :3], out[:, 3]


def reachable_states(rng: np.random.Generator, n: int, dy2: float):
    """Random (h, y, w) states that some pair of vectors realises."""
    h = rng.uniform(0.01, 1.0, n)
    y = rng.uniform(0.0, 1.0, n)
    w = y - rng.uniform(-1, 1, n) * np.sqrt(dy2 * y)
    return np.stack([h, y, w], axis=-1)


def realise_state(z0, dx2: float, dy2: float):
    """Explicit vectors with a 1-D hidden space whose (h, y, w) equal ``z0``.

    dh = s (a scalar), W_g = g (a column in a 2-D output space), dyhat = s g:
    y = s^2 |g|^2 and dy . g = (y - w) / s fix g and dy up to a rotation.
    Returns ``(dx, dy, w_f, w_g)`` for :func:`matrix_flow`.
    """
    h, y, w = z0
    s = np.sqrt(h)
    g = np.array([np.sqrt(y / h), 0.0])
    dy_along = (y - w) / s / g[0] if g[0] > 0 else 0.0
    dy = np.array([dy_along, np.sqrt(max(dy2 - dy_along**2, 0.0))])
    dx = np.array([np.sqrt(dx2)])
    return dx, dy, np.array([[s / np.sqrt(dx2)]]), g[:, None]


class _GiveUp(Exception):
    pass


def stiff_reference(z0, t, *, eta_h: float, eta_y: float, dx2: float, dy2: float, rtol: float = 1e-13,
                    method: str = "Radau"):
    """``(h, y, w)`` at times ``t`` from the vectors of :func:`realise_state`, integrated
    with a stiff method of scipy (Radau by default) in the problem's own units, at tight tolerance.

    Independent of ``solve``'s scaled form, method choice and Jacobian: gradient
    flow of ``W_f`` (1 x 1) and ``W_g`` (2 x 1) written from the loss, its
    Jacobian from finite differences. Returns None where the integrator fails.
    """
    dx, dy, w_f, w_g = realise_state(np.asarray(z0, dtype=float), dx2, dy2)
    dxs = float(dx[0])

    calls = [0]

    def field(_t, state):
        calls[0] += 1
        if calls[0] > 200_000:  # a bound on the reference's time, as on solve's
            raise _GiveUp
        wf, g = state[0], state[1:]
        s = wf * dxs
        e = dy - s * g
        return np.concatenate([[0.5 * eta_h * dxs * (g @ e)], 0.5 * eta_y * s * e])

    s0 = np.concatenate([w_f.ravel(), w_g.ravel()])
    scale = np.maximum(np.abs(s0), [np.abs(s0[0]), np.linalg.norm(s0[1:]) + np.linalg.norm(dy),
                                    np.linalg.norm(s0[1:]) + np.linalg.norm(dy)])
    scale = np.where(scale > 0, scale, 1.0)
    try:
        sol = solve_ivp(field, (0.0, t[-1] - t[0]), s0, t_eval=t - t[0], method=method, rtol=rtol,
                        atol=1e-3 * rtol * scale)
    except _GiveUp:
        return None
    if not sol.success:
        return None
    wf, g1, g2 = sol.y
    s = wf * dxs
    y = s * s * (g1 * g1 + g2 * g2)
    return np.stack([s * s, y, y - s * (dy[0] * g1 + dy[1] * g2)], axis=-1)
