"""``python -m repdyn``: the ``repdyn`` command."""

from repdyn.cli import app

app(prog_name="repdyn")
