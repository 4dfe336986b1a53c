"""repdyn: the effective theory of representation learning dynamics.

Layers, each usable on its own:

- :mod:`repdyn.theory`  numpy/scipy only: the 3-variable ODE, fixed points,
  exact solutions, loss curve and fitting of the effective learning rates.
- :mod:`repdyn.rsa`  numpy: representational dissimilarity matrices, their
  comparison, linear CKA, embeddings.
- :mod:`repdyn.data`, :mod:`repdyn.nets`, :mod:`repdyn.track`  torch: datasets,
  the paper's architectures and training that records the theory's variables.
- :mod:`repdyn.fast`  torch/numpy: fast two-point trials (hand-written CPU
  path, many trials batched for a GPU).
- :mod:`repdyn.sweep`  cached, crash-safe sweeps on a process pool or Dask.
- :mod:`repdyn.experiments`  the paper's experiments, their figures and claims.
- :mod:`repdyn.cli`  the ``repdyn`` command.

Importing :mod:`repdyn` itself is cheap: subpackages load on first use.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("repdyn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
