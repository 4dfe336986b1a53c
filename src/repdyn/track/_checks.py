"""Argument checks of the tracking loops that concern models and tensors.

Numbers, counts, seeds and choices are checked by :mod:`repdyn.checks` (one
rule and message style for every layer); the checks here are about what only
the trainers know: models, tensors, optimisers. Each raises ValueError (or
TypeError for a wrong kind of object) whose message names the argument, what
is expected, and how to fix the call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from repdyn import checks

OptimizerSpec = torch.optim.Optimizer | Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]

#: How the theory's variables are measured: in eval mode (as the paper's code), or from the training forward.
MEASURE_MODES = ("eval", "train")

_F = TypeVar("_F", bound=Callable[..., Any])


def renamed_keywords(**renamed: str) -> Callable[[_F], _F]:
    """Make passing a renamed keyword (``old="new"``) a TypeError that names the new one."""

    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            for old, new in renamed.items():
                if old in kwargs:
                    raise TypeError(
                        f"{function.__name__}() has no keyword {old!r}: it was renamed {new!r} in "
                        f"repdyn 0.3.0; pass {new}={kwargs[old]!r}"
                    )
            return function(*args, **kwargs)

        return call  # type: ignore[return-value]

    return decorate


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1 (:func:`repdyn.checks.integer`)."""
    result = checks.integer(name, value, minimum=1)
    assert result is not None
    return result


def threshold(value: Any, stop_when_converged: bool = False) -> float | None:
    """A loss threshold (None for none); ``stop_when_converged`` needs one."""
    if value is None and stop_when_converged:
        raise checks.ArgumentValueError(
            "loss_threshold", "stop_when_converged=True needs a loss_threshold to stop at; pass one")
    return checks.real("loss_threshold", value, at_least=0, allow_none=True)


def measure_mode(value: Any) -> str:
    return str(checks.choice("measure", value, MEASURE_MODES))


def model_placement(model: Any) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's parameters (inputs are cast to these)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    params = [p for p in model.parameters() if p.is_floating_point()]
    if not params:
        raise ValueError(
            "model has no floating-point parameters to train; pass a model with weights"
        )
    return params[0].device, params[0].dtype


def tensor(name: str, value: Any, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``value`` as a finite floating tensor of at least one dimension."""
    out = _as_tensor(name, value)
    out = out.detach().to(device=device, dtype=dtype)
    _finite(name, out)
    return out


def inputs(name: str, value: Any, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Inputs as the model reads them: floats cast to the model's dtype, integers (token ids) kept as int64.

    Integer inputs stay integers so that an ``nn.Embedding`` can read them;
    their squared difference is no input distance (see :func:`repdyn.track.input_distances`).
    """
    out = _as_tensor(name, value)
    if out.is_floating_point():
        out = out.detach().to(device=device, dtype=dtype)
        _finite(name, out)
        return out
    return out.detach().to(device=device, dtype=torch.int64)


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    try:
        out = torch.as_tensor(np.asarray(value) if not isinstance(value, torch.Tensor) else value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"{name} must be a numeric array or tensor; got {type(value).__name__}"
        ) from exc
    if out.ndim == 0:
        raise ValueError(f"{name} must have a leading dimension over points; got a scalar")
    if out.is_complex() or out.dtype == torch.bool:
        raise ValueError(f"{name} must hold real numbers; got dtype {out.dtype}")
    return out


def _finite(name: str, out: torch.Tensor) -> None:
    if not bool(torch.isfinite(out).all()):
        bad = int((~torch.isfinite(out)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN or inf value(s); clean or drop those points first"
        )


def targets(x: torch.Tensor, y: torch.Tensor, *, n_points: int | None = None) -> None:
    if n_points is not None and x.shape[0] != n_points:
        raise ValueError(
            f"x must hold exactly {n_points} points along dimension 0 (the pair); got shape "
            f"{tuple(x.shape)}. Pass x of shape ({n_points}, input_dim)"
        )
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x and y hold different numbers of points ({x.shape[0]} and {y.shape[0]}); pass one "
            "target row per input row"
        )


def output(pred: Any, y: torch.Tensor) -> torch.Tensor:
    """The model's output must match the targets' shape exactly (no silent broadcasting)."""
    if not isinstance(pred, torch.Tensor):
        raise TypeError(
            f"model(x) returned a {type(pred).__name__}; it must return a tensor of predictions "
            "with the shape of y (wrap the model to pick the output)"
        )
    if pred.shape != y.shape:
        raise ValueError(
            f"model output has shape {tuple(pred.shape)} but y has shape {tuple(y.shape)}; give "
            "the model as many outputs as y has columns (or reshape y to the output's shape)"
        )
    return pred


def optimizer(spec: Any, model: nn.Module) -> torch.optim.Optimizer:
    """An optimiser instance over ``model``'s parameters, or a factory called with them."""
    if isinstance(spec, torch.optim.Optimizer):
        opt = spec
    elif callable(spec):
        opt = spec(model.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer factory returned a {type(opt).__name__}; it must return a "
                "torch.optim.Optimizer (e.g. functools.partial(torch.optim.SGD, lr=0.01))"
            )
    else:
        raise TypeError(
            "optimizer must be a torch.optim.Optimizer over the model's parameters, or a callable "
            f"that builds one from them; got {type(spec).__name__}"
        )
    own = {id(p) for p in model.parameters()}
    used = [p for group in opt.param_groups for p in group["params"]]
    if not any(id(p) in own for p in used):
        raise ValueError(
            "optimizer does not update any parameter of model; build it from model.parameters() "
            "of this very model (not a copy)"
        )
    return opt
