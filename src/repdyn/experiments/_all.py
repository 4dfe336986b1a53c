"""Imports every experiment module so each registers itself, in the paper's figure order."""

# isort: skip_file
from repdyn.experiments import _fig2  # noqa: F401
from repdyn.experiments import _fig3  # noqa: F401
from repdyn.experiments import _fig4  # noqa: F401
from repdyn.experiments import _fig5  # noqa: F401
from repdyn.experiments import _fig6  # noqa: F401
from repdyn.experiments import _fig8  # noqa: F401
from repdyn.experiments import _fig9  # noqa: F401
from repdyn.experiments import _fig10  # noqa: F401
from repdyn.experiments import _fig11  # noqa: F401
from repdyn.experiments import _random_features  # noqa: F401
from repdyn.experiments import _adam  # noqa: F401
from repdyn.experiments import _adam_structure  # noqa: F401
