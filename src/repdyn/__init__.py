"""repdyn: the effective theory of representation learning dynamics.

Layers, each usable on its own:

- :mod:`repdyn.theory`  numpy/scipy only: the 3-variable ODE, fixed points,
  exact solutions, loss curve and fitting of the effective learning rates.
- :mod:`repdyn.data`, :mod:`repdyn.nets`, :mod:`repdyn.track`  torch: datasets,
  the paper's architectures and training that records the theory's variables.
- :mod:`repdyn.cli`  the ``repdyn`` command.

Importing :mod:`repdyn` itself is cheap: subpackages load on first use.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("repdyn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
