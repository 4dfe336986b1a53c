import pathlib
import sys

# Test-only helper modules (oracles, trial functions) live beside the tests.
sys.path.insert(0, str(pathlib.Path(__file__).parent))

# Property tests draw the same examples on every run, so that a CI result is
# reproducible (a draw that fails on one run only would block a landing at
# random); `pytest --hypothesis-profile=default` draws new examples.
from hypothesis import settings  # noqa: E402

settings.register_profile("repdyn", derandomize=True, database=None)
settings.load_profile("repdyn")
