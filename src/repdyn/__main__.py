"""``python -m repdyn``: the ``repdyn`` command."""

from repdyn.cli import main

main()
