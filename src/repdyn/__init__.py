"""repdyn: the effective theory of representation learning dynamics.

Layers, each usable on its own:

- :mod:`repdyn.checks`  numpy only: the argument checks every layer uses (one
  rule and one message style for numbers, counts, seeds and choices).
- :mod:`repdyn.vocabulary`  numpy only: the long names and units of every
  variable repdyn writes, and the values of its JSON files.
- :mod:`repdyn.stats`  numpy only: the seeded bootstrap interval every claim
  reports with its measurement.
- :mod:`repdyn.theory`  numpy/scipy only: the 3-variable ODE, fixed points,
  exact solutions, loss curve and fitting of the effective learning rates.
- :mod:`repdyn.rsa`  numpy: representational dissimilarity matrices, their
  comparison (with a Mantel permutation test and a bootstrap over points),
  linear CKA, embeddings.
- :mod:`repdyn.data`, :mod:`repdyn.nets`, :mod:`repdyn.track`  torch: datasets,
  the paper's architectures and training that records the theory's variables.
- :mod:`repdyn.fast`  torch/numpy: fast two-point trials (hand-written CPU
  path, many trials batched for a GPU).
- :mod:`repdyn.sweep`  cached, crash-safe sweeps on a process pool or Dask.
- :mod:`repdyn.sequences`  torch: recurrent networks on sequence tasks (the
  follow-up paper): every prefix tracked, the theory per prefix pair, the
  automata the network learns, and the follow-up's studies.
- :mod:`repdyn.runs`  what a run of a model needs above the library: where its
  model and data come from, how it trains and executes, and the runs the
  command line, the atlas and the paper share (two-point and data-set trials,
  their files, :func:`repdyn.load_run`).
- :mod:`repdyn.experiments`  the paper's experiments, their figures and claims.
- :mod:`repdyn.atlas`  where the theory holds in a network: many pairs, every
  layer, cross-validated predictions; ``repdyn.atlas(...)`` runs one.
- :mod:`repdyn.cli`  the ``repdyn`` command.

Importing :mod:`repdyn` itself is cheap: subpackages load on first use.
:func:`load_run` (from :mod:`repdyn.runs`) reads a run directory back.
"""

from repdyn.version import __version__

__all__ = ["__version__", "load_run"]


def load_run(path):  # type: ignore[no-untyped-def]
    """Read a run directory back: :func:`repdyn.runs.load_run` (loaded on first call)."""
    from repdyn.runs import load_run as load

    return load(path)


def __getattr__(name: str):
    # Subpackages load on first use, so that `import repdyn`, and with it
    # `import repdyn.theory`, loads nothing of the layers above.
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"repdyn.{name}")
    raise AttributeError(f"module 'repdyn' has no attribute {name!r}")


_SUBPACKAGES = (
    "atlas", "checks", "cli", "data", "experiments", "fast", "nets", "rsa", "runs", "sequences", "stats", "sweep",
    "theory", "track", "vocabulary",
)
