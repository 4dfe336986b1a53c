"""Effective learning rates measured from the network's tangent kernel, with no fit.

The derivation is in docs/theory.md ("Rates from the tangent kernel"). For a
pair of points and a tracked layer, the network is split into the encoder
parameters ``theta_f`` (every parameter the layer's output depends on) and
the decoder parameters ``theta_g`` (every other parameter the output depends
on). With ``dJ_f`` the difference of the encoder Jacobians at the two points,
``v = J_g1^T e_1 - J_g2^T e_2`` (each point's error pulled back to the layer
through the decoder; ``-4 dL/d(dh)``), ``e`` the difference of the two
errors and ``P`` the optimiser's preconditioner (``lr`` for SGD),

    eta_h = |dJ_f^T v|_P^2 / (2 dx2 |v|^2)        (|g|_P^2 = g . P g)
    eta_y = |dJ_g^T e|_P^2 / (2 h |e|^2)

are the rates at which the theory's linearised encoder and decoder would
move ``dh`` along ``v`` and ``dyhat`` along ``e`` as the network's kernels
do. ``dJ_f^T v`` is the gradient of ``v . dh`` with respect to ``theta_f``
(one backward pass from the layer), ``dJ_g^T e`` that of ``e . dyhat`` with
respect to ``theta_g`` at fixed ``h``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from repdyn import checks
from repdyn.track import _checks as check
from repdyn.track._layers import LayerHooks, resolve_layers, select_output
from repdyn.track._metrics import project_loss
from repdyn.track._record import measuring_mode
from repdyn.track._result import KERNEL_FIELDS, STEP_FIELDS

#: Default interval between kernel records, in records (epochs for
#: :func:`repdyn.track.track_pair`). A kernel record shares the training
#: step's forward and backward and adds a backward of the decoder and
#: ``1 + probes`` backward passes of the encoder: about four training steps
#: on the default network at paper width, so every 25th record costs 16 %
#: of training there (benchmarks/bench_kernel_rates.py: ratio 1.16).
KERNEL_EVERY = 25

#: Default number of random probes of the encoder kernel's trace (the
#: isotropy diagnostic); see :class:`KernelMeter`.
KERNEL_PROBES = 4

#: The columns of :meth:`KernelMeter.measure`.
ALL_FIELDS = KERNEL_FIELDS + STEP_FIELDS

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ParameterSplit:
    """Which parameters of a model are the encoder and the decoder at one layer.

    Attributes
    ----------
    layer : str
        The tracked layer.
    encoder : tuple of str
        Parameters the layer's output depends on (upstream of it in the
        autograd graph).
    decoder : tuple of str
        Parameters the model's output depends on that are not upstream of the
        layer: with the layer's output held fixed, only these move the output.
    bypass : tuple of str
        Encoder parameters that also reach the output on a path around the
        layer (a skip connection over it, an embedding tied to the output
        projection). They count as encoder parameters; their direct effect on
        the output is outside the theory's split and not in ``eta_y``.
    unused : tuple of str
        Parameters that reach neither (and frozen or unused ones).
    """

    layer: str
    encoder: tuple[str, ...]
    decoder: tuple[str, ...]
    bypass: tuple[str, ...]
    unused: tuple[str, ...]


def _reachable(roots: Sequence[Any], stop: Any = None) -> set[int]:
    """Ids of the leaf tensors reached from autograd nodes ``roots``, not passing through ``stop``."""
    seen: set[Any] = set()
    found: set[int] = set()
    stack = [node for node in roots if node is not None]
    while stack:
        node = stack.pop()
        if node in seen or node is stop:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)  # AccumulateGrad: a leaf tensor
        if variable is not None:
            found.add(id(variable))
        stack.extend(child for child, _ in node.next_functions if child is not None)
    return found


def _split(
    model: nn.Module, layer: str, layer_output: torch.Tensor, output: torch.Tensor
) -> ParameterSplit:
    """The split of :class:`ParameterSplit` read off the autograd graph of one forward."""
    node = layer_output.grad_fn
    upstream = _reachable([node])
    to_output = _reachable([output.grad_fn])
    around = _reachable([output.grad_fn], stop=node)
    named = list(model.named_parameters())
    encoder = tuple(name for name, p in named if id(p) in upstream)
    decoder = tuple(name for name, p in named if id(p) in to_output and id(p) not in upstream)
    bypass = tuple(name for name, p in named if id(p) in upstream and id(p) in around)
    unused = tuple(name for name, p in named if id(p) not in upstream | to_output)
    return ParameterSplit(layer, encoder, decoder, bypass, unused)


class _Capture(LayerHooks):
    """Forward hooks that keep each tracked layer's output (with its graph) during one armed forward."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__(model, names)
        self.outputs: list[tuple[torch.Tensor, int] | None] | None = None

    def _hook(self, index: int):
        def hook(module: nn.Module, inputs: object, output: object) -> None:
            if self.outputs is None or self.outputs[index] is not None:
                return
            tensor = select_output(self.names[index], output)
            self.outputs[index] = (tensor, tensor._version)

        return hook

    @contextlib.contextmanager
    def armed(self) -> Iterator[list[torch.Tensor]]:
        """Keep the tracked layers' outputs of the forward run inside the block; filled at its end."""
        layers: list[torch.Tensor] = []
        self.outputs = [None] * len(self.names)
        try:
            yield layers
            captured = self.outputs
        finally:
            self.outputs = None
        for name, item in zip(self.names, captured, strict=True):
            if item is None:
                raise ValueError(f"layer {name!r} did not run in the forward pass; it has no kernel")
            tensor, version = item
            if tensor._version != version:
                raise ValueError(
                    f"layer {name!r}: its output was modified in place after the layer ran (an "
                    "inplace activation?), so its autograd graph no longer describes it; kernel "
                    "rates need an out-of-place model there (e.g. nn.ReLU(inplace=False))"
                )
            layers.append(tensor)

    def forward(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``model(x)`` and every tracked layer's output from it."""
        with self.armed() as layers:
            pred = model(x)
        return pred, layers


def _pattern(a: torch.Tensor, shape: torch.Size, batch_dim: int) -> torch.Tensor:
    """Gradient seeds ``(+a, -a)`` on a two-point output of ``shape``: one per row of ``a`` (B, F)."""
    moved = list(shape)
    moved.insert(0, moved.pop(batch_dim))  # the two points first
    seeds = torch.stack([a, -a], dim=1).reshape(a.shape[0], *moved)
    return seeds.movedim(1, batch_dim + 1)


def _pair_rows(tensor: torch.Tensor, batch_dim: int) -> torch.Tensor:
    return tensor.movedim(batch_dim, 0).reshape(2, -1)


def check_optimizer(optimizer: torch.optim.Optimizer) -> None:
    """Refuse an optimiser whose step the kernel rates do not describe."""
    if not isinstance(optimizer, torch.optim.SGD | torch.optim.Adam | torch.optim.AdamW):
        raise ValueError(
            f"kernel rates know the steps of torch.optim.SGD, Adam and AdamW; got "
            f"{type(optimizer).__name__}. Train with one of those, or record without kernel rates"
        )
    for group in optimizer.param_groups:
        if group.get("maximize", False):
            raise ValueError("kernel rates need a minimising optimiser; got maximize=True")


class Preconditioner:
    """The optimiser's step as a diagonal map ``step = -P g`` on each parameter.

    - SGD: ``P = lr`` per parameter group; with momentum ``mu`` and dampening
      ``d``, ``lr (1 - d) / (1 - mu)``, the step of a gradient that stays
      constant over the momentum's memory (also for Nesterov, which has
      ``d = 0``).
    - Adam, AdamW: ``P = lr / (sqrt(v_hat) + eps)`` with ``v_hat`` the
      bias-corrected second moment of the next step,
      ``(beta2 v_t + (1 - beta2) g^2) / (1 - beta2^(t+1))`` from the state
      after ``t`` steps and the gradient ``g`` that step takes (with
      AMSGrad, the running maximum). The first moment is taken as ``g``
      itself (its bias-corrected steady state): the kernel is that of a
      preconditioned gradient flow, without momentum.

    Weight decay is not a kernel term and is left out. A parameter the
    optimiser does not hold has ``P = 0``: it does not move.
    """

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        check_optimizer(optimizer)
        self.optimizer = optimizer
        self.adaptive = not isinstance(optimizer, torch.optim.SGD)

    def of(
        self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor | None] | None
    ) -> list[float | torch.Tensor]:
        """``P`` of each parameter (a float, or a float64 tensor of its shape).

        ``grads`` is the gradient of the next step for each parameter; Adam
        needs it (None stands for a zero gradient), SGD ignores it.
        """
        if self.adaptive and grads is None:
            raise RuntimeError("Adam's preconditioner needs the next step's gradient")  # a loop bug
        where = {}
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                where[id(p)] = group
        out: list[float | torch.Tensor] = []
        for k, p in enumerate(params):
            group = where.get(id(p))
            if group is None:
                out.append(0.0)
                continue
            lr = float(group["lr"])
            if not self.adaptive:
                mu, damp = float(group.get("momentum", 0.0)), float(group.get("dampening", 0.0))
                out.append(lr if mu == 0 else lr * (1 - damp) / (1 - mu))
                continue
            beta2, eps = float(group["betas"][1]), float(group["eps"])
            state = self.optimizer.state.get(p, {})
            steps = int(state["step"]) if "step" in state else 0
            g = grads[k]  # type: ignore[index]
            g2 = torch.zeros_like(p, dtype=torch.float64) if g is None else g.detach().double() ** 2
            v = (1 - beta2) * g2
            if "exp_avg_sq" in state:
                v = v + beta2 * state["exp_avg_sq"].double()
            if group.get("amsgrad", False) and "max_exp_avg_sq" in state:
                v = torch.maximum(v, state["max_exp_avg_sq"].double())
            v_hat = v / (1 - beta2 ** (steps + 1))
            out.append(lr / (v_hat.sqrt() + eps))
        return out


def _quadratic(grads: Sequence[torch.Tensor], precond: Sequence[float | torch.Tensor]) -> torch.Tensor:
    """``g . P g`` summed over parameters, for each row of a batch of gradients, as float64.

    Each parameter's sum runs in the gradient's own dtype (torch sums in
    blocks, so float32 keeps about 1e-6 relative accuracy); the sums over
    parameters are float64. Copying gradients to float64 first cost more
    than the backward passes themselves.
    """
    total = torch.zeros((), dtype=torch.float64, device=grads[0].device)
    for g, p in zip(grads, precond, strict=True):
        flat = g.reshape(g.shape[0], -1)
        weighted = flat * p.reshape(-1).to(flat.dtype) if isinstance(p, torch.Tensor) else flat
        squares = torch.linalg.vecdot(flat, weighted).double()
        total = total + (squares if isinstance(p, torch.Tensor) else p * squares)
    return total


def _bilinear(
    a: Sequence[torch.Tensor], b: Sequence[torch.Tensor | None], precond: Sequence[float | torch.Tensor]
) -> torch.Tensor:
    """``sum_p a_p . P_p b_p`` as float64 (a missing ``b_p`` is zero)."""
    pairs = [(x, y, p) for x, y, p in zip(a, b, precond, strict=True) if y is not None]
    if not pairs:
        return torch.zeros((), dtype=torch.float64, device=a[0].device)
    return sum(  # type: ignore[return-value]
        _quadratic([x.reshape(1, -1)], [p]) if x is y else
        torch.linalg.vecdot(x.reshape(-1), (y * p.to(y.dtype) if isinstance(p, torch.Tensor) else y).reshape(-1)).double()
        * (1.0 if isinstance(p, torch.Tensor) else p)
        for x, y, p in pairs
    )


def _keep(store: list[torch.Tensor | None], index: int, grad: torch.Tensor) -> None:
    store[index] = grad


@contextlib.contextmanager
def _untouched(model: nn.Module, device: torch.device, mode: str) -> Iterator[None]:
    """Leave the run as if the measurement never happened: random streams and buffers restored.

    A train-mode forward draws dropout masks and updates batch-norm running
    statistics; both are put back so that a run with kernel rates trains
    exactly as one without.
    """
    devices = [] if device.type == "cpu" else [device]
    saved = [b.detach().clone() for b in model.buffers()] if mode == "train" else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if devices else "cuda"):
        try:
            yield
        finally:
            with torch.no_grad():
                for buffer, value in zip(model.buffers(), saved, strict=False):
                    buffer.copy_(value)


class KernelMeter:
    """Measures the kernel rates and the two diagnostics of one pair at every tracked layer.

    Parameters
    ----------
    model : nn.Module
    names : tuple of str
        The tracked layers (resolved names, selectors allowed).
    batch_dims : tuple of int
        Per layer, the dimension of its output that holds the two points.
    optimizer : torch.optim.Optimizer
        SGD, Adam or AdamW (:class:`Preconditioner`).
    probes : int
        Rademacher probes ``z`` of the trace of ``D_f`` (the isotropy
        diagnostic): ``tr(D_f)/d_h`` is estimated by the mean of
        ``z . D_f z / |z|^2``, unbiased, with a relative standard error of at
        most ``sqrt(2 / probes)`` (much less when ``D_f`` has many comparable
        eigenvalues). 0 skips the diagnostic (NaN).
    seed : int
        Seeds the probes.
    loss_scale : float, default 1
        The run steps on ``loss_scale * project_loss`` (:func:`repdyn.track.loss_scale`):
        the gradients a trainer hands in (:meth:`backward`, ``param_grads``)
        are of that loss, the step moves ``loss_scale`` times as far as on the
        project loss, and so the rates include the factor. ``v`` and ``e``
        stay in the project loss's convention.

    One measurement is one forward of the two points with gradients, one
    backward for the gradient of the loss (every parameter, and the layers'
    outputs, which give ``v``), one backward of the decoder per layer, and
    one batched backward of the encoder per layer for ``v`` and the probes.
    """

    def __init__(
        self,
        model: nn.Module,
        names: tuple[str, ...],
        batch_dims: tuple[int, ...],
        optimizer: torch.optim.Optimizer,
        *,
        probes: int,
        seed: int,
        device: torch.device,
        loss_scale: float = 1.0,
    ) -> None:
        self.model = model
        self.loss_scale = checks.real("loss_scale", loss_scale, above=0)
        self.names = names
        self.batch_dims = batch_dims
        self.preconditioner = Preconditioner(optimizer)
        self.probes = probes
        self.device = device
        self._generator = torch.Generator(device=device).manual_seed(seed)
        self._capture = _Capture(model, names)
        self._params = [p for p in model.parameters() if p.requires_grad]
        self._splits: list[tuple[list[int], list[int]]] | None = None
        # One backward per seed on a CPU, where a batched backward measured
        # slower than the loop; batched elsewhere (falls back if unsupported).
        self._batched = device.type != "cpu"

    def __enter__(self) -> KernelMeter:
        self._capture.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._capture.__exit__(*exc_info)

    def splits(self, layers: list[torch.Tensor], pred: torch.Tensor) -> list[tuple[list[int], list[int]]]:
        """Per layer, the positions in ``self._params`` of its encoder and decoder parameters."""
        if self._splits is None:
            position = {id(p): k for k, p in enumerate(self._params)}
            named = dict(self.model.named_parameters())
            found = []
            for name, layer in zip(self.names, layers, strict=True):
                split = _split(self.model, name, layer, pred)
                encoder = [position[id(named[n])] for n in split.encoder if id(named[n]) in position]
                decoder = [position[id(named[n])] for n in split.decoder if id(named[n]) in position]
                if not encoder or not decoder:
                    side = "before" if not encoder else "after"
                    raise ValueError(
                        f"layer {name!r} has no trainable parameters {side} it, so one of its "
                        "kernels is empty; kernel rates need a layer with trainable parameters "
                        "on both sides (not the input nor the output)"
                    )
                found.append((encoder, decoder))
            self._splits = found
        return self._splits

    def _grads(self, outputs: torch.Tensor, inputs: list[torch.Tensor], seeds: torch.Tensor) -> list[torch.Tensor]:
        """Vector-Jacobian products of ``outputs`` for every seed (rows of ``seeds``), one stack per input."""
        if self._batched:
            try:
                found = torch.autograd.grad(
                    outputs, inputs, grad_outputs=seeds, retain_graph=True,
                    allow_unused=True, is_grads_batched=True,
                )  # fmt: skip
            except RuntimeError:
                self._batched = False  # an operation without a batching rule: one seed at a time
            else:
                return [p.new_zeros((len(seeds), *p.shape)) if g is None else g
                        for g, p in zip(found, inputs, strict=True)]  # fmt: skip
        rows = [
            torch.autograd.grad(outputs, inputs, grad_outputs=seed, retain_graph=True, allow_unused=True)
            for seed in seeds
        ]
        return [
            torch.stack([p.new_zeros(p.shape) if row[k] is None else row[k] for row in rows])
            for k, p in enumerate(inputs)
        ]

    def armed(self) -> contextlib.AbstractContextManager[list[torch.Tensor]]:
        """Capture the tracked layers' outputs of a forward run in the block (e.g. a training forward)."""
        return self._capture.armed()

    def measure(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        mode: str,
        precondition: list[float | torch.Tensor] | None = None,
        step: bool = False,
    ) -> torch.Tensor:
        """The kernel quantities of the pair ``(x, y)`` at every layer, from a forward of its own.

        Returns ``(L, 6)`` float64 values, columns :data:`ALL_FIELDS` (the step
        rates NaN unless ``step``). The forward runs in mode ``mode`` and
        leaves random streams and buffers as they were. ``precondition`` is
        ``P`` of every trainable parameter (:meth:`Preconditioner.of`); None
        takes it from the optimiser and this pair's own gradient (the next
        step of :func:`repdyn.track.track_pair`).
        """
        model = self.model
        with _untouched(model, self.device, mode), measuring_mode(model, mode), torch.enable_grad():
            pred, layers = self._capture.forward(model, x)
            full = step or (precondition is None and self.preconditioner.adaptive)
            found = torch.autograd.grad(
                self.loss_scale * project_loss(pred, y), [*layers, *(self._params if full else [])],
                retain_graph=True, allow_unused=True,
            )  # fmt: skip
            return self.kernel(
                x, y, pred, layers, found[: len(layers)], found[len(layers) :] if full else None,
                precondition=precondition, step=step,
            )  # fmt: skip

    def backward(self, loss: torch.Tensor, layers: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """``loss.backward()`` keeping the graph (for :meth:`kernel`), and the gradient at each layer.

        The parameters' gradients are left in ``.grad`` exactly as a plain
        ``loss.backward()`` leaves them, so a trainer steps as it would have.
        """
        found: list[torch.Tensor | None] = [None] * len(layers)
        handles = []
        for index, layer in enumerate(layers):
            if layer.requires_grad:
                handles.append(layer.register_hook(functools.partial(_keep, found, index)))
        try:
            loss.backward(retain_graph=True)
        finally:
            for handle in handles:
                handle.remove()
        return found

    @property
    def params(self) -> list[torch.Tensor]:
        """The trainable parameters, in the order of every per-parameter list here."""
        return self._params

    def kernel(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        pred: torch.Tensor,
        layers: list[torch.Tensor],
        layer_grads: Sequence[torch.Tensor | None],
        param_grads: Sequence[torch.Tensor | None] | None,
        *,
        precondition: list[float | torch.Tensor] | None = None,
        step: bool = False,
    ) -> torch.Tensor:
        """The kernel quantities from a forward already run, with its graph kept.

        ``layers`` are the tracked layers' outputs of that forward (captured
        under :meth:`armed`), ``layer_grads`` the gradient of the trained loss
        (``loss_scale * project_loss``) at each (None where the loss does not
        depend on it), ``param_grads`` that of every
        trainable parameter (needed for ``step`` and for Adam without
        ``precondition``; None otherwise). Returns ``(L, 6)`` as
        :meth:`measure`.
        """
        params = self._params
        splits = self.splits(layers, pred)
        if precondition is None:
            precondition = self.preconditioner.of(params, param_grads)
        error = (y - pred).detach().reshape(2, -1).double()
        e = error[0] - error[1]
        e2 = torch.dot(e, e)
        inputs = x.detach().reshape(2, -1).double()
        dx2 = torch.dot(inputs[0] - inputs[1], inputs[0] - inputs[1])
        e_seed = _pattern(e[None].to(pred.dtype), pred.shape, 0)
        out = torch.full((len(layers), len(ALL_FIELDS)), float("nan"), dtype=torch.float64, device=x.device)
        for index, (layer, grad, (enc, dec)) in enumerate(zip(layers, layer_grads, splits, strict=True)):
            dim = self.batch_dims[index]
            pulled = _pair_rows(torch.zeros_like(layer) if grad is None else grad, dim).detach()
            # J_g1^T e_1 - J_g2^T e_2, as dL/dh_i = -J_gi^T e_i / 2 for the project loss L
            v = (-2.0 / self.loss_scale) * (pulled[0] - pulled[1])
            rows = _pair_rows(layer, dim).detach()
            v64, dh64 = v.double(), (rows[0] - rows[1]).double()
            v2, h = torch.dot(v64, v64), torch.dot(dh64, dh64)
            width = v.numel()
            signs = torch.randint(0, 2, (self.probes, width), generator=self._generator, device=x.device)
            seeds = torch.cat([v[None], (2 * signs - 1).to(v.dtype)])
            enc_p = [precondition[k] for k in enc]
            g_f = self._grads(layer, [params[k] for k in enc], _pattern(seeds, layer.shape, dim))
            quad = _quadratic(g_f, enc_p)  # v, then each probe
            dec_p = [precondition[k] for k in dec]
            g_g = self._grads(pred, [params[k] for k in dec], e_seed)
            # A step on loss_scale * L moves dh and dyhat loss_scale times as far as one on L.
            out[index, 0] = self.loss_scale * quad[0] / (2 * dx2 * v2)
            out[index, 1] = self.loss_scale * _quadratic(g_g, dec_p)[0] / (2 * h * e2)
            out[index, 2] = torch.dot(v64, dh64) / torch.sqrt(v2 * h)
            if self.probes:
                mean_eigenvalue = quad[1:].mean() / width  # |z|^2 = width for Rademacher z
                out[index, 3] = quad[0] / v2 / mean_eigenvalue
            if step:
                assert param_grads is not None  # a loop bug otherwise
                along_v = _bilinear([g[0] for g in g_f], [param_grads[k] for k in enc], enc_p)
                along_e = _bilinear([g[0] for g in g_g], [param_grads[k] for k in dec], dec_p)
                # The step is -P grad L; the theory moves v . dh by eta_h dx2 |v|^2 / 2 per step.
                out[index, 4] = -2 * along_v / (dx2 * v2)
                out[index, 5] = -2 * along_e / (h * e2)
        return out


def data_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, *, mode: str, loss_scale: float = 1.0
) -> list[torch.Tensor | None]:
    """Gradient of ``loss_scale`` times the project loss over the whole data set, for every trainable parameter.

    Computed in minibatches of ``batch_size`` (each weighted by its size), in
    mode ``mode``, leaving random streams and buffers as they were.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    total: list[torch.Tensor | None] = [None] * len(params)
    n = x.shape[0]
    with _untouched(model, x.device, mode), measuring_mode(model, mode), torch.enable_grad():
        for begin in range(0, n, batch_size):
            target = y[begin : begin + batch_size]
            loss = project_loss(model(x[begin : begin + batch_size]), target) * (loss_scale * target.shape[0] / n)
            found = torch.autograd.grad(loss, params, allow_unused=True)
            total = [g if t is None else (t if g is None else t + g) for t, g in zip(total, found, strict=True)]
    return total


class KernelLog:
    """Device rows of kernel quantities, one per kernel record, copied to the host once at the end."""

    def __init__(self, n_rows: int, shape: tuple[int, ...], device: torch.device) -> None:
        self._buf = torch.full((n_rows, *shape), float("nan"), dtype=torch.float64, device=device)
        self.rows: list[int] = []  # the record index of each filled row

    def add(self, record: int, values: torch.Tensor) -> None:
        self._buf[len(self.rows)] = values
        self.rows.append(record)

    def host(self, n_records: int, *, stop: int | None = None) -> FloatArray:
        """``(n_records, *shape)`` on the host, NaN where no kernel record was made (or after ``stop``)."""
        out = np.full((n_records, *self._buf.shape[1:]), np.nan)
        if self.rows:
            values = self._buf[: len(self.rows)].cpu().numpy()
            out[self.rows] = values
        if stop is not None:
            out[stop + 1 :] = np.nan
        return out


def kernel_records(n_records: int, every: int) -> int:
    """Most kernel records a run of ``n_records`` records makes: ``0, k, 2k, ...`` and the last."""
    return math.ceil(n_records / every) + 1


def check_kernel_options(kernel_every: Any, probes: Any) -> tuple[int | None, int]:
    """``kernel_every`` (None: off) and ``kernel_probes`` checked."""
    every = checks.integer("kernel_every", kernel_every, minimum=1, allow_none=True,
                           fix="pass None (no kernel rates) or the records between kernel records")  # fmt: skip
    count = checks.integer("kernel_probes", probes, minimum=0, fix="0 skips the isotropy diagnostic")
    return every, int(count)  # type: ignore[arg-type]


def split_parameters(model: nn.Module, layer: Any, x: Any) -> ParameterSplit:
    """The encoder and decoder parameters of ``model`` at ``layer``, read off one forward of ``x``.

    The rule: a parameter is an *encoder* parameter if the layer's output
    depends on it (it is upstream of the layer in the autograd graph), a
    *decoder* parameter if the model's output depends on it and the layer's
    output does not. The walk is structural: a parameter whose gradient
    happens to be zero (a dead unit) is still counted.

    Limits. The theory assumes the output depends on the encoder only
    through the layer. Where a parameter upstream of the layer also reaches
    the output around it (a skip connection over the layer, an input
    embedding tied to the output projection) it is listed in ``bypass``: it
    stays an encoder parameter (its gradient along ``v`` through the layer
    is measured), and its direct effect on the output is in neither kernel.
    A parameter shared between two places after the layer is simply a
    decoder parameter.

    Parameters
    ----------
    model : nn.Module
    layer : str
        A submodule name (with selectors, as for :func:`repdyn.track.track_pair`).
    x : array_like or Tensor
        Inputs of one forward (any batch; cast to the model's device and dtype).

    Returns
    -------
    ParameterSplit
    """
    device, dtype = check.model_placement(model)
    (name,) = resolve_layers(model, [layer])
    x = check.tensor("x", x, dtype=dtype, device=device)
    with _Capture(model, (name,)) as capture, torch.enable_grad():
        pred, (output,) = capture.forward(model, x)
    if not isinstance(pred, torch.Tensor):
        raise TypeError(f"model(x) returned a {type(pred).__name__}; it must return a tensor")
    return _split(model, name, output, pred)



def encoder_tangent_kernel(
    model: nn.Module,
    layer: Any,
    x: Any,
    *,
    probes: int | str = 512,
    seed: int = 0,
    measure: str = "eval",
    batch_dim: int = 0,
    chunk_size: int = 32,
) -> FloatArray:
    """The encoder's tangent kernel at ``layer`` on ``N`` points, as an ``(N, N)`` scalar kernel.

    With ``J_i`` the Jacobian of the layer's output at ``x_i`` (flattened,
    ``d_h`` values) with respect to the encoder parameters (those upstream of
    the layer, :func:`split_parameters`), the tangent kernel is the
    ``d_h x d_h`` block matrix ``J_i J_j^T``; its scalar form is the mean of
    its diagonal,

        K_ij = tr(J_i J_j^T) / d_h,

    the isotropic part of each block (the multiple of the identity closest
    to it). Gradient descent at learning rate ``lr`` on ``L = 1/2 mean_i
    ||y_i - yhat_i||^2`` moves the representations by ``lr/N sum_j J_i J_j^T
    dL/dh_j``; replacing each block by ``K_ij I`` gives the flow of
    :func:`repdyn.theory.npoint_distances` with ``kernel=K`` and
    ``eta_h = lr / 2`` (and ``eta_y = lr / 2`` for a linear decoder; only the
    ratio enters its rich limit); on a loss ``c`` times that (the loss
    conventions of :func:`repdyn.track.loss_scale`) the rates are ``c`` times
    these. For two points ``K_11 + K_22 - 2 K_12`` is
    the mean eigenvalue of the kernel ``D_f`` of the kernel rates. For an
    affine encoder ``f(x) = W x + b``, ``K_ij = x_i . x_j + 1``. The plain
    parameter inner product is used (no optimiser preconditioner).

    Parameters
    ----------
    model : nn.Module
    layer : str or nn.Module
        The tracked layer (as for :func:`repdyn.track.track_pair`).
    x : array_like or Tensor, shape (N, ...)
        The points (N >= 2).
    probes : int or "exact", default 512
        Random Gaussian directions ``r`` in the encoder's parameter space:
        ``K`` is estimated by the mean of ``(J_i r) . (J_j r) / d_h``, one
        forward-mode product of the whole batch per direction (unbiased;
        its relative error falls as ``1 / sqrt(probes * d_h)`` for a kernel
        of high rank). ``"exact"`` uses every coordinate direction of the
        parameter space instead: exact, one product per encoder parameter,
        for small models.
    seed : int, default 0
        Seeds the random directions.
    measure : {"eval", "train"}, default "eval"
        Mode of the forward passes.
    batch_dim : int, default 0
        Dimension of the layer's output that holds the points.
    chunk_size : int, default 32
        Directions per vectorised product (memory: ``chunk_size`` times one
        forward of the batch).

    Returns
    -------
    ndarray, shape (N, N)
        Symmetric positive semi-definite, float64.
    """
    from torch.func import functional_call, jvp, vmap

    from repdyn.track._layers import batch_dims as resolve_dims

    device, dtype = check.model_placement(model)
    (name,) = resolve_layers(model, [layer])
    (dim,) = resolve_dims(batch_dim, (name,))
    mode = check.measure_mode(measure)
    x = check.tensor("x", x, dtype=dtype, device=device)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"x must hold at least 2 points for a kernel between them; got {n}")
    exact = isinstance(probes, str) and probes == "exact"
    if not exact and (isinstance(probes, bool) or not isinstance(probes, int | np.integer) or probes < 1):
        raise ValueError(f'probes must be an int >= 1 or "exact"; got {probes!r}')
    check.positive_int("chunk_size", chunk_size)
    named = dict(model.named_parameters())
    with measuring_mode(model, mode):
        capture = _Capture(model, (name,))
        with capture, torch.enable_grad():
            pred, (output,) = capture.forward(model, x[:2])
            encoder = [n_ for n_ in _split(model, name, output, pred).encoder if named[n_].requires_grad]
        if not encoder:
            raise ValueError(f"layer {name!r} has no trainable parameters before it; its kernel is zero")
        primals = {n_: named[n_].detach() for n_ in encoder}
        sizes = [p.numel() for p in primals.values()]
        total = sum(sizes)

        def layer_output(params: dict[str, torch.Tensor]) -> torch.Tensor:
            with capture.armed() as found:
                functional_call(model, params, (x,), strict=False)
            return found[0].movedim(dim, 0).reshape(n, -1)

        def tangent_product(flat: torch.Tensor) -> torch.Tensor:
            tangents = {
                key: part.view_as(p)
                for (key, p), part in zip(primals.items(), torch.split(flat, sizes), strict=True)
            }
            return jvp(layer_output, (primals,), (tangents,))[1]

        batched = vmap(tangent_product, randomness="same")
        generator = torch.Generator(device=device).manual_seed(seed)
        kernel = torch.zeros((n, n), dtype=torch.float64, device=device)
        count = total if exact else int(probes)
        width = None
        with capture, torch.no_grad(), warnings.catch_warnings():
            # torch's own forward-mode AD calls a deprecated torch.jit.script internally.
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
            for begin in range(0, count, chunk_size):
                rows = min(chunk_size, count - begin)
                if exact:
                    directions = torch.zeros((rows, total), dtype=dtype, device=device)
                    directions[torch.arange(rows), torch.arange(begin, begin + rows)] = 1
                else:
                    directions = torch.randn((rows, total), generator=generator, dtype=dtype, device=device)
                products = batched(directions).double()  # (rows, N, d_h)
                width = products.shape[-1]
                flat = products.permute(1, 0, 2).reshape(n, -1)
                kernel += flat @ flat.T
    kernel /= width * (1 if exact else count)
    out = kernel.cpu().numpy()
    return 0.5 * (out + out.T)
