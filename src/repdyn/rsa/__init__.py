"""Representational similarity analysis: dissimilarity matrices and their comparison.

Pure numpy/scipy (no torch). Distance convention: like the theory, which
predicts ``h = ||dh||^2``, the default RDM holds *squared* Euclidean distances
(summed, not averaged, over units); ``metric="euclidean"`` takes the square
root. Compare an RDM only with one of the same convention: a prediction of
squared distances against a network's squared distances.
"""

from repdyn.rsa._compare import compare_rdms, linear_cka, upper_triangle
from repdyn.rsa._embed import Embedding, embed
from repdyn.rsa._rdm import METRICS, NORMALISATIONS, rdm

__all__ = [
    "METRICS",
    "NORMALISATIONS",
    "Embedding",
    "compare_rdms",
    "embed",
    "linear_cka",
    "rdm",
    "upper_triangle",
]
