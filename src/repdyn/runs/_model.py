"""Where a model comes from, resolved once: every way of naming a model is dispatched here.

A user names a model as a registered architecture (``"default"``,
``"mnist"``, an :class:`repdyn.nets.ArchSpec`), ``"cnn"`` (the small
convolutional network), ``"FILE.py:FACTORY"`` (a function or class in their
own file), or a Python callable (a function, an ``nn.Module`` class, a
``functools.partial``). :func:`model_source` turns any of these into one
:class:`ModelSource`: a frozen record of what the model is (its cache key)
that builds fresh, seeded instances for any input shape.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from repdyn import checks

#: The built-in small convolutional network (:class:`repdyn.nets.SmallCNN`).
CNN = "cnn"
#: The CNN's own settings (not in the paper): Xavier gain 1 and SGD at 0.01,
#: which train it on the bundled MNIST subset within a few epochs (loss 0.89
#: to 0.21 in 5 epochs of minibatches of 32).
CNN_GAIN = 1.0
CNN_LR = 0.01
#: What a model source can be, in the order :func:`model_source` tries them.
MODEL_KINDS = ("architecture", "cnn", "file", "callable")
#: The keyword arguments a factory may take; it receives those it names (all, with ``**kwargs``).
FACTORY_ARGUMENTS = ("input_shape", "in_dim", "out_dim", "seed", "gain")
#: The form of a factory in a file, for messages.
FACTORY_FORM = "FILE.py:FACTORY"

# Factories loaded from files, by (path, digest): each file is executed once per process.
_LOADED_FILES: dict[tuple[str, str], Any] = {}
# Models built only to look at (layer names), by (source, input shape, outputs).
_PROBES: dict[tuple[Any, tuple[int, ...], int], Any] = {}


@dataclass(frozen=True)
class ModelDefaults:
    """What a model trains with unless told otherwise; None where it has no default."""

    gain: float | None
    lr: float | None
    epochs: int | None
    optimizer: str


@dataclass(frozen=True)
class ModelSource:
    """A model, resolved from whatever named it (build one with :func:`model_source`).

    Its fields are its identity: they enter the cache key of every run that
    trains it. The callable of a ``file`` or ``callable`` source is kept beside
    them (not a field), loaded once.

    Attributes
    ----------
    kind : {"architecture", "cnn", "file", "callable"}
    name : str
        The architecture's name, ``"cnn"``, ``"/absolute/FILE.py:FACTORY"``,
        or ``"module:qualname"`` of a callable.
    spec : ArchSpec or None
        The architecture (``kind="architecture"`` only).
    sha256 : str or None
        The factory file's digest (``file``), or the digest of the callable's
        source file and text (``callable``): an edited model is a new run.
    gain : float or None
        The initial weight gain the model is built with (a ``cnn`` or factory
        that takes ``gain``); None: its own default. An architecture keeps its
        gain in ``spec``.
    """

    kind: str
    name: str
    spec: Any = None
    sha256: str | None = None
    gain: float | None = None

    def __post_init__(self) -> None:
        checks.choice("kind", self.kind, MODEL_KINDS)
        checks.real("gain", self.gain, above=0, allow_none=True)

    # -- pickling: a file's factory is loaded again (once per process), a callable travels by reference
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.kind == "file":
            state.pop("_factory", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    @property
    def label(self) -> str:
        """A short name for tables and titles: ``default``, ``cnn``, ``net.py:make``, ``Transformer``."""
        if self.kind == "file":
            file, _, factory = self.name.rpartition(":")
            return f"{Path(file).name}:{factory}"
        if self.kind == "callable":
            return self.name.rpartition(":")[2]
        return self.name

    @property
    def defaults(self) -> ModelDefaults:
        """The gain, learning rate, epochs and optimiser the model trains with unless told otherwise."""
        if self.kind == "architecture":
            return ModelDefaults(self.spec.gain, self.spec.lr, self.spec.epochs, self.spec.optimizer)
        if self.kind == CNN:
            return ModelDefaults(CNN_GAIN if self.gain is None else self.gain, CNN_LR, None, "sgd")
        return ModelDefaults(self.gain, None, None, "sgd")

    def factory(self) -> Callable[..., Any]:
        """The user's callable (``file`` and ``callable`` sources), loaded once."""
        found = self.__dict__.get("_factory")
        if found is None:
            if self.kind != "file":
                raise ValueError(f"a {self.kind} model has no factory")
            found = _load_factory(self.name, self.sha256)
            object.__setattr__(self, "_factory", found)
        return found

    def build(self, input_shape: tuple[int, ...], out_dim: int, *, seed: int, device: str = "cpu") -> Any:
        """A fresh model for inputs of shape ``input_shape`` (one point) and ``out_dim`` outputs, seeded.

        The same seed gives the same initial weights on every call, whether or
        not the factory takes a ``seed`` (its construction runs on a forked
        copy of torch's generators seeded with ``seed``).

        Raises
        ------
        repdyn.checks.BadArgument
            (``parameter="model"``) the model cannot be built for these inputs,
            or the user's factory raised or returned no ``torch.nn.Module``.
        """
        import torch

        from repdyn.nets import build_network, build_small_cnn

        input_shape = tuple(int(s) for s in input_shape)
        if self.kind == "architecture":
            return build_network(self.spec, math.prod(input_shape), out_dim, seed=seed, device=device)
        if self.kind == CNN:
            return build_small_cnn(out_dim=out_dim, gain=self.defaults.gain, seed=seed, device=device,
                                   image_shape=_image_shape(input_shape))  # fmt: skip
        factory = self.factory()
        kwargs = factory_arguments(factory, input_shape=input_shape, out_dim=out_dim, seed=seed, gain=self.gain,
                                   label=self.label)  # fmt: skip
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            try:
                model = factory(**kwargs)
            except checks.USER_CODE_FAILURES as exc:
                shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
                raise checks.ArgumentValueError(
                    "model", f"{self.label}({shown}) failed: {checks.user_code_failure(exc)}") from None
        if not isinstance(model, torch.nn.Module):
            raise checks.ArgumentTypeError(
                "model", f"{self.label} returned a {type(model).__name__}, not a torch.nn.Module")
        return model.to(device)

    def probe(self, input_shape: tuple[int, ...], out_dim: int) -> Any:
        """One instance built on the CPU with seed 0, kept: to read layer names, not to train."""
        key = (self, tuple(input_shape), int(out_dim))
        if key not in _PROBES:
            _PROBES[key] = self.build(tuple(input_shape), out_dim, seed=0)
        return _PROBES[key]


def check_forward(net: Any, x: Any, out_dim: int, label: str) -> None:
    """One forward of the points ``x`` (a few), so that a model that cannot read the data fails before training.

    Parameters
    ----------
    net : torch.nn.Module
        The model, as built for these data (:meth:`ModelSource.probe`).
    x : torch.Tensor
        A few points, shaped as in training.
    out_dim : int
        The targets' columns: the model must return ``(len(x), out_dim)``.
    label : str
        The model's name in messages.

    Raises
    ------
    repdyn.checks.ArgumentValueError
        (``parameter="model"``) the forward raised or exited, or returned
        something else than one output row per point.
    """
    import torch

    was_training = net.training
    net.eval()  # a batch-norm model reads a few points in eval mode without touching its statistics
    try:
        with torch.no_grad():
            out = net(x)
    except checks.USER_CODE_FAILURES as exc:
        raise checks.ArgumentValueError(
            "model", f"{label} cannot read these data (inputs of shape {tuple(x.shape[1:])}, "
            f"{x.dtype}): {checks.user_code_failure(exc)}") from None
    finally:
        net.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (len(x), out_dim):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise checks.ArgumentValueError(
            "model", f"{label} returns {shape} for {len(x)} points; it must return ({len(x)}, {out_dim}), one "
            "output per target column")
    if out.is_floating_point() and not bool(torch.isfinite(out).all()):
        raise checks.ArgumentValueError(
            "model", f"{label} returns NaN or inf for these data at its initial weights; lower the gain (--gain) "
            "or check the model's initialisation")


def model_source(model: Any, *, gain: float | None = None) -> ModelSource:
    """Resolve what names a model into a :class:`ModelSource`: the one dispatch of model sources.

    Parameters
    ----------
    model : str, ArchSpec, callable or ModelSource
        A registered architecture name (:data:`repdyn.nets.ARCHITECTURES`) or
        an :class:`~repdyn.nets.ArchSpec`; ``"cnn"``; ``"FILE.py:FACTORY"``,
        a function or ``nn.Module`` class in the user's file; or a Python
        callable (a function, an ``nn.Module`` class, a ``functools.partial``)
        that returns a ``torch.nn.Module``. A factory is called with those of
        the keyword arguments ``input_shape`` (the shape of one input, e.g.
        ``(1, 28, 28)``), ``in_dim`` (its size), ``out_dim``, ``seed`` and
        ``gain`` that it names (all of them if it takes ``**kwargs``); bind
        anything else first (``functools.partial(Net, vocab=50)``).
    gain : float, optional
        The initial weight gain (an architecture's replaces its table value;
        a factory must take ``gain``).

    Raises
    ------
    repdyn.checks.BadArgument
        ``parameter`` is ``"model"`` (or ``"gain"``); the message lists what a model can be.
    """
    checks.real("gain", gain, above=0, allow_none=True)
    from repdyn.nets import ArchSpec

    if isinstance(model, ModelSource):
        source = model
    elif isinstance(model, ArchSpec):
        source = ModelSource("architecture", model.name, spec=model)
    elif isinstance(model, str):
        source = _named(model)
    else:
        source = _callable(model)
    if gain is None:
        return source
    if source.kind == "architecture":
        return replace(source, spec=source.spec.replace(gain=gain))
    if source.kind != CNN and "gain" not in accepted_arguments(source.factory()):
        raise checks.ArgumentValueError(
            "gain", f"{source.label} takes no gain argument; drop gain (--gain) or give the factory a gain parameter")
    changed = replace(source, gain=float(gain))
    if "_factory" in source.__dict__:
        object.__setattr__(changed, "_factory", source.__dict__["_factory"])
    return changed


def _named(name: str) -> ModelSource:
    from repdyn.nets import ARCHITECTURES, get_architecture

    if name == CNN:
        return ModelSource(CNN, CNN)
    if is_factory_path(name):
        file, _, factory = name.rpartition(":")
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            raise checks.ArgumentValueError(
                "model", f"{file} does not exist; give {FACTORY_FORM} with an existing file")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        full = f"{path}:{factory}"
        source = ModelSource("file", full, sha256=digest)
        object.__setattr__(source, "_factory", _load_factory(full, digest))
        return source
    try:
        return ModelSource("architecture", name, spec=get_architecture(name))
    except ValueError:
        names = ", ".join(repr(n) for n in (*ARCHITECTURES, CNN))
        raise checks.ArgumentValueError(
            "model", f"unknown model {name!r}; give a registered architecture ({names}), {FACTORY_FORM}, "
            "or (in Python) a function or nn.Module class that builds the model") from None


def is_factory_path(model: str) -> bool:
    """Whether ``model`` names a factory in a user's file, ``FILE.py:NAME``."""
    file, sep, name = model.rpartition(":")
    return bool(sep) and file.endswith(".py") and bool(name)


def _load_factory(name: str, digest: str | None) -> Any:
    """The callable ``NAME`` of ``FILE.py:NAME``: the file is executed once per process and digest."""
    file, _, attribute = name.rpartition(":")
    key = (file, digest or "")
    if key not in _LOADED_FILES:
        path = Path(file)
        module_name = f"repdyn_user_model_{hashlib.sha256(f'{file}{digest}'.encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise checks.ArgumentValueError("model", f"{file} cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # so that its classes pickle and its dataclasses work
        try:
            spec.loader.exec_module(module)
        except checks.USER_CODE_FAILURES as exc:
            del sys.modules[module_name]
            raise checks.ArgumentValueError("model", f"importing {file} failed: {checks.user_code_failure(exc)}") from None
        _LOADED_FILES[key] = module
    module = _LOADED_FILES[key]
    factory = getattr(module, attribute, None)
    if not callable(factory):
        available = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                           and getattr(v, "__module__", None) == module.__name__)
        raise checks.ArgumentValueError(
            "model", f"{file} has no callable {attribute!r}; callables defined there: {available}")
    return factory


def _callable(model: Any) -> ModelSource:
    import torch

    if isinstance(model, torch.nn.Module):
        raise checks.ArgumentTypeError(
            "model", f"model is a {type(model).__name__} instance; give its class, or a function that builds it, "
            "so that every seed builds its own initial weights (e.g. model=MyNet or model=lambda **_: MyNet(64))")
    if not callable(model):
        raise checks.ArgumentTypeError(
            "model", f"model must be a registered architecture name, 'cnn', {FACTORY_FORM}, or a function or "
            f"nn.Module class that builds the model; got {checks.describe(model)}")
    target = model.func if isinstance(model, functools.partial) else model
    module = getattr(target, "__module__", None) or "__main__"
    qualname = getattr(target, "__qualname__", None) or type(target).__name__
    source = ModelSource("callable", f"{module}:{qualname}", sha256=_callable_digest(model))
    object.__setattr__(source, "_factory", model)
    return source


def _callable_digest(model: Any) -> str:
    """Digest of a callable's file, source text and bound arguments: an edited model is another model."""
    parts = []
    target = model
    while isinstance(target, functools.partial):
        parts.append(repr((target.args, sorted(target.keywords.items()))))
        target = target.func
    try:
        parts.append(Path(inspect.getsourcefile(target) or "").read_text())
    except (TypeError, OSError):
        pass
    try:
        parts.append(inspect.getsource(target))
    except (TypeError, OSError):
        code = getattr(target, "__code__", None)
        parts.append(repr(code.co_code) + repr(code.co_consts) if code is not None else repr(target))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def accepted_arguments(factory: Any) -> set[str]:
    """Which of :data:`FACTORY_ARGUMENTS` ``factory`` takes (all with ``**kwargs``)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return set()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return set(FACTORY_ARGUMENTS)
    return set(FACTORY_ARGUMENTS) & set(parameters)


def factory_arguments(factory: Any, *, input_shape: tuple[int, ...], out_dim: int, seed: int, gain: float | None,
                      label: str) -> dict[str, Any]:
    """The keyword arguments ``factory`` is called with; an error naming any other argument it requires."""
    offered = {"input_shape": input_shape, "in_dim": math.prod(input_shape), "out_dim": out_dim, "seed": seed}
    if gain is not None:
        offered["gain"] = gain
    accepted = accepted_arguments(factory)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    required = [name for name, p in parameters.items() if p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in offered]
    if required:
        raise checks.ArgumentValueError(
            "model", f"{label} requires {', '.join(repr(r) for r in required)}, which repdyn cannot give (it gives "
            f"{', '.join(FACTORY_ARGUMENTS)}); bind {'it' if len(required) == 1 else 'them'} first, e.g. "
            f"functools.partial({label}, {required[0]}=...), or give a default")
    return {name: value for name, value in offered.items() if name in accepted}


def _image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The ``(C, H, W)`` the small CNN reads: images as given, flat MNIST rows as 1 x 28 x 28."""
    from repdyn.nets import MNIST_IMAGE

    if len(input_shape) == 3:
        return input_shape  # type: ignore[return-value]
    if len(input_shape) == 2:
        return (1, *input_shape)  # type: ignore[return-value]
    if input_shape == (math.prod(MNIST_IMAGE),):
        return MNIST_IMAGE
    raise checks.ArgumentValueError(
        "model", f"cnn reads images (C, H, W) or flat 28 x 28 MNIST rows; these inputs have shape {input_shape}: "
        "give image-shaped inputs, an MLP (e.g. model='mnist') or your own model")
