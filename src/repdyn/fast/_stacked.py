"""Many networks of one architecture as one computation: stacked parameters under ``torch.func``.

The parameters of ``T`` networks are stacked along a leading trial dimension,
and the network's own forward (its module, through
:func:`torch.func.functional_call`) is vectorised over them with
:func:`torch.func.vmap`; :func:`torch.func.grad_and_value` gives every trial's
gradient of its own loss. Linear layers become batched products, the
convolutions grouped convolutions, so the architecture is written once (in
:class:`repdyn.nets.Network`) for the per-trial and the batched engine alike.

Randomness and optimiser state stay per trial:

- dropout draws, for each trial, the masks ``nn.Dropout`` draws on the CPU in
  :func:`repdyn.track.track_pair` with that trial's seed (the same generator,
  the same calls in the same order); they are drawn on the host a chunk of
  epochs ahead and copied to the device, so a trial's masks do not depend on
  the device, on the batch it runs in, or on the other trials;
- Adam keeps each trial's moments in stacked tensors and updates them with the
  formulas of ``torch.optim.Adam`` (the trials of a batch share their step
  count, since they step together).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import nn

from repdyn.fast._layout import network_reason
from repdyn.nets import Block, Network, make_optimizer
from repdyn.track import project_loss


def stack_reason(network: object) -> str | None:
    """Why :class:`StackedNetworks` cannot train ``network``, or None if it can."""
    reason = network_reason(network, "the batched engine")
    if reason is not None:
        return reason
    for k, block in enumerate(network.hidden):
        if type(block) is not Block:
            return f"hidden layer {k} is not a repdyn.nets.Block"
    if type(network.dropout) not in (nn.Identity, nn.Dropout):
        return "the network's dropout is neither nn.Identity nor nn.Dropout"
    random = [name for name, module in network.named_modules()
              if isinstance(module, nn.modules.dropout._DropoutNd) and module is not network.dropout]  # fmt: skip
    if random:
        return f"modules {random} draw random numbers; only the network's own dropout is supported"
    if any(True for _ in network.buffers()):
        return "the network holds buffers (running statistics); the batched engine has none"
    return None


def dropout_probability(network: Network) -> float:
    """The drop probability of the network's dropout in training (0 when it has none)."""
    return float(network.dropout.p) if isinstance(network.dropout, nn.Dropout) else 0.0


def _structure(network: Network) -> tuple[Any, ...]:
    """What two networks of one batch must share: every module (type and settings) and parameter shape."""
    return (
        network.in_dim,
        network.out_dim,
        network.skip,
        tuple((name, type(m), m.extra_repr()) for name, m in network.named_modules()),
        tuple((name, tuple(p.shape), p.dtype) for name, p in network.named_parameters()),
    )


class _GivenNoise(nn.Module):
    """Stands in for the network's ``nn.Dropout``: multiplies by the next of the noise tensors given.

    ``nn.Dropout`` in training multiplies its input by ``bernoulli(1 - p) / (1 - p)``;
    the batched engine draws those tensors itself (:class:`DropoutNoise`), so the
    forward only multiplies. With no noise given it is the identity, as
    dropout is in eval mode.
    """

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.queue:
            return x
        return x * self.queue.pop(0)


class StackedNetworks:
    """The stacked parameters of networks of one architecture, their forward and their gradients.

    Parameters
    ----------
    networks : sequence of repdyn.nets.Network
        Networks of one structure (see :func:`stack_reason`).
    layers : tuple of str
        Names of the tracked submodules (``""``: the whole model, its prediction).
    device : torch.device
        Where the stacked parameters live and every computation runs.
    loss_scale : float, default 1
        The gradients are of ``loss_scale`` times the project loss (the run's
        loss convention, :func:`repdyn.track.loss_scale`).
    """

    def __init__(self, networks: Sequence[Network], layers: tuple[str, ...], device: torch.device,
                 *, loss_scale: float = 1.0) -> None:  # fmt: skip
        first = networks[0]
        self.loss_scale = loss_scale
        expected = _structure(first)
        for index, network in enumerate(networks):
            if _structure(network) != expected:
                raise ValueError(
                    f"networks[{index}] differs from networks[0] in its modules, parameter shapes or "
                    "dtype; batch only trials of one architecture, built with the same dtype"
                )
        # The template is never run with its own weights: functional_call swaps
        # the stacked ones in, so it lives on the meta device (no memory).
        self.template = copy.deepcopy(first).to("meta")
        self.dropout_calls = 0
        if isinstance(first.dropout, nn.Dropout):
            self.template.dropout = _GivenNoise()
            # One call where each hidden representation but the last enters the
            # next hidden layer, and one where the last enters the output layer.
            self.dropout_calls = len(first.hidden)
        self.names = tuple(name for name, _ in first.named_parameters())
        self.params = []
        for name, param in first.named_parameters():
            stacked = torch.empty((len(networks), *param.shape), dtype=param.dtype, device=device)
            for t, network in enumerate(networks):
                stacked[t].copy_(network.get_parameter(name).detach())
            self.params.append(stacked)
        modules = dict(self.template.named_modules())
        self._tracking = True  # False: the hooks record nothing (training on other points than the pair)
        self._captured: list[torch.Tensor | None] = [None] * len(layers)
        self.layers = layers
        for index, name in enumerate(layers):
            modules[name].register_forward_hook(self._hook(index))
        self._gradient = torch.func.vmap(torch.func.grad_and_value(self._loss, has_aux=True))
        self._predict = torch.func.vmap(self._forward)
        self._plain_gradient = torch.func.vmap(torch.func.grad_and_value(self._plain_loss))
        self._plain_predict = torch.func.vmap(self._plain_forward)

    def _hook(self, index: int) -> Any:
        def hook(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
            if not self._tracking:
                return
            if self._captured[index] is not None:
                raise ValueError(
                    f"layer {self.layers[index]!r} ran twice in one forward pass; track a submodule "
                    "that runs once per forward (a hidden layer 'hidden.k' or 'output')"
                )
            points = output.detach().reshape(output.shape[0], -1).to(torch.float64)
            diff = points[0] - points[1]
            self._captured[index] = torch.dot(diff, diff)

        return hook

    def _forward(
        self, params: tuple[torch.Tensor, ...], x: torch.Tensor, noise: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One trial's prediction and tracked distances (vmapped over the trials)."""
        self._captured = [None] * len(self.layers)
        if self.dropout_calls:
            self.template.dropout.queue = list(noise)
        try:
            pred = torch.func.functional_call(self.template, dict(zip(self.names, params, strict=True)), (x,))
            if noise and self.template.dropout.queue:  # Network.forward changed: not one noise per call
                raise RuntimeError(
                    f"the forward used {len(noise) - len(self.template.dropout.queue)} of {len(noise)} "
                    "dropout noise tensors"
                )
        finally:
            if self.dropout_calls:
                self.template.dropout.queue = []
        captured = tuple(self._captured)
        missing = [name for name, value in zip(self.layers, captured, strict=True) if value is None]
        if missing:
            raise ValueError(f"layers {missing} did not run in the forward pass; track a hidden layer or 'output'")
        return pred, captured  # type: ignore[return-value]

    def _loss(
        self, params: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor, noise: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, tuple[torch.Tensor, ...]]]:
        pred, distances = self._forward(params, x, noise)
        return self.loss_scale * project_loss(pred, y), (pred.detach(), distances)

    def _plain_forward(self, params: tuple[torch.Tensor, ...], x: torch.Tensor) -> torch.Tensor:
        """One trial's prediction of any number of points, nothing tracked (no dropout: see :func:`stack_reason`)."""
        self._tracking = False
        try:
            return torch.func.functional_call(self.template, dict(zip(self.names, params, strict=True)), (x,))
        finally:
            self._tracking = True

    def _plain_loss(self, params: tuple[torch.Tensor, ...], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return project_loss(self._plain_forward(params, x), y)

    def loss_gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every trial's gradient of its loss on its own points ``x`` ``(T, B, ...)``, and the losses ``(T,)``.

        Nothing is tracked and no dropout is applied: for networks without dropout.
        """
        grads, loss = self._plain_gradient(tuple(self.params), x, y)
        return list(grads), loss

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Every trial's predictions of its points ``x`` ``(T, B, ...)``, without gradients; nothing tracked."""
        with torch.no_grad():
            return self._plain_predict(tuple(self.params), x)

    def predict(self, x: torch.Tensor, noise: tuple[torch.Tensor, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Predictions ``(T, 2, out)`` and tracked distances (each ``(T,)``), without gradients."""
        with torch.no_grad():
            pred, distances = self._predict(tuple(self.params), x, noise)
        return pred, list(distances)

    def gradients(
        self, x: torch.Tensor, y: torch.Tensor, noise: tuple[torch.Tensor, ...] = ()
    ) -> tuple[list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
        """Every trial's gradient of its own loss, its predictions and tracked distances, from one forward."""
        grads, (_, (pred, distances)) = self._gradient(tuple(self.params), x, y, noise)
        return list(grads), pred, list(distances)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the trials at positions ``rows`` of the batch."""
        keep_rows(self.params, rows)

    @torch.no_grad()
    def write_back(self, position: int, network: Network) -> None:
        """Copy the trained parameters of batch position ``position`` into ``network``."""
        for name, stacked in zip(self.names, self.params, strict=True):
            network.get_parameter(name).copy_(stacked[position])


def keep_rows(stacked: list[torch.Tensor], rows: torch.Tensor) -> None:
    """Keep the trials ``rows`` of each stacked tensor, in place in the list.

    One tensor at a time, so that at most one copy is held beside the others
    (the memory model of :func:`repdyn.fast.batch_bytes`).
    """
    for i, tensor in enumerate(stacked):
        stacked[i] = tensor.index_select(0, rows)
        del tensor


class StackedSGD:
    """Plain SGD on stacked parameters: ``torch.optim.SGD``'s update, every trial at once."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float) -> None:
        self.lr = lr

    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
        torch._foreach_add_(params, grads, alpha=-self.lr)

    def keep(self, rows: torch.Tensor) -> None:
        """SGD holds no state."""


class StackedAdam:
    """Adam on stacked parameters with each trial's own moments; ``torch.optim.Adam``'s formulas.

    The hyperparameters are those :func:`repdyn.nets.make_optimizer` gives
    Adam (PyTorch's defaults), read from an optimiser it builds.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr: float) -> None:
        group = make_optimizer("adam", [torch.zeros(1, device="cpu")], lr=lr).param_groups[0]
        unsupported = {k: group[k] for k in ("weight_decay", "amsgrad", "maximize") if group.get(k)}
        if unsupported:  # make_optimizer changed: the formulas below would no longer be Adam's
            raise RuntimeError(f"the batched Adam implements none of {unsupported}")
        self.lr = float(group["lr"])
        self.beta1, self.beta2 = (float(b) for b in group["betas"])
        self.eps = float(group["eps"])
        self.exp_avg = [torch.zeros_like(p) for p in params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in params]
        self.steps = 0

    def step(self, params: list[torch.Tensor], grads: list[torch.Tensor]) -> None:
        # torch.optim.Adam's single-tensor update (the one it takes on the CPU),
        # with the step count a Python number as there (no host sync).
        self.steps += 1
        torch._foreach_lerp_(self.exp_avg, grads, 1 - self.beta1)
        torch._foreach_mul_(self.exp_avg_sq, self.beta2)
        torch._foreach_addcmul_(self.exp_avg_sq, grads, grads, value=1 - self.beta2)
        step = float(self.steps)
        step_size = self.lr / (1 - self.beta1**step)
        bias_correction2_sqrt = (1 - self.beta2**step) ** 0.5
        denom = torch._foreach_sqrt(self.exp_avg_sq)
        torch._foreach_div_(denom, bias_correction2_sqrt)
        torch._foreach_add_(denom, self.eps)
        torch._foreach_addcdiv_(params, self.exp_avg, denom, value=-step_size)

    def keep(self, rows: torch.Tensor) -> None:
        keep_rows(self.exp_avg, rows)
        keep_rows(self.exp_avg_sq, rows)


#: The batched optimisers by ``ArchSpec.optimizer`` name.
OPTIMIZERS = {"sgd": StackedSGD, "adam": StackedAdam}


def to_device(host: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on ``device``; to a GPU from pinned memory without waiting (no host sync)."""
    if device.type == "cpu":
        return host
    return host.pin_memory().to(device, non_blocking=True)


class DropoutNoise:
    """Each trial's dropout noise, as ``nn.Dropout`` draws it on the CPU for the trial's seed.

    :func:`repdyn.track.track_pair` seeds torch's CPU generator with the trial's
    seed and the network's dropout then draws, in every training forward, one
    ``bernoulli(1 - p)`` tensor per call of the shape it drops, scaled by
    ``1 / (1 - p)``. Here each trial has its own generator seeded alike, and
    the same draws are made in the same order, ``chunk`` epochs at a time, on
    the host; a chunk reaches the device in one transfer. On a GPU host
    threads draw the next chunk while the device computes.

    Parameters
    ----------
    seeds : sequence of int
        One per trial.
    p : float
        Drop probability, in (0, 1).
    widths : sequence of int
        Width of the representation each dropout call of one forward drops, in call order.
    dtype : torch.dtype
        The network's dtype (the noise is drawn and scaled in it, as dropout does).
    device : torch.device
    chunk : int
        Epochs drawn at once.
    """

    def __init__(self, seeds: Sequence[int], p: float, widths: Sequence[int], dtype: torch.dtype,
                 device: torch.device, chunk: int) -> None:  # fmt: skip
        self.generators = [torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds]
        self.p = p
        self.widths = tuple(widths)
        self.offsets = [0]
        for width in self.widths:
            self.offsets.append(self.offsets[-1] + 2 * width)
        self.dtype, self.device, self.chunk = dtype, device, chunk
        self.trials = list(range(len(seeds)))  # trial of each batch position
        on_host = device.type == "cpu"
        # Two pools: the one that draws ahead waits on the per-trial draws.
        self._workers = None if on_host else ThreadPoolExecutor(max_workers=_host_threads())
        self._ahead = None if on_host else ThreadPoolExecutor(max_workers=1)
        self._pending: tuple[Any, list[int]] | None = None  # the next chunk and its trials
        self._block: torch.Tensor | None = None  # (chunk, active trials, D) on the device
        self._end = 0  # first epoch after the block

    def _draw(self, trials: list[int]) -> torch.Tensor:
        """The next ``chunk`` epochs of noise of ``trials``, shape ``(chunk, len(trials), D)``, on the host."""
        host = torch.empty((self.chunk, len(trials), self.offsets[-1]), dtype=self.dtype, device="cpu",
                           pin_memory=self.device.type == "cuda")  # fmt: skip

        def draw_trial(column: int) -> None:
            generator = self.generators[trials[column]]
            for epoch in range(self.chunk):
                row = host[epoch, column]
                for width, start in zip(self.widths, self.offsets, strict=False):
                    row[start : start + 2 * width].view(2, width).bernoulli_(1 - self.p, generator=generator)

        if self._workers is None:
            for column in range(len(trials)):
                draw_trial(column)
        else:
            list(self._workers.map(draw_trial, range(len(trials))))
        return host

    def _next_chunk(self) -> tuple[torch.Tensor, list[int]]:
        """The host noise of the next chunk and the trials it was drawn for."""
        if self._pending is None:
            trials = list(self.trials)
            return self._draw(trials), trials
        future, trials = self._pending
        return future.result(), trials

    def at(self, epoch: int) -> tuple[torch.Tensor, ...]:
        """The noise of every active trial for the training forward of ``epoch`` (called for each epoch in turn)."""
        if self._block is None or epoch >= self._end:
            host, trials = self._next_chunk()
            if trials != self.trials:  # trials left since it was drawn
                host = host[:, [trials.index(t) for t in self.trials]]
            # Every value is 1 or 0 divided by 1 - p, as dropout divides it.
            self._block = to_device(host, self.device).div_(1 - self.p)
            self._end = epoch + self.chunk
            self._pending = None
            if self._ahead is not None:
                ahead = list(self.trials)
                self._pending = (self._ahead.submit(self._draw, ahead), ahead)
        block = self._block[epoch - (self._end - self.chunk)]
        count = len(self.trials)
        return tuple(
            block[:, start : start + 2 * width].view(count, 2, width)
            for width, start in zip(self.widths, self.offsets, strict=False)
        )

    def keep(self, rows: torch.Tensor, positions: Sequence[int]) -> None:
        """Keep only the trials at ``positions`` of the batch (``rows``: the same positions on the device)."""
        self.trials = [self.trials[p] for p in positions]
        if self._block is not None:
            self._block = self._block.index_select(1, rows)

    def close(self) -> None:
        """Stop drawing ahead (the pools' threads end)."""
        for pool in (self._ahead, self._workers):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def _host_threads() -> int:
    """Threads that draw dropout noise for a GPU: the host's cores, at most 16."""
    import os

    return max(1, min(16, os.cpu_count() or 1))
