"""What an atlas run trains: its data set and its model, resolved from names or files.

Every check raises :class:`AtlasInputError`, which names the parameter
(``dataset``, ``model``, ...) so that the command line can name its option.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

#: The built-in data sets: the bundled MNIST subset (or the user's IDX files
#: through ``$REPDYN_MNIST_DIR``), the context task and XOR.
DATASETS = ("mnist", "blobs", "xor")

#: The built-in small convolutional network (:class:`repdyn.nets.SmallCNN`).
CNN = "cnn"

#: The model each data set gets when none is named: the paper's network for it
#: (Table 2; ``blobs low`` is the context task at low initial scale). A
#: ``.npz`` data set gets the paper's MNIST MLP shape (4 hidden layers of 100).
DEFAULT_MODELS = {"mnist": "mnist", "blobs": "blobs low", "xor": "xor low", "npz": "mnist"}

#: The CNN's own settings (not in the paper): Xavier gain 1 and SGD at 0.01,
#: which train it on the bundled MNIST subset within a few epochs (loss 0.89
#: to 0.21 in 5 epochs of minibatches of 32); 100 epochs by default.
CNN_GAIN = 1.0
CNN_LR = 0.01
#: Epochs of models without a paper setting (the CNN, a user's model).
DEFAULT_EPOCHS = 100

#: Minibatch size of the MNIST and context-task runs: the paper does not
#: state one; 32, as the project's own MNIST and context-task experiments use.
#: XOR's four points train full batch.
BATCH_SIZES = {"mnist": 32, "blobs": 32, "xor": None, "npz": 32}


class AtlasInputError(ValueError):
    """Bad input to an atlas run; ``parameter`` names the offending argument."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: it enters the cache key, so an edited file is a new run."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dataset_kind(dataset: str) -> str:
    """``mnist``, ``blobs``, ``xor`` or ``npz``; an AtlasInputError for anything else."""
    if dataset in DATASETS:
        return dataset
    if str(dataset).endswith(".npz"):
        path = Path(dataset)
        if not path.is_file():
            raise AtlasInputError("dataset", f"{dataset} does not exist or is not a file; give an existing .npz file")
        return "npz"
    raise AtlasInputError(
        "dataset", f"must be one of {', '.join(DATASETS)} or a .npz file (arrays x, y, optionally labels); "
        f"got {dataset!r}"
    )


def load_points(dataset: str, mnist_dir: str | None = None) -> Any:
    """The data set ``dataset`` (a name of :data:`DATASETS` or an ``.npz`` path) as a float32
    :class:`repdyn.data.PointSet` whose ``meta["description"]`` says what it is."""
    from repdyn import data

    kind = dataset_kind(dataset)
    if kind == "npz":
        return _npz_points(Path(dataset))
    try:
        points = {"mnist": lambda: data.mnist(mnist_dir), "blobs": data.blobs, "xor": data.xor}[kind]()
    except FileNotFoundError as exc:
        raise AtlasInputError("dataset", str(exc)) from None
    source = points.meta.get("source", kind)
    return data.PointSet(x=points.x, y=points.y, labels=points.labels, name=points.name,
                         meta={"description": f"{kind} ({len(points)} points, source {source})"})


def _npz_points(path: Path) -> Any:
    from repdyn.data import PointSet

    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise AtlasInputError(
            "dataset", f"{path} is not a readable .npz archive of numeric arrays ({type(exc).__name__}); "
            "write it with np.savez(name, x=x, y=y, labels=labels)"
        ) from None
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise AtlasInputError("dataset", f"{path} lacks the array(s) {missing}; it needs 'x' and 'y' (and "
                                         f"optionally 'labels'); it has {sorted(arrays)}")
    x, y = arrays["x"], arrays["y"]
    for key, arr in (("x", x), ("y", y)):
        if arr.dtype.kind not in "biuf" or arr.ndim == 0:
            raise AtlasInputError("dataset", f"{path}: {key!r} must be a numeric array with one row per point")
        if not np.all(np.isfinite(arr)):
            raise AtlasInputError("dataset", f"{path}: {key!r} holds NaN or inf; give finite values")
    if len(x) < 2 or len(y) != len(x):
        raise AtlasInputError("dataset", f"{path}: x and y need the same number of rows, at least 2; got "
                                         f"{len(x)} and {len(y)}")
    labels = arrays.get("labels")
    if labels is not None and (labels.shape != (len(x),) or labels.dtype.kind not in "biu"):
        raise AtlasInputError("dataset", f"{path}: labels must be integers of shape ({len(x)},); got "
                                         f"{labels.dtype} of shape {labels.shape}")
    return PointSet(
        x=np.asarray(x, dtype=np.float32).reshape(len(x), -1),
        y=np.asarray(y, dtype=np.float32).reshape(len(y), -1),
        labels=None if labels is None else labels.astype(np.int64),
        name=path.stem,
        meta={"description": f"{path.name} ({len(x)} points)"},
    )


def is_factory(model: str) -> bool:
    """Whether ``model`` names a factory in a user's file, ``FILE.py:NAME``."""
    file, sep, name = model.rpartition(":")
    return bool(sep) and file.endswith(".py") and bool(name)


def load_factory(model: str) -> Any:
    """The callable ``NAME`` of ``FILE.py:NAME``, imported from the file."""
    file, _, name = model.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise AtlasInputError("model", f"{file} does not exist; give FILE.py:FACTORY with an existing file")
    module_name = f"repdyn_atlas_user_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AtlasInputError("model", f"{file} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any failure is bad input here
        raise AtlasInputError("model", f"importing {file} failed: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        available = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        raise AtlasInputError("model", f"{file} has no callable {name!r}; callables there: {available}")
    return factory


def accepts_gain(factory: Any) -> bool:
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "gain" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def build_model(model: str, *, in_dim: int, out_dim: int, gain: float | None, seed: int,
                device: str = "cpu") -> Any:
    """The model ``model`` (built-in name, ``cnn`` or ``FILE.py:FACTORY``), seeded, on ``device``."""
    import torch

    from repdyn.nets import build_network, build_small_cnn

    if is_factory(model):
        factory = load_factory(model)
        kwargs: dict[str, Any] = {"in_dim": in_dim, "out_dim": out_dim, "seed": seed}
        if gain is not None:
            kwargs["gain"] = gain
        try:
            net = factory(**kwargs)
        except Exception as exc:  # the user's code
            raise AtlasInputError("model", f"{model}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())}) "
                                           f"failed: {type(exc).__name__}: {exc}") from None
        if not isinstance(net, torch.nn.Module):
            raise AtlasInputError("model", f"{model} returned a {type(net).__name__}, not a torch.nn.Module")
        return net.to(device)
    if model == CNN:
        if in_dim != 784:
            raise AtlasInputError("model", f"cnn reads 28 x 28 images (784 inputs); this data set has {in_dim} "
                                           "inputs: choose an MLP (e.g. --model mnist) or your own model")
        return build_small_cnn(out_dim=out_dim, gain=CNN_GAIN if gain is None else gain, seed=seed, device=device)
    spec = architecture(model)
    if gain is not None:
        spec = spec.replace(gain=gain)
    return build_network(spec, in_dim, out_dim, seed=seed, device=device)


def architecture(model: str) -> Any:
    """The registered architecture (an ``ArchSpec``) called ``model``; an AtlasInputError naming all."""
    from repdyn.nets import ARCHITECTURES, get_architecture

    try:
        return get_architecture(model)
    except ValueError:
        names = ", ".join(repr(n) for n in (*ARCHITECTURES, CNN))
        raise AtlasInputError("model", f"unknown model {model!r}; give one of {names} or FILE.py:FACTORY") from None


def model_defaults(model: str) -> dict[str, Any]:
    """The gain, learning rate and epochs a model trains with unless told otherwise (None: no default)."""
    if is_factory(model):
        return {"gain": None, "lr": None, "epochs": DEFAULT_EPOCHS}
    if model == CNN:
        return {"gain": CNN_GAIN, "lr": CNN_LR, "epochs": DEFAULT_EPOCHS}
    spec = architecture(model)
    return {"gain": spec.gain, "lr": spec.lr, "epochs": spec.epochs}


def mnist_directory() -> str | None:
    """The user's MNIST directory from ``$REPDYN_MNIST_DIR``, or None (the bundled subset)."""
    from repdyn.data import MNIST_ENV_VAR

    return os.environ.get(MNIST_ENV_VAR, "").strip() or None
