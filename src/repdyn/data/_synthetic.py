"""The paper's small data sets: two points, XOR and the blobs context task."""

from __future__ import annotations

import math

import torch

from repdyn import checks
from repdyn.data._checks import check_dtype
from repdyn.data._pointset import PointSet


def two_point(
    *,
    dx2: float = 1.0,
    dy2: float = 0.5,
    in_dim: int = 1,
    out_dim: int = 1,
    dtype: torch.dtype = torch.float32,
) -> PointSet:
    """The two-point data set of the paper.

    In one dimension ``x1 = -1``, ``x2 = -1 + sqrt(dx2)``, ``y1 = 0.6`` and
    ``y2 = 0.6 + sqrt(dy2)``. In ``d`` dimensions every coordinate holds the
    one-dimensional value divided by ``sqrt(d)``, so ``||x1 - x2||^2 = dx2`` and
    ``||y1 - y2||^2 = dy2`` whatever the dimension.

    Parameters
    ----------
    dx2 : float
        Squared input distance, > 0.
    dy2 : float
        Squared target distance, >= 0 (0 gives identical targets).
    in_dim, out_dim : int
        Input and target dimensions, >= 1.
    dtype : torch.dtype
        Floating dtype of ``x`` and ``y``.

    Returns
    -------
    PointSet
        Two points, labels ``[0, 1]``; ``meta`` holds ``dx2`` and ``dy2``.
    """
    dx2 = checks.real("dx2", dx2, above=0)
    dy2 = checks.real("dy2", dy2, at_least=0)
    checks.integer("in_dim", in_dim, minimum=1)
    checks.integer("out_dim", out_dim, minimum=1)
    check_dtype(dtype)
    # Built in float64 so the distances are exact up to the final rounding.
    x1d = torch.tensor([-1.0, -1.0 + math.sqrt(dx2)], dtype=torch.float64)
    y1d = torch.tensor([0.6, 0.6 + math.sqrt(dy2)], dtype=torch.float64)
    x = (x1d / math.sqrt(in_dim)).unsqueeze(1).expand(2, in_dim)
    y = (y1d / math.sqrt(out_dim)).unsqueeze(1).expand(2, out_dim)
    return PointSet(
        x=x.to(dtype).contiguous(),
        y=y.to(dtype).contiguous(),
        labels=torch.tensor([0, 1]),
        name="two_point",
        meta={"dx2": dx2, "dy2": dy2},
    )


def xor(*, dtype: torch.dtype = torch.float32) -> PointSet:
    """XOR: inputs (0,0), (0,1), (1,0), (1,1) with 1-D targets 0, 1, 1, 0.

    Labels equal the targets (0 or 1), so same-label pairs are the pairs the
    paper expects to merge at small initialisation.
    """
    check_dtype(dtype)
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=dtype)
    target = torch.tensor([0, 1, 1, 0])
    return PointSet(x=x, y=target.to(dtype).unsqueeze(1), labels=target, name="xor", meta={})


def blobs(*, grid: int = 30, pixels: int = 5, dtype: torch.dtype = torch.float32) -> PointSet:
    """The context task: a Gaussian blob on a small image plus a one-hot context.

    Pixel positions and blob centres both lie on regular grids over
    ``[-1, 1]^2`` (``pixels x pixels`` and ``grid x grid``). The value of pixel
    ``p`` is ``exp(-||p - c||^2 / 2)`` for centre ``c``; every image is then
    scaled to sum to 1. Images are flattened row by row: row index runs over
    the vertical (y) coordinate, column index over the horizontal (x)
    coordinate. A one-hot context of two inputs follows the pixels, giving
    ``pixels**2 + 2`` inputs (27 by default).

    The target is the centre's x coordinate in context 0 (the paper's context
    1) and its y coordinate in context 1 (the paper's context 2).

    Parameters
    ----------
    grid : int
        Blob centres per axis (>= 2); there are ``2 * grid**2`` points.
    pixels : int
        Pixels per image side (>= 2).
    dtype : torch.dtype
        Floating dtype of ``x`` and ``y``.

    Returns
    -------
    PointSet
        Points ordered by context, then centre row (y), then centre column (x).
        ``labels`` is the context (0 or 1). ``meta`` has per-point tensors
        ``context``, ``centre_x``, ``centre_y`` (for colouring plots) and the
        settings ``grid`` and ``pixels``.
    """
    checks.integer("grid", grid, minimum=2)
    checks.integer("pixels", pixels, minimum=2)
    check_dtype(dtype)
    f64 = torch.float64
    pix = torch.linspace(-1.0, 1.0, pixels, dtype=f64)
    pix_y, pix_x = torch.meshgrid(pix, pix, indexing="ij")
    pixel_xy = torch.stack([pix_x.reshape(-1), pix_y.reshape(-1)], dim=1)  # (P, 2)
    cen = torch.linspace(-1.0, 1.0, grid, dtype=f64)
    cen_y, cen_x = torch.meshgrid(cen, cen, indexing="ij")
    centre_xy = torch.stack([cen_x.reshape(-1), cen_y.reshape(-1)], dim=1)  # (G, 2)

    sq_dist = ((centre_xy[:, None, :] - pixel_xy[None, :, :]) ** 2).sum(dim=2)
    images = torch.exp(-sq_dist / 2.0)
    images = images / images.sum(dim=1, keepdim=True)

    n_centres = centre_xy.shape[0]
    inputs, targets, contexts = [], [], []
    for context in (0, 1):
        one_hot = torch.zeros(n_centres, 2, dtype=f64)
        one_hot[:, context] = 1.0
        inputs.append(torch.cat([images, one_hot], dim=1))
        targets.append(centre_xy[:, context : context + 1])
        contexts.append(torch.full((n_centres,), context, dtype=torch.long))
    context_all = torch.cat(contexts)
    return PointSet(
        x=torch.cat(inputs).to(dtype),
        y=torch.cat(targets).to(dtype),
        labels=context_all,
        name="blobs",
        meta={
            "context": context_all.clone(),
            "centre_x": centre_xy[:, 0].repeat(2).to(dtype),
            "centre_y": centre_xy[:, 1].repeat(2).to(dtype),
            "grid": grid,
            "pixels": pixels,
        },
    )
