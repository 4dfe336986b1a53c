"""Pairs of points drawn at random, stratified into same-group and different-group pairs.

A group is a class label, or for tasks whose targets are not classes (the
context task: a coordinate as target) the target value itself: two points are
in the same group when their group rows are identical. Pairs are drawn
uniformly without replacement inside each stratum by unranking: with the
points sorted by group, row ``a`` of the upper triangle holds its same-group
partners in one contiguous run and its different-group partners in another,
so a pair's rank in either stratum maps to ``(a, b)`` through one cumulative
count per point, exactly and in O(N) memory, however many pairs there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from repdyn import checks

#: Share of same-group pairs :func:`sample_pairs` draws by default: half, so
#: that pairs the theory expects to merge (same target, ``dy2 = 0``) and pairs
#: it expects to separate are judged on equal numbers.
SAME_FRACTION = 0.5


@dataclass(frozen=True, eq=False)
class SampledPairs:
    """Pairs from :func:`sample_pairs`.

    Attributes
    ----------
    pairs : ndarray of int64, shape (K, 2)
        Point indices ``(i, j)`` with ``i < j``, rows sorted.
    same : ndarray of bool, shape (K,)
        Whether the pair's two points share a group.
    n_same, n_different : int
        How many same-group and different-group pairs the data set has in all.
    """

    pairs: NDArray[np.int64]
    same: NDArray[np.bool_]
    n_same: int
    n_different: int

    def __len__(self) -> int:
        return len(self.pairs)


def group_ids(groups: Any) -> NDArray[np.int64]:
    """One integer per point, equal where the rows of ``groups`` are identical.

    Parameters
    ----------
    groups : array_like or Tensor, shape (N,) or (N, ...)
        Labels, or target rows (one-hot classes, coordinates).
    """
    if hasattr(groups, "detach"):
        groups = groups.detach().cpu().numpy()
    arr = np.asarray(groups)
    if arr.ndim == 0 or len(arr) == 0:
        raise ValueError(f"groups must hold one entry (or row) per point; got shape {arr.shape}")
    rows = arr.reshape(len(arr), -1)
    return np.unique(rows, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def sample_pairs(
    groups: Any,
    n: int,
    *,
    seed: int,
    same_fraction: float = SAME_FRACTION,
) -> SampledPairs:
    """Draw ``n`` distinct pairs, ``same_fraction`` of them within a group.

    Parameters
    ----------
    groups : array_like or Tensor, shape (N,) or (N, ...)
        What defines a group: class labels, or the targets themselves (rows
        compared whole, so one-hot targets group by class and the context
        task's coordinates group by value).
    n : int
        Pairs to draw (>= 1). Capped at the number of distinct pairs,
        ``N (N - 1) / 2`` (6 for XOR's 4 points).
    seed : int
        Seed of the draw: the same seed gives the same pairs.
    same_fraction : float, default 0.5
        Share of same-group pairs, rounded to a whole number of pairs. When a
        stratum holds fewer pairs than asked for, all of them are taken and the
        other stratum fills up to ``n`` (as far as it can).

    Returns
    -------
    SampledPairs
        Uniform without replacement inside each stratum.
    """
    checks.integer("n", n, minimum=1, fix="It is the number of pairs to draw")
    checks.seed("seed", seed)
    checks.real("same_fraction", same_fraction, at_least=0, at_most=1)
    ids = group_ids(groups)
    if len(ids) < 2:
        raise ValueError(f"at least 2 points are needed to form a pair; got {len(ids)}")
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    # End (exclusive) of each sorted point's group run.
    ends = np.searchsorted(sorted_ids, sorted_ids, side="right")
    positions = np.arange(len(ids))
    counts = {True: ends - positions - 1, False: len(ids) - ends}
    totals = {same: int(c.sum()) for same, c in counts.items()}
    want_same = min(int(round(int(n) * float(same_fraction))), totals[True])
    want_diff = min(int(n) - want_same, totals[False])
    want_same = min(int(n) - want_diff, totals[True])
    rng = np.random.default_rng(int(seed))
    drawn, same = [], []
    for is_same, k in ((True, want_same), (False, want_diff)):
        ranks = rng.choice(totals[is_same], size=k, replace=False) if k else np.empty(0, np.int64)
        a, b = _unrank(np.asarray(ranks, dtype=np.int64), counts[is_same],
                       positions + 1 if is_same else ends)
        drawn.append(np.stack([order[a], order[b]], axis=1))
        same.append(np.full(k, is_same))
    pairs = np.sort(np.concatenate(drawn), axis=1)
    same_all = np.concatenate(same)
    rows = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return SampledPairs(
        pairs=pairs[rows].astype(np.int64),
        same=same_all[rows],
        n_same=totals[True],
        n_different=totals[False],
    )


def _unrank(
    ranks: NDArray[np.int64], counts: NDArray[np.int64], first_partner: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Sorted positions ``(a, b)`` of the pairs with these ranks in one stratum.

    Row ``a`` holds ``counts[a]`` pairs of the stratum, with partners
    ``first_partner[a], first_partner[a] + 1, ...`` (a contiguous run).
    """
    offsets = np.concatenate([[0], np.cumsum(counts)])
    a = np.searchsorted(offsets, ranks, side="right") - 1
    return a, first_partner[a] + (ranks - offsets[a])
