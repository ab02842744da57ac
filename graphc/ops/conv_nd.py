"""Grouped and 3-D convolutions composed of the 2-D convolution ops, so their gradients
and lowering come from conv2d and its backprop ops.

Grouped: the channels split into `groups` blocks, block g of the output computed from
block g of the input alone (ResNeXt's, ONNX's `group`): one conv per group, concatenated.

3-D (NDHWC input, DHWIO filters): output depth slice o sums, over the filter's depth
taps a, the 2-D convolution of input depth slice o·s + a·d (of the depth-padded input)
with the filter's slice a; each tap is one conv2d over all (N·OD) depth slices at once,
picked by a strided slice. The transposed convolution is its adjoint: each tap's
conv2d_backprop_input, spread back to depth positions o·s + a·d (zeros interleaved by
a pad and a reshape), summed, the depth padding cropped.
"""
from __future__ import annotations

from ..ir import Node, ShapeError
from .base import as_tensor
from .conv import conv2d, conv2d_backprop_input
from .elementwise import add_n
from .indexing import getitem, pad
from .shape import broadcast_to, concat, expand_dims, reshape
from .state import constant, identity
from .window import (as_triple, effective_size, resolve_padding, split_depth_padding)


def per_group(fn, groups: int, x, w, w_axis: int, what: str) -> Node:
    """concat over g of fn(x's channel block g, w's block g along w_axis), on channels."""
    x, w = as_tensor(x), as_tensor(w)
    groups = int(groups)
    if groups == 1:
        return fn(x, w)
    c, n = x.shape[-1], w.shape[w_axis]
    if c is None or n is None or c % groups or n % groups:
        raise ShapeError(f"{what} with groups={groups}: the input's channels ({x.type}) and "
                         f"the filters' axis {w_axis} ({w.type}) must be known multiples of "
                         "the groups")
    cx, cw = c // groups, n // groups
    outs = []
    for g in range(groups):
        xg = getitem(x, (Ellipsis, slice(g * cx, (g + 1) * cx)))
        wg = getitem(w, (slice(None),) * w_axis + (slice(g * cw, (g + 1) * cw),))
        outs.append(fn(xg, wg))
    return concat(outs, -1)


def grouped_conv2d(x, filters, groups: int, strides=1, padding="VALID", dilations=1,
                   name=None) -> Node:
    """conv2d of NHWC `x` (C channels) with HWIO `filters` of C / groups input channels:
    output channel block g (of O / groups) reads input channel block g only."""
    y = per_group(lambda xg, wg: conv2d(xg, wg, strides, padding, dilations), groups,
                  x, filters, 3, "grouped_conv2d")
    return y if name is None else identity(y, name=name)


def _depth_geometry(x_shape, kd, stride, dilation, depth_padding, what):
    """(pad before, pad after, output depth) along depth."""
    d = x_shape[1]
    k_eff = effective_size(kd, dilation)
    pads = depth_padding if isinstance(depth_padding, str) else (tuple(depth_padding),)
    before, after = resolve_padding(pads, d, k_eff, stride, 0)
    span = d + before + after - k_eff
    if span < 0:
        raise ShapeError(f"{what}: filter depth {kd} (dilated to {k_eff}) is larger than "
                         f"the padded input depth {d} + {before + after}")
    return before, after, span // stride + 1


def _check_3d(x, w, what, w_desc):
    if x.rank != 5 or w.rank != 5:
        raise ShapeError(f"{what}: input {x.type} must be NDHWC and filters {w.type} "
                         f"{w_desc} (rank 5)")
    if None in x.shape[1:] or None in w.shape:
        raise ShapeError(f"{what}: the input's depth, height, width and channels "
                         f"({x.type}) and the filters' shape ({w.type}) must be known")


def _conv3d(x, w, strides, padding, dilations) -> Node:
    _check_3d(x, w, "conv3d", "DHWIO")
    s, dil = as_triple(strides, "strides"), as_triple(dilations, "dilations")
    depth_pad, plane_pad = split_depth_padding(padding)
    _, d, h, wd, c = x.shape
    before, after, od = _depth_geometry(x.shape, w.shape[0], s[0], dil[0], depth_pad,
                                        "conv3d")
    if before or after:
        x = pad(x, [(0, 0), (before, after), (0, 0), (0, 0), (0, 0)])
    taps = []
    for a in range(w.shape[0]):
        start = a * dil[0]
        slices = getitem(x, (slice(None), slice(start, start + (od - 1) * s[0] + 1, s[0])))
        y = conv2d(reshape(slices, (-1, h, wd, c)), w[a], s[1:], plane_pad, dil[1:])
        taps.append(reshape(y, (-1, od, *y.shape[1:])))
    return add_n(taps) if len(taps) > 1 else taps[0]


def conv3d(x, filters, strides=1, padding="VALID", dilations=1, groups=1,
           name=None) -> Node:
    """3-D cross-correlation of NDHWC `x` with DHWIO `filters` (TF1's tf.nn.conv3d).

    strides, dilations: an int, (d, h, w) or (1, d, h, w, 1); padding: "SAME",
    "VALID", an int or one (before, after) pair per spatial axis; groups: the input
    channels' blocks (filters then have C / groups input channels). Spatial sizes and
    channels must be known (the batch need not).
    """
    y = per_group(lambda xg, wg: _conv3d(xg, wg, strides, padding, dilations), groups,
                  as_tensor(x), as_tensor(filters), 4, "conv3d")
    return y if name is None else identity(y, name=name)


def _spread_depth(z, stride: int, start: int, depth: int) -> Node:
    """z (N, OD, ...) placed at depths start + o·stride of a zero (N, depth, ...) tensor."""
    od = z.shape[1]
    if stride > 1:
        rest = list(z.shape[2:])
        z = pad(expand_dims(z, 2), [(0, 0), (0, 0), (0, stride - 1)] + [(0, 0)] * len(rest))
        z = reshape(z, (-1, od * stride, *rest))
        z = getitem(z, (slice(None), slice(0, (od - 1) * stride + 1)))
    span = (od - 1) * stride + 1
    return pad(z, [(0, 0), (start, depth - start - span)] + [(0, 0)] * (z.rank - 2))


def _conv3d_transpose(value, w, output_shape, strides, padding, dilations) -> Node:
    _check_3d(value, w, "conv3d_transpose", "[d, h, w, out, in]")
    s, dil = as_triple(strides, "strides"), as_triple(dilations, "dilations")
    depth_pad, plane_pad = split_depth_padding(padding)
    n, d, h, wd, c_out = output_shape
    before, after, od = _depth_geometry(output_shape, w.shape[0], s[0], dil[0], depth_pad,
                                        "conv3d_transpose")
    if od != value.shape[1]:
        raise ShapeError(f"conv3d_transpose: output_shape {output_shape} convolved gives "
                         f"depth {od}, but the value {value.type} has {value.shape[1]}")
    like = broadcast_to(constant(0.0, value.dtype), (n * od, h, wd, c_out))
    planes = reshape(value, (-1, *value.shape[2:]))
    taps = []
    for a in range(w.shape[0]):
        z = conv2d_backprop_input(like, w[a], planes, s[1:], plane_pad, dil[1:])
        z = reshape(z, (n, od, h, wd, c_out))
        taps.append(_spread_depth(z, s[0], a * dil[0], d + before + after))
    total = add_n(taps) if len(taps) > 1 else taps[0]
    return getitem(total, (slice(None), slice(before, before + d)))


def conv3d_transpose(value, filters, output_shape, strides, padding="SAME", dilations=1,
                     groups=1, name=None) -> Node:
    """The gradient of conv3d with respect to its input (TF1's tf.nn.conv3d_transpose):
    NDHWC `value`, filters [d, h, w, output channels / groups, input channels],
    output_shape (N, D, H, W, output channels) fully known."""
    output_shape = tuple(int(v) for v in output_shape)
    value, filters = as_tensor(value), as_tensor(filters)

    def one(vg, wg):
        shape = output_shape[:4] + (output_shape[4] // int(groups),)
        return _conv3d_transpose(vg, wg, shape, strides, padding, dilations)
    y = per_group(one, groups, value, filters, 4, "conv3d_transpose")
    return y if name is None else identity(y, name=name)
