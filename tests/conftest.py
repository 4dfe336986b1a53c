import pathlib
import sys

# Test-only helper modules (oracles, trial functions) live beside the tests.
sys.path.insert(0, str(pathlib.Path(__file__).parent))
