"""ONNX's image and spatial ops onto gc.image, graphc's layout functions and
scatter_nd: Resize, GridSample, AffineGrid, SpaceToDepth, DepthToSpace, CenterCropPad,
Col2Im, MaxUnpool, RoiAlign.
Sizes, scales and regions must be known when the graph is built (`ctx.static`)."""
from __future__ import annotations

import numpy as np

from ... import ops
from ...ops import image_layout, image_resize, image_sample
from .context import converter

_RESIZE_ATTRS = ("antialias", "axes", "coordinate_transformation_mode", "cubic_coeff_a",
                 "exclude_outside", "extrapolation_value", "keep_aspect_ratio_policy",
                 "mode", "nearest_mode")


def _resize_sizes(ctx, shape, axes):
    """(sizes, scales) along `axes` from the scales or sizes input, with
    keep_aspect_ratio_policy applied (ONNX's rounding)."""
    in_sizes = [shape[a] for a in axes]
    scales = ctx.static(2, None) if ctx.has_input(2) else None
    scales = None if scales is None or scales.size == 0 else scales.astype(np.float64)
    sizes = ctx.static_ints(3, None) if ctx.has_input(3) else None
    if (scales is None) == (sizes is None):
        raise ctx.error("exactly one of the inputs scales and sizes must be given")
    if scales is not None:
        if len(scales) != len(axes):
            raise ctx.error(f"{len(scales)} scales for {len(axes)} axes")
        return [int(s * n) for s, n in zip(scales, in_sizes)], list(scales)
    if len(sizes) != len(axes):
        raise ctx.error(f"{len(sizes)} sizes for {len(axes)} axes")
    policy = ctx.require("keep_aspect_ratio_policy", ("stretch", "not_larger", "not_smaller"),
                         "stretch")
    if policy == "stretch":
        return sizes, None
    ratios = [s / n for s, n in zip(sizes, in_sizes)]
    scale = min(ratios) if policy == "not_larger" else max(ratios)
    return [int(scale * n + 0.5) for n in in_sizes], [scale] * len(axes)


@converter("Resize", attrs=_RESIZE_ATTRS)
def resize(ctx):
    x = ctx.input(0)
    axes = [a % x.rank for a in ctx.attr("axes", range(x.rank))]
    if any(x.shape[a] is None for a in axes):
        raise ctx.error(f"input {x.type}: the resized axes need known sizes")
    sizes, scales = _resize_sizes(ctx, x.shape, axes)
    method = ctx.require("mode", ("nearest", "linear", "cubic"), "nearest")
    coordinates = ctx.require("coordinate_transformation_mode", image_resize.COORDINATES,
                              "half_pixel")
    antialias = bool(ctx.attr("antialias", 0))
    if antialias and method == "nearest":
        raise ctx.error("antialias=1 is defined for linear and cubic modes only")
    roi = None
    if coordinates == "tf_crop_and_resize":
        values = ctx.static(1).astype(np.float64).ravel()
        if len(values) == 2 * x.rank and len(axes) != x.rank:
            values = np.concatenate([values[:x.rank][axes], values[x.rank:][axes]])
        if len(values) != 2 * len(axes):
            raise ctx.error(f"roi has {len(values)} values for {len(axes)} axes")
        roi = list(zip(values[:len(axes)], values[len(axes):]))
    return image_resize.resize_axes(
        x, sizes, axes, method, coordinates, scales=scales,
        nearest_mode=ctx.require("nearest_mode", image_resize.NEAREST_MODES,
                                 "round_prefer_floor"),
        cubic_coeff_a=float(ctx.attr("cubic_coeff_a", -0.75)),
        exclude_outside=bool(ctx.attr("exclude_outside", 0)), antialias=antialias,
        roi=roi, extrapolation_value=float(ctx.attr("extrapolation_value", 0.0)))


@converter("SpaceToDepth", "DepthToSpace", attrs=("blocksize", "mode"))
def space_depth(ctx):
    fn = image_layout.space_to_depth if ctx.op_type == "SpaceToDepth" \
        else image_layout.depth_to_space
    return fn(ctx.input(0), ctx.attr("blocksize"), data_format="NCHW",
              mode=ctx.require("mode", ("DCR", "CRD"), "DCR"))


@converter("CenterCropPad", attrs=("axes",))
def center_crop_pad(ctx):
    x = ctx.input(0)
    axes = ctx.attr("axes", range(x.rank))
    return image_layout.center_crop_or_pad(x, ctx.static_ints(1), axes)


def _channels_last(x):
    return ops.transpose(x, [0, *range(2, x.rank), 1])


def _channels_first(y):
    return ops.transpose(y, [0, y.rank - 1, *range(1, y.rank - 1)])


_GRID_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear",
               "cubic": "cubic", "nearest": "nearest"}


@converter("GridSample", attrs=("align_corners", "mode", "padding_mode"))
def grid_sample(ctx):
    x, grid = ctx.input(0), ctx.input(1)
    mode = _GRID_MODES[ctx.require("mode", tuple(_GRID_MODES), "linear")]
    if grid.dtype != x.dtype:
        grid = ops.cast(grid, x.dtype)
    y = image_sample.grid_sample(
        _channels_last(x), grid, mode,
        ctx.require("padding_mode", image_sample.PADDING_MODES, "zeros"),
        bool(ctx.attr("align_corners", 0)))
    return _channels_first(y)


@converter("AffineGrid", attrs=("align_corners",))
def affine_grid(ctx):
    size = ctx.static_ints(1)
    return image_sample.affine_grid(ctx.input(0), size[2:],
                                    bool(ctx.attr("align_corners", 0)))


def _pairs(ctx, rank):
    pads = ctx.attr("pads", [0] * 2 * rank)
    return list(zip(pads[:rank], pads[rank:]))


@converter("Col2Im", attrs=("dilations", "pads", "strides"))
def col2im(ctx):
    image, block = ctx.static_ints(1), ctx.static_ints(2)
    k = len(image)
    return image_layout.col2im(ctx.input(0), image, block, ctx.attr("strides", [1] * k),
                               ctx.attr("dilations", [1] * k), _pairs(ctx, k))


@converter("MaxUnpool", attrs=("kernel_shape", "pads", "strides"))
def max_unpool(ctx):
    """Values placed at MaxPool's flat indices (into the whole unpooled tensor) by
    scatter_nd; indices repeated by overlapping windows add up where ONNX assigns."""
    x, indices = ctx.input(0), ctx.input(1)
    kernel = ctx.attr("kernel_shape")
    k = len(kernel)
    strides = ctx.attr("strides", [1] * k)
    if None in x.shape:
        raise ctx.error(f"input {x.type} needs known sizes")
    shape = list(x.shape[:2]) + [(n - 1) * s - a - b + kk for n, s, (a, b), kk in
                                 zip(x.shape[2:], strides, _pairs(ctx, k), kernel)]
    total = int(np.prod(shape))
    y = ops.reshape(ops.scatter_nd(ops.reshape(indices, (-1, 1)), ops.reshape(x, (-1,)),
                                   (total,)), shape)
    if ctx.has_input(2):
        out = ctx.static_ints(2)
        if len(out) != len(shape) or any(o < s for o, s in zip(out, shape)):
            raise ctx.error(f"output_shape {out} is smaller than the unpooled {shape}")
        y = ops.pad(y, [[0, o - s] for o, s in zip(out, shape)])
    return y


@converter("RoiAlign", attrs=("coordinate_transformation_mode", "mode", "output_height",
                              "output_width", "sampling_ratio", "spatial_scale"))
def roi_align(ctx):
    ratio = ctx.attr("sampling_ratio", 0)
    if ratio < 1:
        raise ctx.error("sampling_ratio=0 (a count adapted to each region's size) is not "
                        "supported: graphc's shapes are static; give sampling_ratio >= 1")
    x = ctx.input(0)
    y = image_sample.roi_align(
        _channels_last(x), ops.cast(ctx.input(1), x.dtype), ctx.input(2),
        (ctx.attr("output_height", 1), ctx.attr("output_width", 1)),
        spatial_scale=ctx.attr("spatial_scale", 1.0), sampling_ratio=ratio,
        mode=ctx.require("mode", ("avg", "max"), "avg"),
        aligned=ctx.require("coordinate_transformation_mode",
                            ("half_pixel", "output_half_pixel"), "half_pixel") == "half_pixel")
    return _channels_first(y)
