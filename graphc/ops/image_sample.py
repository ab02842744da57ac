"""Sampling images at computed points: grid_sample (PyTorch's and ONNX's GridSample,
on channels-last images) and affine_grid, which makes its sampling grid.

Where grid_sample reads depends on the grid's values, so unlike resizing it cannot be
a constant map: the integer tap positions and the interpolation weights are graph
nodes computed from the grid (floor, fractional part, the kernel polynomials), and
each tap is a `gather` of image rows. The gradient to the image is then gather's
(rows added back where they were read), and the gradient to the grid flows through
the weights' dependence on the fractional part (piecewise: zero for nearest).
"""
from __future__ import annotations

import itertools

import numpy as np

from ..ir import Node, ShapeError
from .base import as_tensor
from .clip import clip_by_value
from .elementwise import abs, cast, floor, greater, less, logical_or, mod, round, where
from .indexing import gather
from .linalg import matmul
from .shape import expand_dims, reshape, transpose
from .state import constant

MODES = ("nearest", "linear", "cubic")
PADDING_MODES = ("zeros", "border", "reflection")
_CUBIC_A = -0.75    # PyTorch's and ONNX's bicubic


def _unnormalize(g: Node, size: int, align_corners: bool) -> Node:
    """Grid value in [−1, 1] → pixel coordinate: −1 and 1 are the centres of the
    corner pixels with align_corners, else their outer edges."""
    if align_corners:
        return (g + 1.0) * ((size - 1) / 2)
    return ((g + 1.0) * size - 1.0) * 0.5


def _reflect(c: Node, lo: float, hi: float) -> Node:
    """c mirrored at lo and hi (repeatedly) into [lo, hi]."""
    span = hi - lo
    if span <= 0:
        return c * 0.0 + lo
    t = mod(c - lo, 2 * span)
    return (span - abs(t - span)) + lo


def _bounds(size: int, align_corners: bool):
    return (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)


def _cubic_weights(r: Node) -> list[Node]:
    """Keys' weights of the taps at floor − 1 … floor + 2 for fraction r."""
    a = _CUBIC_A

    def near(d):
        return ((a + 2) * d - (a + 3)) * d * d + 1.0

    def far(d):
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return [far(r + 1.0), near(r), near(1.0 - r), far(2.0 - r)]


def _axis_taps(c: Node, size: int, method: str, padding_mode: str, align_corners: bool):
    """[(float tap position, weight or None)] along one axis for coordinates c, the
    positions mapped back into the image by the padding mode and the weights of taps
    outside it zeroed for padding 'zeros'."""
    lo, hi = _bounds(size, align_corners)
    if method == "nearest":
        c = round(c)                              # half to even, as ONNX and PyTorch
    if padding_mode == "border":
        c = where(logical_or(less(c, lo), greater(c, hi)),
                  clip_by_value(c, 0.0, size - 1.0), c)
    elif padding_mode == "reflection":
        c = _reflect(c, lo, hi)
    if method == "nearest":
        taps = [(c, None)]
    else:
        f = floor(c)
        r = c - f
        if method == "linear":
            taps = [(f, 1.0 - r), (f + 1.0, r)]
        else:
            taps = [(f + float(o), w) for o, w in zip((-1, 0, 1, 2), _cubic_weights(r))]
    placed = []
    for p, w in taps:
        if padding_mode == "zeros":
            inside = cast(logical_or(less(p, 0.0), greater(p, size - 1.0)), p.dtype)
            w = (1.0 - inside) if w is None else w * (1.0 - inside)
        elif padding_mode == "reflection":
            p = _reflect(p, lo, hi)
        placed.append((cast(clip_by_value(p, 0.0, size - 1.0), "int32"), w))
    return placed


def grid_sample(images, grid, method="linear", padding_mode="zeros", align_corners=False,
                name=None) -> Node:
    """images (N, *spatial, C) sampled at `grid` (N, *out, k), k = len(spatial), whose
    last axis holds normalised coordinates in [−1, 1] in reverse axis order (x = width
    first, as PyTorch and ONNX). method: nearest | linear | cubic; padding_mode: what
    points outside the image read (zeros, the border, or the image mirrored).
    The batch size must be known. Result (N, *out, C)."""
    images, grid = as_tensor(images), as_tensor(grid)
    if method not in MODES or padding_mode not in PADDING_MODES:
        raise ValueError(f"grid_sample: method must be one of {MODES}, padding_mode one of "
                         f"{PADDING_MODES}; got {method!r}, {padding_mode!r}")
    k = images.rank - 2
    if k < 1 or grid.rank != k + 2 or grid.shape[-1] != k:
        raise ShapeError(f"grid_sample: images {images.type} (N, *spatial, C) need a grid "
                         f"(N, *out, {k}), got {grid.type}")
    if None in images.shape or grid.shape[0] not in (images.shape[0], None):
        raise ShapeError(f"grid_sample: images {images.type} need known sizes and the grid "
                         f"{grid.type} the same batch")
    if not images.dtype.is_floating or grid.dtype != images.dtype:
        raise TypeError(f"grid_sample: images {images.type} and grid {grid.type} must be "
                        "float tensors of one dtype")
    n, spatial, channels = images.shape[0], images.shape[1:-1], images.shape[-1]
    strides = np.cumprod((1,) + spatial[:0:-1])[::-1]
    with images.graph.as_default(), images.graph.name_scope(name or "grid_sample"):
        rows = reshape(images, (-1, channels))
        per_axis = [_axis_taps(_unnormalize(grid[(..., k - 1 - j)], size, align_corners),
                               size, method, padding_mode, align_corners)
                    for j, size in enumerate(spatial)]
        batch = constant((np.arange(n) * int(np.prod(spatial))).astype(np.int32)
                         .reshape((n,) + (1,) * k))
        out = None
        for combo in itertools.product(*per_axis):
            row = batch
            weight = None
            for (p, w), stride in zip(combo, strides):
                row = row + (p * int(stride) if stride != 1 else p)
                weight = w if weight is None else (weight if w is None else weight * w)
            value = gather(rows, row)
            if weight is not None:
                value = value * expand_dims(weight, -1)
            out = value if out is None else out + value
        return out


def affine_grid(theta, size, align_corners=False, name=None) -> Node:
    """The grid_sample grid (N, *size, k) of the affine maps theta (N, k, k+1) applied
    to the normalised coordinates (x, y[, z], 1) of each output pixel; `size` the
    output's spatial sizes (height, width) or (depth, height, width)."""
    theta = as_tensor(theta)
    size = [int(s) for s in size]
    k = len(size)
    if k not in (2, 3) or theta.rank != 3 or tuple(theta.shape[1:]) != (k, k + 1):
        raise ShapeError(f"affine_grid: theta {theta.type} must be (N, {k}, {k + 1}) for "
                         f"{k}-D size {size} (2-D or 3-D)")

    def axis(d):
        if align_corners:
            return np.linspace(-1.0, 1.0, d) if d > 1 else np.zeros(1)
        return (np.arange(d) * 2.0 + 1.0) / d - 1.0
    coords = list(np.meshgrid(*[axis(d) for d in size], indexing="ij"))[::-1]  # x first
    base = np.stack(coords + [np.ones(size)], -1).reshape(-1, k + 1)
    with theta.graph.as_default(), theta.graph.name_scope(name or "affine_grid"):
        points = matmul(constant(base.astype(theta.dtype.np_type)),
                        transpose(theta, (0, 2, 1)))             # (N, Π size, k)
        return reshape(points, [-1 if theta.shape[0] is None else theta.shape[0]]
                       + size + [k])
