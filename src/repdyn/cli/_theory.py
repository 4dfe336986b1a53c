"""``repdyn theory ...``: solve, fit and predict with the effective theory."""

from __future__ import annotations

import typer

app = typer.Typer(help="Solve, fit and predict with the effective theory (no torch needed).", no_args_is_help=True)


def demo(out: str = typer.Option("results/demo", help="Output directory.")) -> None:
    """Placeholder for the main job; replaced by the two-point experiment."""
    raise typer.Exit(1)
