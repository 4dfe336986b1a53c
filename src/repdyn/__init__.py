"""repdyn: the effective theory of representation learning dynamics.

Layers, each usable on its own:

- :mod:`repdyn.checks`  numpy only: the argument checks every layer uses (one
  rule and one message style for numbers, counts, seeds and choices).
- :mod:`repdyn.vocabulary`  numpy only: the long names and units of every
  variable repdyn writes, and the values of its JSON files.
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
- :mod:`repdyn.atlas`  where the theory holds in a network: many pairs, every
  layer, cross-validated predictions; ``repdyn.atlas(...)`` runs one.
- :mod:`repdyn.cli`  the ``repdyn`` command.

Importing :mod:`repdyn` itself is cheap: subpackages load on first use.
:func:`load_run` (from :mod:`repdyn.experiments`) reads a run directory back.
"""



def _version() -> str:
    """The version pyproject.toml gives: read from it in a source tree, else from the installed metadata.

    pyproject.toml is the one place the number is written. An editable
    install's metadata keeps the number of its last installation, and a
    checkout on ``PYTHONPATH`` may not be the installed one, so a source tree
    reads its own pyproject.toml.
    """
    import tomllib
    from importlib.metadata import PackageNotFoundError, version
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        if project.get("name") == "repdyn":
            return str(project["version"])
    try:
        return version("repdyn")
    except PackageNotFoundError:  # neither a source tree nor installed: a copied package directory
        return "0.0.0+unknown"


__version__ = _version()

from repdyn.experiments import load_run  # noqa: E402  (numpy only: no torch, no xarray)

__all__ = ["__version__", "load_run"]


def __getattr__(name: str):
    # Subpackages load on first use, so `import repdyn` stays cheap.
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"repdyn.{name}")
    raise AttributeError(f"module 'repdyn' has no attribute {name!r}")


_SUBPACKAGES = ("atlas", "checks", "cli", "data", "experiments", "fast", "nets", "rsa", "sweep", "theory", "track", "vocabulary")
