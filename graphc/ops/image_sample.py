"""Sampling images at computed points: grid_sample (PyTorch's and ONNX's GridSample,
on channels-last images), affine_grid, which makes its sampling grid, and roi_align.

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
from .array_composites import stack
from .elementwise import (abs, add_n, cast, floor, greater, greater_equal, less, less_equal,
                          logical_and, logical_or, maximum, mod, round, where)
from .indexing import gather
from .linalg import matmul
from .reduce import reduce_max, reduce_sum
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


def _roi_axis(start: Node, length: Node, size: int, bins: int, samples: int):
    """Bilinear taps along one axis of the sampling points of each ROI's bins: the
    points start + (bin + (s + ½)/samples) · length/bins, shaped (R, bins, samples);
    returns [(int position, weight)] for the two taps (ROIAlign's rule: a point more
    than one pixel outside reads nothing, one past the last pixel reads the last)."""
    offsets = constant(((np.arange(bins)[:, None] + (np.arange(samples) + 0.5) / samples)
                        / bins).astype(start.dtype.np_type))
    c = expand_dims(expand_dims(start, -1), -1) + \
        expand_dims(expand_dims(length, -1), -1) * offsets
    valid = cast(logical_and(greater_equal(c, -1.0), less_equal(c, float(size))), c.dtype)
    c = maximum(c, 0.0)
    f = floor(c)
    edge = greater_equal(f, size - 1.0)
    last = constant(size - 1.0, c.dtype)
    low = where(edge, last, f)
    high = where(edge, last, f + 1.0)
    frac = where(edge, c * 0.0, c - f)
    return [(cast(low, "int32"), (1.0 - frac) * valid), (cast(high, "int32"), frac * valid)]


def roi_align(images, rois, batch_indices, output_size, spatial_scale=1.0,
              sampling_ratio=2, mode="avg", aligned=False, name=None) -> Node:
    """Mask R-CNN's ROIAlign (as ONNX RoiAlign) on NHWC images: each region
    rois[r] = (x1, y1, x2, y2) (in input pixels / spatial_scale) of image
    batch_indices[r], cut into output_size bins, each bin the average (mode "avg") of
    sampling_ratio² bilinear samples, or ONNX's "max" (the largest weighted tap).
    aligned shifts the region by half a pixel (ONNX's half_pixel). Result
    (R, out_h, out_w, C). sampling_ratio must be ≥ 1 (an adaptive count would make
    the graph's shape depend on the regions)."""
    images, rois, batch_indices = as_tensor(images), as_tensor(rois), \
        as_tensor(batch_indices)
    out_h, out_w = (int(s) for s in output_size)
    g = int(sampling_ratio)
    if g < 1 or mode not in ("avg", "max"):
        raise ValueError(f"roi_align: sampling_ratio must be >= 1 and mode 'avg' or 'max', "
                         f"got {sampling_ratio}, {mode!r}")
    if images.rank != 4 or None in images.shape or rois.rank != 2 or rois.shape[1] != 4:
        raise ShapeError(f"roi_align: images {images.type} must be NHWC with known sizes "
                         f"and rois {rois.type} (R, 4)")
    _, height, width, channels = images.shape
    with images.graph.as_default(), images.graph.name_scope(name or "roi_align"):
        box = rois * float(spatial_scale) - (0.5 if aligned else 0.0)
        x1, y1, x2, y2 = (box[:, i] for i in range(4))
        w, h = x2 - x1, y2 - y1
        if not aligned:
            w, h = maximum(w, 1.0), maximum(h, 1.0)
        ys = _roi_axis(y1, h, height, out_h, g)                  # (R, out_h, g)
        xs = _roi_axis(x1, w, width, out_w, g)                   # (R, out_w, g)
        base = reshape(cast(batch_indices, "int32") * (height * width), (-1, 1, 1, 1, 1))
        flat = reshape(images, (-1, channels))
        taps = []
        for (yi, wy), (xi, wx) in itertools.product(ys, xs):
            row = base + expand_dims(expand_dims(yi * width, -1), -1) + \
                expand_dims(expand_dims(xi, 1), 1)              # (R, out_h, g, out_w, g)
            weight = expand_dims(expand_dims(wy, -1), -1) * expand_dims(expand_dims(wx, 1), 1)
            taps.append(gather(flat, row) * expand_dims(weight, -1))
        if mode == "avg":
            return reduce_sum(add_n(taps), [2, 4]) * (1.0 / (g * g))
        return reduce_max(stack(taps, 0), [0, 3, 5])
