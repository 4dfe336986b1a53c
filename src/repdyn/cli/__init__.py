"""The ``repdyn`` command line: a thin layer over the library."""

from repdyn.cli._main import app, main

__all__ = ["app", "main"]
