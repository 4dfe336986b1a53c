"""Sequence networks: the protocol a tracked model meets, the follow-up's Elman RNN, a GRU, a last-token transformer."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from repdyn import checks

#: Initial hidden states by name: all ones (the follow-up's choice: it keeps a
#: ReLU network off the zero fixed point) or all zeros.
INITIAL_STATES = ("ones", "zeros")
#: Nonlinearities of :class:`ElmanRNN` (those ``torch.nn.RNN`` computes).
ELMAN_NONLINEARITIES = ("relu", "tanh")


@runtime_checkable
class SequenceModel(Protocol):
    """What :func:`track_prefixes` needs of a network: the state after a sequence, and its output.

    Any ``torch.nn.Module`` with these two methods can be trained and tracked
    (an Elman RNN, a GRU, a transformer read out at its last token):

    ``forward(inputs) -> (hidden, output)``
        ``inputs`` is a float tensor of shape (B, T, S): B sequences of one
        length T >= 1, one-hot over S symbols. ``hidden`` (B, H) is the
        representation after the last symbol (an RNN's state, a transformer's
        last-token activation) and ``output`` (B, K) the network's output
        there (what the loss compares with the target).
    ``initial_state() -> (hidden, output) or None``
        The representation before any symbol, shape (H,), and the output read
        from it, shape (K,); None for a model without one (a transformer).
        Automata need it as their initial state.

    Batches never mix lengths, so a model needs no padding or masks.
    """

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Representation (B, H) and output (B, K) after reading inputs (B, T, S)."""
        ...

    def initial_state(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Representation (H,) and output (K,) before any symbol, or None."""
        ...


def _xavier_normal_(weight: torch.Tensor, gain: float, generator: torch.Generator) -> None:
    fan_out, fan_in = weight.shape
    with torch.no_grad():
        weight.normal_(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)


class _StepPlusReLU(torch.autograd.Function):
    """``f(z) = 0`` for ``z < 0`` and ``z + 1`` for ``z > 0``, with the ReLU's gradient."""

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor) -> torch.Tensor:
        positive = z > 0
        ctx.save_for_backward(positive)
        return torch.where(positive, z + 1, torch.zeros_like(z))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (positive,) = ctx.saved_tensors
        return grad * positive


def _initial_vector(initial: Any, hidden: int) -> torch.Tensor:
    if isinstance(initial, str):
        checks.choice("initial", initial, INITIAL_STATES)
        return torch.ones(hidden) if initial == "ones" else torch.zeros(hidden)
    vector = torch.as_tensor(initial, dtype=torch.float32).reshape(-1)
    if vector.numel() != hidden:
        raise checks.ArgumentValueError(
            "initial", f"initial must be 'ones', 'zeros' or a vector of {hidden} values; got {vector.numel()} values"
        )
    return vector.clone()


class _ReadOutRecurrence(nn.Module):
    """A one-layer recurrence from a fixed initial state, read out linearly after the last symbol.

    Every matrix starts Xavier-normal with ``gain`` (a GRU's three stacked
    gate matrices as one), every bias at 0; the initial state is a buffer,
    not trained.
    """

    def __init__(
        self,
        make_recurrence: Callable[[int, int], nn.Module],
        n_symbols: int,
        hidden: int,
        n_outputs: int,
        *,
        gain: float,
        initial: Any,
        seed: int,
    ) -> None:
        super().__init__()
        n_symbols = checks.integer("n_symbols", n_symbols, minimum=1)
        hidden = checks.integer("hidden", hidden, minimum=1)
        n_outputs = checks.integer("n_outputs", n_outputs, minimum=1)
        gain = checks.real("gain", gain, at_least=0.0)
        seed = checks.seed("seed", seed)
        self.rnn = make_recurrence(n_symbols, hidden)
        self.readout = nn.Linear(hidden, n_outputs)
        generator = torch.Generator().manual_seed(seed)
        for weight in (self.rnn.weight_ih_l0, self.rnn.weight_hh_l0, self.readout.weight):
            _xavier_normal_(weight, gain, generator)
        with torch.no_grad():
            for bias in (self.rnn.bias_ih_l0, self.rnn.bias_hh_l0, self.readout.bias):
                bias.zero_()
        self.register_buffer("h0", _initial_vector(initial, hidden))

    def read(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output read from hidden states (..., H)."""
        return self.readout(hidden)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden state (B, H) after the last symbol of inputs (B, T, S), and the output there."""
        h0 = self.h0.to(inputs.dtype).expand(1, inputs.shape[0], -1).contiguous()
        _, last = self.rnn(inputs, h0)
        hidden = last[0]
        return hidden, self.read(hidden)

    def initial_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``h_0`` and the output read from it."""
        return self.h0, self.read(self.h0)


class ElmanRNN(_ReadOutRecurrence):
    """The follow-up's network: a one-layer Elman RNN read out linearly after the last symbol.

    ``h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` from a fixed initial
    state ``h_0`` (a buffer, not trained), output ``y = W_hy g(h_T) + b_hy``
    with ``g`` the identity, or with ``discontinuity=True`` the follow-up's
    ``g(z) = 0 (z < 0), z + 1 (z > 0)`` whose backward pass is the ReLU's.
    Every matrix starts Xavier-normal with ``gain``, every bias at 0 (as the
    follow-up: gain 0.1 gives std(W_hh) = 0.0100 at 100 units).

    Parameters
    ----------
    n_symbols : int, default 2
    hidden : int, default 100
    n_outputs : int, default 2
    nonlinearity : {"relu", "tanh"}, default "relu"
    gain : float, default 0.1
    initial : {"ones", "zeros"} or array_like, default "ones"
        The initial state ``h_0``.
    discontinuity : bool, default False
    seed : int, default 0
        Seed of the initial weights.

    Attributes
    ----------
    rnn : torch.nn.RNN
        The recurrence (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``).
    readout : torch.nn.Linear
    h0 : torch.Tensor
        Buffer of shape (hidden,).
    """

    def __init__(
        self,
        n_symbols: int = 2,
        hidden: int = 100,
        n_outputs: int = 2,
        *,
        nonlinearity: str = "relu",
        gain: float = 0.1,
        initial: Any = "ones",
        discontinuity: bool = False,
        seed: int = 0,
    ) -> None:
        nonlinearity = checks.choice("nonlinearity", nonlinearity, ELMAN_NONLINEARITIES)
        discontinuity = checks.flag("discontinuity", discontinuity)
        super().__init__(
            lambda s, h: nn.RNN(s, h, nonlinearity=nonlinearity, batch_first=True),
            n_symbols, hidden, n_outputs, gain=gain, initial=initial, seed=seed,
        )
        self.discontinuity = discontinuity

    @classmethod
    def from_weights(
        cls,
        *,
        w_ih: Any,
        w_hh: Any,
        bias: Any,
        w_hy: Any,
        b_hy: Any = None,
        initial: Any,
        nonlinearity: str = "relu",
        discontinuity: bool = False,
        dtype: torch.dtype = torch.float64,
    ) -> ElmanRNN:
        """An Elman RNN with given weights (for hand-built networks).

        Parameters
        ----------
        w_ih : array_like, shape (H, S)
        w_hh : array_like, shape (H, H)
        bias : array_like, shape (H,)
            The recurrent bias (``b_ih + b_hh``).
        w_hy : array_like, shape (K, H)
        b_hy : array_like, shape (K,), optional
            Zero by default.
        initial : array_like, shape (H,)
        nonlinearity, discontinuity
            As for the constructor.
        dtype : torch.dtype, default float64
        """
        w_ih, w_hh, w_hy = (torch.as_tensor(w, dtype=dtype) for w in (w_ih, w_hh, w_hy))
        if w_ih.ndim != 2 or w_hh.shape != (w_ih.shape[0],) * 2 or w_hy.ndim != 2 or w_hy.shape[1] != w_ih.shape[0]:
            raise checks.ArgumentValueError(
                "w_hh", f"weights must be w_ih (H, S), w_hh (H, H), w_hy (K, H); got shapes "
                f"{tuple(w_ih.shape)}, {tuple(w_hh.shape)}, {tuple(w_hy.shape)}"
            )
        hidden, n_symbols = w_ih.shape
        model = cls(
            n_symbols, hidden, w_hy.shape[0], nonlinearity=nonlinearity, gain=0.0,
            initial=initial, discontinuity=discontinuity,
        ).to(dtype)
        with torch.no_grad():
            model.rnn.weight_ih_l0.copy_(w_ih)
            model.rnn.weight_hh_l0.copy_(w_hh)
            model.rnn.bias_ih_l0.copy_(torch.as_tensor(bias, dtype=dtype))
            model.readout.weight.copy_(w_hy)
            if b_hy is not None:
                model.readout.bias.copy_(torch.as_tensor(b_hy, dtype=dtype))
        return model

    def read(self, hidden: torch.Tensor) -> torch.Tensor:
        """The output read from hidden states (..., H), through the discontinuity if set."""
        return self.readout(_StepPlusReLU.apply(hidden) if self.discontinuity else hidden)


class GRUNetwork(_ReadOutRecurrence):
    """A one-layer GRU read out linearly after the last symbol (a :class:`SequenceModel`).

    Every matrix starts Xavier-normal with ``gain`` (the three gates' stacked
    matrices as one), every bias at 0; the initial state is a fixed buffer.

    Parameters
    ----------
    n_symbols : int, default 2
    hidden : int, default 100
    n_outputs : int, default 2
    gain : float, default 1.0
    initial : {"zeros", "ones"} or array_like, default "zeros"
    seed : int, default 0

    Attributes
    ----------
    rnn : torch.nn.GRU
    readout : torch.nn.Linear
    h0 : torch.Tensor
    """

    def __init__(
        self,
        n_symbols: int = 2,
        hidden: int = 100,
        n_outputs: int = 2,
        *,
        gain: float = 1.0,
        initial: Any = "zeros",
        seed: int = 0,
    ) -> None:
        super().__init__(
            lambda s, h: nn.GRU(s, h, batch_first=True), n_symbols, hidden, n_outputs,
            gain=gain, initial=initial, seed=seed,
        )


def _sinusoidal_positions(length: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The fixed sinusoidal position codes of positions 0 .. length-1: any length, nothing learned."""
    position = torch.arange(length, dtype=dtype, device=device)[:, None]
    frequency = torch.exp(torch.arange(0, width, 2, dtype=dtype, device=device) * (-math.log(10000.0) / width))
    codes = torch.zeros(length, width, dtype=dtype, device=device)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency)[:, : width // 2]
    return codes


class LastTokenTransformer(nn.Module):
    """A small causal transformer read out at its last token (a :class:`SequenceModel`).

    The sequence is read after a learned start token (BOS): token ``t``'s
    input is the embedding of its symbol (BOS's own vector at position 0) plus
    a fixed sinusoidal code of its position, so the network takes sequences of
    any length. ``layers`` post-norm encoder blocks with causal attention
    follow; the representation of a prefix is its last token's activation
    after the last block, and the output a linear readout of it. With causal
    attention the activation at position ``t`` of a sequence is that of its
    prefix of length ``t``, and the BOS token alone is the state before any
    symbol: :meth:`initial_state`, the initial state of extracted automata.

    Parameters
    ----------
    n_symbols : int, default 2
    width : int, default 32
        Model width (the representation's size); even.
    n_outputs : int, default 2
    heads : int, default 2
        Attention heads; must divide ``width``.
    layers : int, default 1
    feedforward : int, optional
        Width of each block's feedforward layer; default ``4 * width``.
    gain : float, default 1.0
        Every weight matrix is scaled by ``gain`` after PyTorch's default
        initialisation (small gains: the small-init regime of the theory).
    seed : int, default 0
        Seed of the initial weights (the global random state is left as it was).

    Attributes
    ----------
    embed : torch.nn.Linear
        Symbol embedding (no bias).
    bos : torch.nn.Parameter
        The start token's vector, shape (width,).
    blocks : torch.nn.TransformerEncoder
    readout : torch.nn.Linear
    """

    def __init__(
        self,
        n_symbols: int = 2,
        width: int = 32,
        n_outputs: int = 2,
        *,
        heads: int = 2,
        layers: int = 1,
        feedforward: int | None = None,
        gain: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        n_symbols = checks.integer("n_symbols", n_symbols, minimum=1)
        width = checks.integer("width", width, minimum=2)
        if width % 2:
            raise checks.ArgumentValueError("width", f"width must be even (sinusoidal positions); got {width}")
        n_outputs = checks.integer("n_outputs", n_outputs, minimum=1)
        heads = checks.integer("heads", heads, minimum=1)
        if width % heads:
            raise checks.ArgumentValueError(
                "heads", f"heads must divide width ({width}); got {heads}, try one of "
                f"{[h for h in range(1, width + 1) if width % h == 0][:6]}"
            )
        layers = checks.integer("layers", layers, minimum=1)
        feedforward = checks.integer("feedforward", 4 * width if feedforward is None else feedforward, minimum=1)
        gain = checks.real("gain", gain, at_least=0.0)
        seed = checks.seed("seed", seed)
        self.width = width
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.embed = nn.Linear(n_symbols, width, bias=False)
            self.bos = nn.Parameter(torch.randn(width) / math.sqrt(width))
            block = nn.TransformerEncoderLayer(
                width, heads, dim_feedforward=feedforward, dropout=0.0, batch_first=True, norm_first=False,
            )
            self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
            self.readout = nn.Linear(width, n_outputs)
        with torch.no_grad():
            for parameter in self.parameters():
                if parameter.ndim >= 2:
                    parameter.mul_(gain)

    def _last_token(self, inputs: torch.Tensor) -> torch.Tensor:
        batch, length = inputs.shape[0], inputs.shape[1]
        tokens = torch.cat([self.bos.to(inputs.dtype).expand(batch, 1, -1), self.embed(inputs)], dim=1)
        tokens = tokens + _sinusoidal_positions(length + 1, self.width, inputs.dtype, inputs.device)
        mask = nn.Transformer.generate_square_subsequent_mask(length + 1, device=inputs.device, dtype=inputs.dtype)
        return self.blocks(tokens, mask=mask, is_causal=True)[:, -1]

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Last-token activation (B, width) after inputs (B, T, S), and the output read from it."""
        hidden = self._last_token(inputs)
        return hidden, self.readout(hidden)

    def initial_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The start token's activation (width,) with no symbol read, and the output read from it."""
        empty = torch.zeros(1, 0, self.embed.in_features, dtype=self.bos.dtype, device=self.bos.device)
        hidden = self._last_token(empty)[0]
        return hidden, self.readout(hidden)
