"""The version of repdyn, read in one place: the package root and every writer of files take it from here."""

from __future__ import annotations

__all__ = ["__version__"]


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
