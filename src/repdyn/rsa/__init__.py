"""Representational similarity analysis: dissimilarity matrices and their comparison.

Pure numpy/scipy (no torch). Distance convention: like the theory, which
predicts ``h = ||dh||^2``, the default RDM holds *squared* Euclidean distances
(summed, not averaged, over units); ``metric="euclidean"`` takes the square
root. Compare an RDM only with one of the same convention: a prediction of
squared distances against a network's squared distances. :func:`mantel_test`
(a permutation test) and :func:`rdm_correlation_interval` (a bootstrap over
points) say how far a correlation of two RDMs is from chance and how much it
would move with other points.
"""

from repdyn.rsa._compare import compare_rdms, linear_cka, upper_triangle
from repdyn.rsa._embed import Embedding, embed
from repdyn.rsa._inference import MANTEL_PERMUTATIONS, MantelResult, mantel_test, rdm_correlation_interval
from repdyn.rsa._rdm import METRICS, NORMALISATIONS, rdm

__all__ = [
    "MANTEL_PERMUTATIONS",
    "METRICS",
    "NORMALISATIONS",
    "Embedding",
    "MantelResult",
    "compare_rdms",
    "embed",
    "linear_cka",
    "mantel_test",
    "rdm",
    "rdm_correlation_interval",
    "upper_triangle",
]
