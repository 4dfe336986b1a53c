"""Root of the ``repdyn`` command. Sub-commands live in their own modules.

Every sub-command module must stay cheap to import (no torch at module level),
so that ``repdyn --help`` answers at once.
"""

from __future__ import annotations

import inspect

import click
import typer
from typer.core import TyperGroup

from repdyn.cli import _atlas, _predict, _reproduce, _run, _sequences, _theory
from repdyn.cli._errors import user_failures
from repdyn.version import __version__


class HelpAsWritten(TyperGroup):
    """A command group whose list of commands gives each one's first paragraph whole.

    click cuts it to the terminal's width with "..."; a cut sentence is not
    the help as written.
    """

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            text = command.short_help or inspect.cleandoc(command.help or "").split("\n\n")[0]
            rows.append((name, " ".join(text.split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class Root(HelpAsWritten):
    """The ``repdyn`` group: every command runs inside :func:`repdyn.cli._errors.user_failures`."""

    def invoke(self, ctx: click.Context) -> object:
        with user_failures():
            return super().invoke(ctx)


app = typer.Typer(
    name="repdyn",
    cls=Root,
    help="The effective theory of representation learning dynamics (van Rossem & Saxe, 2024).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Help texts are plain text, printed as written: rich markup would swallow
    # square brackets (repdyn[cluster], epoch,h,y,w[,loss]). Every sub-command
    # inherits the root's mode.
    rich_markup_mode=None,
)
app.add_typer(_theory.app, name="theory", cls=HelpAsWritten)
app.add_typer(_run.app, name="run", cls=HelpAsWritten)
app.command("list")(_reproduce.list_experiments)
app.command("reproduce")(_reproduce.reproduce)
app.command("demo")(_theory.demo)
app.command("predict")(_predict.predict)
app.command("atlas")(_atlas.atlas)
app.command("sequences")(_sequences.sequences)


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
