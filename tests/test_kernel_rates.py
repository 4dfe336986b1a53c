"""Kernel rates (effective learning rates from the tangent kernels, no fit) and their diagnostics.

Oracles: an affine encoder and decoder give ``eta_h = eta_y = lr / 2``
exactly (docs/theory.md); a small nonlinear network written out as explicit
functions gives ``D_f`` and ``D_g`` from full Jacobians
(``torch.autograd.functional.jacobian``), the optimiser's preconditioner
recomputed by hand; the no-rotation construction ``W_f = u a^T``,
``W_g = c u^T`` keeps ``v`` parallel to ``dh``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch import nn

from repdyn.fast import choose_trainer, train_pair_fast, train_pairs_batched
from repdyn.nets import build_network, get_architecture
from repdyn.theory import npoint_distances
from repdyn.track import (
    KERNEL_FIELDS,
    PairTracking,
    STEP_FIELDS,
    encoder_tangent_kernel,
    split_parameters,
    track_pair,
    track_pairs,
    train_tracking_pair,
)

torch.set_num_threads(1)
F64 = torch.float64


def affine(d_in: int, d_h: int, d_out: int, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, d_h), nn.Linear(d_h, d_out)).to(F64)


def pair(d_in: int, d_out: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, d_in, generator=g, dtype=F64), torch.randn(2, d_out, generator=g, dtype=F64)


def kernel_rows(run: PairTracking) -> np.ndarray:
    return np.flatnonzero(np.isfinite(run.kernel_eta_h[:, 0]))


# --- the affine oracle ---------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [(1, 1, 1), (3, 5, 2), (4, 2, 3)])
def test_affine_network_has_both_rates_exactly_half_the_learning_rate(dims):
    lr = 0.03
    x, y = pair(dims[0], dims[2])
    run = track_pair(affine(*dims), "0", x, y, optimizer=functools.partial(torch.optim.SGD, lr=lr),
                     epochs=40, kernel_every=10)  # fmt: skip
    rows = kernel_rows(run)
    assert list(run.epochs[rows]) == [0, 10, 20, 30, 40]
    np.testing.assert_allclose(run.kernel_eta_h[rows, 0], lr / 2, rtol=1e-12)
    np.testing.assert_allclose(run.kernel_eta_y[rows, 0], lr / 2, rtol=1e-12)
    # D_f = dx2 * I: isotropic along every direction, whatever the probes.
    np.testing.assert_allclose(run.kernel_isotropy[rows, 0], 1.0, rtol=1e-12)


def test_affine_rates_scale_with_sgd_momentum_as_its_constant_gradient_limit():
    lr, mu, damp = 0.01, 0.9, 0.2
    x, y = pair(3, 2)
    run = track_pair(affine(3, 4, 2), "0", x, y, epochs=5, kernel_every=5,
                     optimizer=functools.partial(torch.optim.SGD, lr=lr, momentum=mu, dampening=damp))  # fmt: skip
    expected = lr * (1 - damp) / (1 - mu) / 2
    np.testing.assert_allclose(run.kernel_eta_h[kernel_rows(run), 0], expected, rtol=1e-12)
    np.testing.assert_allclose(run.kernel_eta_y[kernel_rows(run), 0], expected, rtol=1e-12)


def test_affine_step_rates_match_the_change_of_one_step():
    # dh and dyhat (at fixed h) are linear in the weights of an affine network,
    # so the first-order step is the exact change of one SGD step.
    lr = 0.05
    x, y = pair(3, 2)
    model = affine(3, 4, 2)
    before = [p.detach().clone() for p in model.parameters()]
    run = track_pair(model, "0", x, y, epochs=1, kernel_every=1, optimizer=functools.partial(torch.optim.SGD, lr=lr))
    w1, b1, w2, b2 = before
    dx = x[0] - x[1]
    hidden = x @ w1.T + b1
    dh = hidden[0] - hidden[1]
    err = y - (hidden @ w2.T + b2)
    e = err[0] - err[1]
    v = w2.T @ e
    dh_after = model[0].weight.detach() @ dx
    expected_h = 2 * torch.dot(v, dh_after - dh) / (torch.dot(dx, dx) * torch.dot(v, v))
    dyhat_change = (model[1].weight.detach() - w2) @ dh
    expected_y = 2 * torch.dot(e, dyhat_change) / (torch.dot(dh, dh) * torch.dot(e, e))
    np.testing.assert_allclose(run.step_eta_h[0, 0], float(expected_h), rtol=1e-10)
    np.testing.assert_allclose(run.step_eta_y[0, 0], float(expected_y), rtol=1e-10)
    # The common-mode error pushes the step away from the kernel rate (|x1| != |x2|).
    assert abs(run.step_eta_h[0, 0] - lr / 2) > 1e-3


# --- a nonlinear network against full Jacobians ---------------------------------------------------


class Tiny(nn.Module):
    """Encoder tanh(W2 tanh(W1 x + b1) + b2) up to ``rep``, decoder W4 tanh(W3 h + b3) + b4."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.enc1, self.enc2 = nn.Linear(3, 4), nn.Linear(4, 3)
        self.rep = nn.Tanh()
        self.dec1, self.dec2 = nn.Linear(3, 5), nn.Linear(5, 2)
        self.to(F64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.rep(self.enc2(torch.tanh(self.enc1(x))))
        return self.dec2(torch.tanh(self.dec1(h)))


ENCODER = ("enc1.weight", "enc1.bias", "enc2.weight", "enc2.bias")
DECODER = ("dec1.weight", "dec1.bias", "dec2.weight", "dec2.bias")


def encoder_fn(w1, b1, w2, b2, x):
    return torch.tanh(torch.tanh(x @ w1.T + b1) @ w2.T + b2)


def decoder_fn(w3, b3, w4, b4, h):
    return torch.tanh(h @ w3.T + b3) @ w4.T + b4


def brute_force(model: Tiny, x, y, precondition) -> dict[str, float]:
    """Every kernel quantity from the full Jacobians; ``precondition(name, grad)`` gives P."""
    params = dict(model.named_parameters())
    theta_f = tuple(params[n].detach() for n in ENCODER)
    theta_g = tuple(params[n].detach() for n in DECODER)
    flat = lambda jac: torch.cat([j.reshape(j.shape[0], -1) for j in jac], dim=1)  # noqa: E731
    jf = [flat(torch.autograd.functional.jacobian(lambda *t: encoder_fn(*t, x[i]), theta_f)) for i in (0, 1)]
    h = [encoder_fn(*theta_f, x[i]) for i in (0, 1)]
    jg_h = [torch.autograd.functional.jacobian(lambda hh: decoder_fn(*theta_g, hh), h[i]) for i in (0, 1)]
    jg = [flat(torch.autograd.functional.jacobian(lambda *t: decoder_fn(*t, h[i]), theta_g)) for i in (0, 1)]
    errors = [y[i] - decoder_fn(*theta_g, h[i]) for i in (0, 1)]
    v = jg_h[0].T @ errors[0] - jg_h[1].T @ errors[1]
    e = errors[0] - errors[1]
    dh = h[0] - h[1]
    dx2 = float(torch.dot(x[0] - x[1], x[0] - x[1]))
    grad_f = -0.5 * sum(jf[i].T @ jg_h[i].T @ errors[i] for i in (0, 1))  # dL/dtheta_f, L = 1/4 sum |e_i|^2
    grad_g = -0.5 * sum(jg[i].T @ errors[i] for i in (0, 1))
    sizes = lambda names: [params[n].numel() for n in names]  # noqa: E731
    p_f = torch.cat([precondition(n, g).reshape(-1) for n, g in zip(ENCODER, torch.split(grad_f, sizes(ENCODER)), strict=True)])
    p_g = torch.cat([precondition(n, g).reshape(-1) for n, g in zip(DECODER, torch.split(grad_g, sizes(DECODER)), strict=True)])
    d_jf, d_jg = jf[0] - jf[1], jg[0] - jg[1]
    d_f = d_jf @ torch.diag(p_f) @ d_jf.T
    d_g = d_jg @ torch.diag(p_g) @ d_jg.T
    v2, h2, e2 = (float(torch.dot(a, a)) for a in (v, dh, e))
    return {
        "kernel_eta_h": float(v @ d_f @ v) / (2 * dx2 * v2),
        "kernel_eta_y": float(e @ d_g @ e) / (2 * h2 * e2),
        "kernel_cos": float(torch.dot(v, dh)) / np.sqrt(v2 * h2),
        "kernel_isotropy": float(v @ d_f @ v) / v2 / (float(torch.trace(d_f)) / len(v)),
        "step_eta_h": -2 * float((d_jf.T @ v) @ (p_f * grad_f)) / (dx2 * v2),
        "step_eta_y": -2 * float((d_jg.T @ e) @ (p_g * grad_g)) / (h2 * e2),
    }


def sgd_precondition(lr):
    return lambda name, grad: torch.full_like(grad, lr)


def adam_precondition(model, opt):
    """Adam's next step, by hand: lr / (sqrt(v_hat) + eps) from the state and the next gradient."""
    params = dict(model.named_parameters())
    group = opt.param_groups[0]
    beta2, eps, lr = group["betas"][1], group["eps"], group["lr"]

    def precondition(name, grad):
        state = opt.state.get(params[name], {})
        steps = int(state["step"]) if "step" in state else 0
        v = (1 - beta2) * grad.reshape(params[name].shape) ** 2
        if "exp_avg_sq" in state:
            v = v + beta2 * state["exp_avg_sq"]
        return lr / (torch.sqrt(v / (1 - beta2 ** (steps + 1))) + eps)

    return precondition


def check_against(run: PairTracking, row: int, expected: dict[str, float], *, isotropy_rtol: float) -> None:
    for name in KERNEL_FIELDS + STEP_FIELDS:
        rtol = isotropy_rtol if name == "kernel_isotropy" else 1e-9
        np.testing.assert_allclose(getattr(run, name)[row, 0], expected[name], rtol=rtol, err_msg=name)


def test_split_of_the_tiny_network():
    split = split_parameters(Tiny(), "rep", pair(3, 2)[0])
    assert split.encoder == ENCODER and split.decoder == DECODER
    assert split.bypass == () and split.unused == ()


def test_sgd_rates_of_a_nonlinear_network_match_full_jacobians():
    lr = 0.1
    x, y = pair(3, 2)
    model = Tiny()
    expected = brute_force(model, x, y, sgd_precondition(lr))
    run = track_pair(model, "rep", x, y, epochs=1, kernel_every=1, kernel_probes=4000,
                     optimizer=functools.partial(torch.optim.SGD, lr=lr))  # fmt: skip
    check_against(run, 0, expected, isotropy_rtol=0.1)
    assert abs(expected["kernel_isotropy"] - 1) > 0.1  # the estimate must resolve it


@pytest.mark.parametrize("steps", [0, 3])
def test_adam_rates_use_the_preconditioner_of_the_next_step(steps):
    x, y = pair(3, 2)
    model = Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    if steps:
        track_pair(model, "rep", x, y, epochs=steps, optimizer=opt)
    expected = brute_force(model, x, y, adam_precondition(model, opt))
    run = track_pair(model, "rep", x, y, epochs=1, kernel_every=1, kernel_probes=4000, optimizer=opt)
    check_against(run, 0, expected, isotropy_rtol=0.1)


def test_rates_at_a_later_kernel_record_match_full_jacobians():
    lr = 0.1
    x, y = pair(3, 2)
    model = Tiny()
    run = track_pair(model, "rep", x, y, epochs=7, kernel_every=5, kernel_probes=4000,
                     optimizer=functools.partial(torch.optim.SGD, lr=lr))  # fmt: skip
    assert list(kernel_rows(run)) == [0, 5, 7]
    check_against(run, 7, brute_force(model, x, y, sgd_precondition(lr)), isotropy_rtol=0.1)


# --- the angle diagnostic --------------------------------------------------------------------------


def no_rotation_network(rotated: bool) -> nn.Sequential:
    """``W_f = u a^T``, ``W_g = c u^T``: v stays parallel to dh (docs/theory.md); ``rotated`` breaks it."""
    g = torch.Generator().manual_seed(5)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).to(F64)
    u = torch.randn(4, generator=g, dtype=F64)
    u /= u.norm()
    with torch.no_grad():
        model[0].weight.copy_(0.3 * torch.outer(u, torch.randn(3, generator=g, dtype=F64)))
        model[1].weight.copy_(0.3 * torch.outer(torch.randn(2, generator=g, dtype=F64), u))
        model[0].bias.copy_(0.1 * u)
        if rotated:
            model[0].weight.add_(0.3 * torch.randn(4, 3, generator=g, dtype=F64))
    return model


def test_angle_is_zero_where_no_rotation_holds_and_not_elsewhere():
    x, y = pair(3, 2)
    sgd = functools.partial(torch.optim.SGD, lr=0.05)
    run = track_pair(no_rotation_network(False), "0", x, y, epochs=200, kernel_every=20, optimizer=sgd)
    rows = kernel_rows(run)
    np.testing.assert_allclose(np.abs(run.kernel_cos[rows, 0]), 1.0, rtol=0, atol=1e-10)
    rotated = track_pair(no_rotation_network(True), "0", x, y, epochs=200, kernel_every=20, optimizer=sgd)
    assert np.abs(rotated.kernel_cos[rows, 0]).min() < 0.99


def test_one_dimensional_hidden_layer_never_rotates():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1), nn.Tanh(), nn.Linear(1, 8), nn.Tanh(),
                          nn.Linear(8, 2)).to(F64)  # fmt: skip
    x, y = pair(2, 2)
    run = track_pair(model, "3", x, y, epochs=30, kernel_every=10, optimizer=functools.partial(torch.optim.SGD, lr=0.1))
    np.testing.assert_allclose(np.abs(run.kernel_cos[kernel_rows(run), 0]), 1.0, atol=1e-12)


# --- the run's record -------------------------------------------------------------------------------


class Noisy(nn.Module):
    """Dropout and batch norm: a measurement forward in train mode would draw masks and update statistics."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(4)
        self.inp = nn.Linear(3, 8)
        self.norm = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.3)
        self.hidden = nn.Linear(8, 8)
        self.out = nn.Linear(8, 2)
        self.to(F64)

    def forward(self, x):
        return self.out(torch.tanh(self.hidden(self.drop(torch.tanh(self.norm(self.inp(x)))))))


@pytest.mark.parametrize("measure", ["eval", "train"])
@pytest.mark.parametrize("model_fn", [Tiny, Noisy], ids=["plain", "dropout-batchnorm"])
def test_training_is_unchanged_by_the_measurement(model_fn, measure):
    x, y = pair(3, 2)
    layer = "rep" if model_fn is Tiny else "hidden"
    sgd = functools.partial(torch.optim.SGD, lr=0.05)
    plain = track_pair(model_fn(), layer, x, y, epochs=12, optimizer=sgd, measure=measure, seed=7)
    measured_model = model_fn()
    measured = track_pair(measured_model, layer, x, y, epochs=12, optimizer=sgd, measure=measure, seed=7,
                          kernel_every=4)  # fmt: skip
    for name in ("h", "y", "w", "loss"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(measured, name))
    assert np.isfinite(measured.kernel_eta_h[[0, 4, 8, 12], 0]).all()
    assert np.isnan(measured.kernel_eta_h[[1, 5, 11], 0]).all()


def test_kernel_fields_survive_dict_xarray_and_frame():
    x, y = pair(3, 2)
    run = track_pair(Tiny(), ["rep", "enc1"], x, y, epochs=6, kernel_every=3,
                     optimizer=functools.partial(torch.optim.SGD, lr=0.1))  # fmt: skip
    back = PairTracking.from_dict(run.to_dict())
    assert back.kernel_every == 3
    for name in KERNEL_FIELDS + STEP_FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(run, name))
    ds = run.to_xarray()
    np.testing.assert_array_equal(ds["kernel_eta_y"].values, run.kernel_eta_y)
    assert ds.attrs["kernel_every"] == 3
    frame = run.to_frame()
    np.testing.assert_array_equal(frame["kernel_cos"].to_numpy(), run.kernel_cos.reshape(-1))
    plain = track_pair(Tiny(), "rep", x, y, epochs=2, optimizer=functools.partial(torch.optim.SGD, lr=0.1))
    assert plain.kernel_eta_h is None and "kernel_eta_h" not in plain.to_frame()
    assert PairTracking.from_dict(plain.to_dict()).kernel_every is None


def test_track_pairs_measures_each_pair_as_track_pair_does():
    g = torch.Generator().manual_seed(8)
    xs, ys = torch.randn(6, 3, generator=g, dtype=F64), torch.randn(6, 2, generator=g, dtype=F64)
    chosen = np.array([[0, 3], [2, 5], [1, 4]])
    sgd = functools.partial(torch.optim.SGD, lr=0.1)
    many = track_pairs(Tiny(), ["rep"], xs, ys, chosen, optimizer=sgd, epochs=4, kernel_every=2, kernel_probes=0)
    assert many.kernel_eta_h.shape == (3, 1, 5)
    for k, (i, j) in enumerate(chosen):
        one = track_pair(Tiny(), "rep", xs[[i, j]], ys[[i, j]], epochs=1, kernel_every=1, kernel_probes=0,
                         optimizer=sgd)  # fmt: skip
        for name in ("kernel_eta_h", "kernel_eta_y", "kernel_cos"):
            np.testing.assert_allclose(getattr(many, name)[k, 0, 0], getattr(one, name)[0, 0], rtol=1e-12)
    assert list(np.flatnonzero(np.isfinite(many.kernel_eta_h[0, 0]))) == [0, 2, 4]
    single = many.pair(0) if many.record_every == 1 else None
    assert single is not None and single.kernel_every == 2
    np.testing.assert_array_equal(single.kernel_eta_y[:, 0], many.kernel_eta_y[0, 0])
    assert set(KERNEL_FIELDS) <= set(many.to_xarray().data_vars)


def test_train_tracking_pair_and_adam_in_track_pairs():
    g = torch.Generator().manual_seed(9)
    xs, ys = torch.randn(8, 3, generator=g, dtype=F64), torch.randn(8, 2, generator=g, dtype=F64)
    adam = functools.partial(torch.optim.Adam, lr=0.01)
    run = train_tracking_pair(Tiny(), "rep", xs, ys, (1, 6), optimizer=adam, epochs=4, batch_size=8, seed=0,
                              kernel_every=2)  # fmt: skip
    # Full batch: the data set's gradient is the next step's, as in track_pair's Adam preconditioner.
    model = Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    expected = brute_force_on(model, opt, xs, ys, (1, 6))
    np.testing.assert_allclose(run.kernel_eta_h[0, 0], expected["kernel_eta_h"], rtol=1e-9)
    np.testing.assert_allclose(run.kernel_eta_y[0, 0], expected["kernel_eta_y"], rtol=1e-9)
    assert run.step_eta_h is None


def brute_force_on(model: Tiny, opt, xs, ys, chosen) -> dict[str, float]:
    """Adam's first preconditioner from the whole data set's gradient, the kernels from the pair."""
    loss = 0.5 * ((model(xs) - ys) ** 2).sum(dim=1).mean()
    grads = dict(zip([n for n, _ in model.named_parameters()], torch.autograd.grad(loss, list(model.parameters())), strict=True))
    group = opt.param_groups[0]
    precondition = lambda name, _grad: group["lr"] / (grads[name].abs() + group["eps"])  # noqa: E731
    i, j = chosen
    return brute_force(model, xs[[i, j]], ys[[i, j]], precondition)


# --- refusals ----------------------------------------------------------------------------------------


def test_bad_kernel_options_and_optimisers_are_refused():
    x, y = pair(3, 2)
    sgd = functools.partial(torch.optim.SGD, lr=0.1)
    for bad in (0, -3, 2.5, True, "25"):
        with pytest.raises((ValueError, TypeError), match="kernel_every"):
            track_pair(Tiny(), "rep", x, y, epochs=2, optimizer=sgd, kernel_every=bad)
    with pytest.raises(ValueError, match="kernel_probes"):
        track_pair(Tiny(), "rep", x, y, epochs=2, optimizer=sgd, kernel_every=1, kernel_probes=-1)
    with pytest.raises(ValueError, match="RMSprop"):
        track_pair(Tiny(), "rep", x, y, epochs=2, kernel_every=1, optimizer=functools.partial(torch.optim.RMSprop, lr=0.1))
    with pytest.raises(ValueError, match="no trainable parameters after"):
        track_pair(Tiny(), "", x, y, epochs=2, optimizer=sgd, kernel_every=1)


def test_fast_paths_refuse_kernel_rates_and_choose_trainer_sends_them_to_autograd():
    spec = get_architecture("shallow")
    network = build_network(spec, 1, 1, seed=0)
    x, y = torch.tensor([[-1.0], [0.0]]), torch.tensor([[0.6], [1.3]])
    with pytest.raises(ValueError, match="track_pair"):
        train_pair_fast(network, None, x, y, lr=0.01, epochs=2, kernel_every=5)
    with pytest.raises(ValueError, match="track_pair"):
        train_pairs_batched([network], x, y, lr=0.01, epochs=2, kernel_every=5)
    assert choose_trainer(spec) == "fast"
    assert choose_trainer(spec, kernel_rates=True) == "autograd"
    with pytest.raises(TypeError, match="kernel_rates"):
        choose_trainer(spec, kernel_rates="yes")


class Skip(nn.Module):
    """A skip over the tracked layer and an output projection tied to the input embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 3, bias=False)
        self.mid = nn.Linear(3, 3)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        a = torch.tanh(self.embed(x))
        h = torch.tanh(self.mid(a))
        return self.head(h + a) + x @ self.embed.weight[:2].T


def test_split_lists_parameters_that_bypass_the_layer():
    split = split_parameters(Skip(), "mid", torch.randn(2, 3))
    assert split.encoder == ("embed.weight", "mid.weight", "mid.bias")
    assert split.decoder == ("head.weight", "head.bias")
    assert split.bypass == ("embed.weight",)


# --- the encoder's tangent kernel on N points ---------------------------------------------------------


def brute_force_kernel(model: Tiny, xs: torch.Tensor) -> np.ndarray:
    params = dict(model.named_parameters())
    theta = tuple(params[n].detach() for n in ENCODER)
    jac = torch.autograd.functional.jacobian(lambda *t: encoder_fn(*t, xs), theta)  # each (N, d_h, *shape)
    flat = torch.cat([j.reshape(len(xs), 3, -1) for j in jac], dim=2)
    return (torch.einsum("ikp,jkp->ij", flat, flat) / 3).numpy()


def test_encoder_tangent_kernel_against_full_jacobians():
    xs = torch.randn(7, 3, generator=torch.Generator().manual_seed(11), dtype=F64)
    expected = brute_force_kernel(Tiny(), xs)
    np.testing.assert_allclose(encoder_tangent_kernel(Tiny(), "rep", xs, probes="exact"), expected, rtol=1e-12, atol=1e-14)
    estimate = encoder_tangent_kernel(Tiny(), "rep", xs, probes=8000, seed=1)
    assert np.abs(estimate - expected).max() < 0.03 * np.abs(expected).max()


def test_affine_encoder_kernel_is_the_linear_kernel_plus_one_and_feeds_npoint_distances():
    xs = torch.randn(6, 3, generator=torch.Generator().manual_seed(12), dtype=F64)
    ys = torch.randn(6, 2, generator=torch.Generator().manual_seed(13), dtype=F64).numpy()
    kernel = encoder_tangent_kernel(affine(3, 4, 2), "0", xs, probes="exact")
    np.testing.assert_allclose(kernel, xs.numpy() @ xs.numpy().T + 1, rtol=1e-12)
    # Centring removes the bias's constant: the structure of a linear encoder.
    np.testing.assert_allclose(
        npoint_distances(xs.numpy(), ys, eta_h=0.005, eta_y=0.005, kernel=kernel),
        npoint_distances(xs.numpy(), ys, eta_h=0.005, eta_y=0.005, kernel="linear"),
        rtol=1e-8, atol=1e-12,
    )


def test_zero_fit_inputs_run_the_theory_with_the_measured_rates():
    from repdyn.theory import solve, solve_varying

    lr = 0.02
    x, y = pair(3, 2)
    run = track_pair(affine(3, 4, 2), "0", x, y, epochs=60, kernel_every=20, optimizer=functools.partial(torch.optim.SGD, lr=lr))
    inputs = run.zero_fit_inputs()
    np.testing.assert_array_equal(inputs["rate_times"], [0.0, 20.0, 40.0, 60.0])
    zero_fit = solve_varying(**inputs)
    fixed = solve(inputs["z0"], inputs["t"], eta_h=lr / 2, eta_y=lr / 2, dx2=run.dx2, dy2=run.dy2)
    np.testing.assert_allclose(zero_fit, fixed, rtol=1e-7, atol=1e-12)
    short = run.zero_fit_inputs(last_epoch=30)
    assert short["t"][-1] == 30 and list(short["rate_times"]) == [0.0, 20.0]
    plain = track_pair(affine(3, 4, 2), "0", x, y, epochs=2, optimizer=functools.partial(torch.optim.SGD, lr=lr))
    with pytest.raises(ValueError, match="kernel_every"):
        plain.zero_fit_inputs()
