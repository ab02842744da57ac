"""Resizing as a constant linear map along each resized axis.

graphc's shapes are static, so which input elements feed an output element, and with
what weight, is known when the graph is built for every interpolation rule (nearest,
linear, cubic, area, antialiased filters, ONNX's and TF1's coordinate conventions).
`axis_taps` computes that map in numpy as *taps*: for each output position along an
axis, a few input indices and their weights (the rows of the out×in interpolation
matrix, stored sparsely). `resize_axes` applies them one axis at a time as a `gather`
of the taps and a weighted sum over them, so the graph holds only primitive ops and
gradients come from theirs (the gradient of a resize is the transposed map: gather_grad
adds each output's share back to its taps).

Cost: per axis, out × k indices and weights (k = 1 for nearest, 2 for linear, 4 for
cubic, more when antialiasing or area-averaging a downscale by s: about 2k/s), and
k multiply-adds per output element: a dense out × in matrix would cost in/k times
more memory and work, which matters for large images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Node, ShapeError
from .base import as_tensor, normalize_axis
from .elementwise import cast, where
from .indexing import gather
from .reduce import reduce_sum
from .state import constant

METHODS = ("nearest", "linear", "cubic", "area")
COORDINATES = ("half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
               "asymmetric", "tf_crop_and_resize")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


@dataclass(frozen=True)
class AxisTaps:
    """out[j] = Σ_t weight[j, t] · in[index[j, t]] along one axis; rows where `inside`
    is False read no input (the extrapolation value goes there)."""
    index: np.ndarray            # (out, k) int64, within [0, in)
    weight: np.ndarray           # (out, k) float64
    inside: np.ndarray | None    # (out,) bool, None when every row is inside

    def matrix(self, in_size: int) -> np.ndarray:
        """The dense (out, in) interpolation matrix (for tests and inspection)."""
        m = np.zeros((len(self.index), in_size))
        rows = np.repeat(np.arange(len(self.index)), self.index.shape[1])
        np.add.at(m, (rows, self.index.ravel()), self.weight.ravel())
        if self.inside is not None:
            m[~self.inside] = 0
        return m


def source_coordinates(in_size: int, out_size: int, scale: float, coordinates: str,
                       roi=(0.0, 1.0)) -> np.ndarray:
    """Where output position j samples the input, in input pixels (ONNX Resize's
    coordinate_transformation_mode). `scale` is out/in unless given otherwise; the
    corner-aligned modes divide by the scaled width in · scale, as ONNX does, which
    differs from out_size when a given scale does not divide evenly."""
    j = np.arange(out_size, dtype=np.float64)
    width = scale * in_size
    if coordinates == "half_pixel":
        return (j + 0.5) / scale - 0.5
    if coordinates == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - out_size / width)
        return offset + (j + 0.5) / scale - 0.5
    if coordinates == "pytorch_half_pixel":
        return (j + 0.5) / scale - 0.5 if width != 1 else np.full(out_size, -0.5)
    if coordinates == "align_corners":
        return j * (in_size - 1) / (width - 1) if width != 1 else np.zeros(out_size)
    if coordinates == "asymmetric":
        return j / scale
    if coordinates == "tf_crop_and_resize":
        lo, hi = (float(v) for v in roi)
        if width != 1:
            x = j * (hi - lo) * (in_size - 1) / (width - 1)
        else:
            x = np.full(out_size, (hi - lo) * (in_size - 1) / 2)
        return x + lo * (in_size - 1)
    raise ValueError(f"unknown coordinate transformation {coordinates!r} "
                     f"(known: {', '.join(COORDINATES)})")


def _cubic(d: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel with parameter a (−0.75 as OpenCV and TF1's
    legacy bicubic, −0.5 as Keys and TF's half-pixel bicubic)."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _filter_taps(x: np.ndarray, method: str, scale: float, nearest_mode: str,
                 cubic_coeff_a: float, antialias: bool):
    """(index, weight), unclamped, for sampling points x by `method`. The window is
    ONNX's: n taps around x, the left one preferred when x is an integer."""
    support = {"nearest": 1.0, "linear": 1.0, "cubic": 2.0}[method]
    stretch = min(scale, 1.0) if antialias and method != "nearest" else 1.0
    n = 2 - 2 * int(np.floor(-support / stretch) + 1)      # even, 2 without antialias
    floor = np.floor(x)
    integral = x == floor
    ratio = np.where(integral, 1.0, x - floor)              # in (0, 1]
    base = np.where(integral, x - 1, floor).astype(np.int64)
    offsets = np.arange(n) - (n // 2 - 1)
    index = base[:, None] + offsets
    d = offsets[None, :] - ratio[:, None]                   # tap position − x
    if method == "nearest":
        up = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
              "floor": integral, "ceil": np.ones_like(integral)}[nearest_mode]
        up = up | integral
        return np.where(up, base + 1, base)[:, None], np.ones((len(x), 1))
    kernel = np.maximum(1 - np.abs(d * stretch), 0) if method == "linear" \
        else _cubic(d * stretch, cubic_coeff_a)
    if antialias:
        kernel = kernel / kernel.sum(1, keepdims=True)
    return index, kernel


def _area_taps(in_size: int, out_size: int):
    """TF1's resize_area: output j averages the input box [j·s, (j+1)·s), s = in/out,
    each input pixel weighted by how much of it the box covers."""
    s = in_size / out_size
    lo = np.arange(out_size) * s
    hi = lo + s
    first = np.floor(lo).astype(np.int64)
    k = int(np.ceil(s)) + 1
    index = first[:, None] + np.arange(k)
    cover = np.minimum(index + 1, hi[:, None]) - np.maximum(index, lo[:, None])
    weight = np.clip(cover, 0, None) / s
    return index, np.where(index < in_size, weight, 0.0)


def axis_taps(in_size: int, out_size: int, method: str = "linear",
              coordinates: str = "half_pixel", scale: float | None = None,
              nearest_mode: str = "round_prefer_floor", cubic_coeff_a: float = -0.75,
              exclude_outside: bool = False, antialias: bool = False,
              roi=(0.0, 1.0)) -> AxisTaps:
    """The taps resizing one axis from in_size to out_size (ONNX Resize's attributes;
    `scale` defaults to out/in). Taps outside the input read its edge (exclude_outside:
    they get weight 0 and the rest are renormalised)."""
    if method not in METHODS:
        raise ValueError(f"unknown resize method {method!r} (known: {', '.join(METHODS)})")
    if nearest_mode not in NEAREST_MODES:
        raise ValueError(f"unknown nearest_mode {nearest_mode!r} "
                         f"(known: {', '.join(NEAREST_MODES)})")
    if in_size < 1 or out_size < 0:
        raise ShapeError(f"resize from size {in_size} to {out_size}: sizes must be positive")
    scale = out_size / in_size if scale is None else float(scale)
    inside = None
    if method == "area":
        if coordinates != "asymmetric" or antialias:
            raise ValueError("area resizing averages boxes [j·s, (j+1)·s): it has no "
                             "coordinate transformation other than 'asymmetric' and no "
                             "antialias")
        index, weight = _area_taps(in_size, out_size)
    else:
        x = source_coordinates(in_size, out_size, scale, coordinates, roi)
        if coordinates == "tf_crop_and_resize":
            inside = (x >= 0) & (x <= in_size - 1)
            inside = None if inside.all() else inside
        index, weight = _filter_taps(x, method, scale, nearest_mode, cubic_coeff_a,
                                     antialias)
    if exclude_outside:
        weight = np.where((index < 0) | (index >= in_size), 0.0, weight)
        total = weight.sum(1, keepdims=True)
        weight = weight / np.where(total == 0, 1.0, total)
    return _compact(AxisTaps(np.clip(index, 0, in_size - 1), weight, inside))


def _compact(taps: AxisTaps) -> AxisTaps:
    """Drop taps of weight 0 in every row; a map reading one input per row at weight 1
    becomes a single-tap (pure gather) map."""
    index, weight = taps.index, taps.weight
    order = np.argsort(weight == 0, axis=1, kind="stable")    # nonzero taps first
    index = np.take_along_axis(index, order, 1)
    weight = np.take_along_axis(weight, order, 1)
    k = max(int((weight != 0).sum(1).max(initial=0)), 1)
    index, weight = index[:, :k], weight[:, :k]
    return AxisTaps(index, weight, taps.inside)


def _is_identity(taps: AxisTaps, in_size: int) -> bool:
    return (taps.inside is None and taps.index.shape == (in_size, 1)
            and (taps.index[:, 0] == np.arange(in_size)).all()
            and (taps.weight == 1).all())


def apply_taps(x: Node, axis: int, taps: AxisTaps) -> Node:
    """x resized along `axis` by `taps` (rows outside the input give 0)."""
    in_size = x.shape[axis]
    if _is_identity(taps, in_size):
        return x
    index = constant(taps.index.astype(np.int32))
    weight = taps.weight
    if taps.inside is not None:
        weight = weight * taps.inside[:, None]
    if index.shape[1] == 1 and (weight == 1).all():
        return gather(x, index[:, 0], axis=axis)
    out, k = weight.shape
    w = constant(weight.reshape((out, k) + (1,) * (x.rank - axis - 1))
                 .astype(x.dtype.np_type))
    return reduce_sum(gather(x, index, axis=axis) * w, axis + 1)


def resize_axes(x, sizes, axes, method="linear", coordinates="half_pixel", scales=None,
                nearest_mode="round_prefer_floor", cubic_coeff_a=-0.75,
                exclude_outside=False, antialias=False, roi=None, extrapolation_value=0.0,
                name=None) -> Node:
    """x resized to `sizes` along `axes` (known sizes), separably: one `axis_taps` map
    per axis (ONNX Resize's options; `scales` default to size/in; `roi` the
    (start, end) pair per axis for 'tf_crop_and_resize'). Where a sampling point falls
    outside the input under 'tf_crop_and_resize', the result is extrapolation_value.
    Non-nearest methods need a float x."""
    x = as_tensor(x)
    axes = [normalize_axis(int(a), x.rank) for a in axes]
    sizes = [int(s) for s in sizes]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"resize of '{x.name}' {x.type}: repeated axis in {axes}")
    if len(sizes) != len(axes):
        raise ShapeError(f"resize of '{x.name}' {x.type}: {len(sizes)} sizes for "
                         f"{len(axes)} axes")
    if method != "nearest" and not x.dtype.is_floating:
        raise TypeError(f"{method} resizing of '{x.name}' {x.type} needs a float tensor "
                        "(gc.cast it first)")
    scales = [None] * len(axes) if scales is None else list(scales)
    rois = [(0.0, 1.0)] * len(axes) if roi is None else [tuple(r) for r in roi]
    outside = None
    y = x
    with x.graph.as_default(), x.graph.name_scope(name or "resize"):
        for axis, size, scale, r in zip(axes, sizes, scales, rois):
            if x.shape[axis] is None:
                raise ShapeError(f"resize of '{x.name}' {x.type}: axis {axis} needs a "
                                 "known size")
            taps = axis_taps(x.shape[axis], size, method, coordinates, scale, nearest_mode,
                             cubic_coeff_a, exclude_outside, antialias, r)
            y = apply_taps(y, axis, taps)
            if taps.inside is not None:
                shape = [1] * x.rank
                shape[axis] = size
                out = ~taps.inside.reshape(shape)
                outside = out if outside is None else outside | out
        if outside is not None:
            y = where(constant(outside), constant(extrapolation_value, y.dtype), y)
        return y


def as_float(x: Node) -> Node:
    """x, or x cast to float32 when it is not a float tensor (TF1's resize ops return
    float32 for integer images)."""
    return x if x.dtype.is_floating else cast(x, "float32")
