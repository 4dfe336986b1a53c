"""The installed version of repdyn, read in one place: the package root and every writer of files take it from here."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("repdyn")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
