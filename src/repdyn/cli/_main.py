"""Root of the ``repdyn`` command. Sub-commands live in their own modules.

Every sub-command module must stay cheap to import (no torch at module level),
so that ``repdyn --help`` answers at once.
"""

from __future__ import annotations

import typer

from repdyn.cli import _atlas, _predict, _reproduce, _run, _theory
from repdyn.version import __version__

app = typer.Typer(
    name="repdyn",
    help="The effective theory of representation learning dynamics (van Rossem & Saxe, 2024).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(_theory.app, name="theory")
app.add_typer(_run.app, name="run")
app.command("list")(_reproduce.list_experiments)
app.command("reproduce")(_reproduce.reproduce)
app.command("demo")(_theory.demo)
app.command("predict")(_predict.predict)
app.command("atlas")(_atlas.atlas)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"repdyn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Solve, fit and test the effective theory of representation learning dynamics."""


def main() -> None:
    app()
