"""2-D convolution (NHWC input, HWIO filters) and its two backprop ops.

conv2d is a trilinear form: with Y = conv2d(x, w), Bi(w, g) = conv2d_backprop_input and
Bf(x, g) = conv2d_backprop_filter,

    ⟨Y(x, w), g⟩ = ⟨x, Bi(w, g)⟩ = ⟨w, Bf(x, g)⟩.

So each of the three ops differentiates into the other two (the identity read with a
different pair of arguments held fixed), and grad-of-grad through a conv layer needs no
further ops. The backprop ops take the tensor whose gradient they produce as a
shape-only first/second input (like the `*_like` ops), so an unknown batch size is
fine.

References use im2col: the KH·KW window offsets are strided slices of the padded input,
stacked into an (N·OH·OW, KH·KW·C) matrix and multiplied by the (KH·KW·C, O) filter
matrix; the input gradient scatters the product back slice by slice (col2im).
"""
from __future__ import annotations

import math

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, register
from ..ir.errors import dtype_error, shape_error
from ..ir.types import dims_compatible, format_shape
from .base import apply, as_tensor, require_float, same_dtype
from .window import Geometry, as_pair, format_spatial, normalize_padding, output_hw


class ConvBase(OpDef):
    """Attrs and shape rules shared by conv2d and its backprop ops."""

    fusion = Fusion.OUT_ELEMWISE_FUSABLE
    num_inputs = 2

    def printed_attrs(self, attrs):
        shown = format_spatial(attrs["strides"], attrs["padding"], attrs["dilations"])
        if attrs.get("strict"):
            shown["strict"] = True
        return shown

    def output_type(self, x: TensorType, w: TensorType, attrs) -> TensorType:
        """conv2d's result type for input x and filters w (checks both)."""
        dtype = same_dtype([x, w], "conv2d input and filters")
        require_float(x, "conv2d input")
        if x.rank != 4:
            raise shape_error(f"conv2d input must be NHWC (rank 4), got {x}")
        if w.rank != 4:
            raise shape_error(f"conv2d filters must be HWIO (rank 4), got {w}")
        kh, kw, w_in, w_out = w.shape
        if kh is None or kw is None:
            raise shape_error(f"conv2d filter height and width must be known, got {w}")
        if not dims_compatible(x.shape[3], w_in):
            raise shape_error(f"input has {x.shape[3]} channels but the HWIO filters "
                              f"({format_shape(w.shape)}) expect {w_in}")
        oh, ow = output_hw(x.shape[1:3], (kh, kw), attrs["strides"],
                           attrs["dilations"], attrs["padding"], attrs.get("strict", False))
        return TensorType(dtype, (x.shape[0], oh, ow, w_out))

    def check_out_backprop(self, gy: TensorType, expected: TensorType) -> None:
        if gy.dtype != expected.dtype:
            raise dtype_error(f"out_backprop {gy} must have dtype {expected.dtype.name}")
        if gy.rank != 4 or not all(dims_compatible(a, b)
                                   for a, b in zip(gy.shape, expected.shape)):
            raise shape_error(f"out_backprop {gy} must have the convolution's output shape "
                              f"({format_shape(expected.shape)})")


def _geometry(node: Node, x_shape, w_shape) -> Geometry:
    a = node.attrs
    return Geometry(x_shape[1:3], w_shape[:2], a["strides"], a["dilations"],
                    a["padding"], a.get("strict", False))


def _im2col(x: np.ndarray, geo: Geometry) -> np.ndarray:
    """(N·OH·OW, KH·KW·C): row (n, i, j) holds window (i, j) of image n, offset-major."""
    xp = geo.pad(x)
    cols = np.stack([xp[index] for _, index in geo.windows()], axis=3)
    n, (oh, ow) = x.shape[0], geo.out_hw
    return cols.reshape(n * oh * ow, cols.shape[3] * cols.shape[4])   # sizes, not -1: n may be 0


def _attrs(node: Node) -> dict:
    return {k: node.attrs[k] for k in ("strides", "padding", "dilations")}


class Conv2D(ConvBase):
    name = "conv2d"
    lowering = "conv2d"

    def infer(self, inputs, attrs):
        return self.output_type(inputs[0], inputs[1], attrs)

    def reference(self, node, x, w):
        geo = _geometry(node, x.shape, w.shape)
        out = _im2col(x, geo) @ w.reshape(-1, w.shape[3])
        return out.reshape(x.shape[0], *geo.out_hw, w.shape[3]).astype(node.dtype.np_type,
                                                                         copy=False)

    def grad(self, node, gy):
        x, w = node.inputs
        return [conv2d_backprop_input(x, w, gy, **_attrs(node)),
                conv2d_backprop_filter(x, w, gy, **_attrs(node))]


class Conv2DBackpropInput(ConvBase):
    """dx = Bi(w, gy): every output gradient spread back over its window, weighted by
    the filter (a transposed convolution). Inputs: (x, shape only), w, gy."""

    name = "conv2d_backprop_input"
    lowering = "conv2d_backprop_input"
    num_inputs = 3
    shape_only_inputs = (0,)

    def infer(self, inputs, attrs):
        x, w, gy = inputs
        self.check_out_backprop(gy, self.output_type(x, w, attrs))
        return x

    def reference(self, node, x, w, gy):
        geo = _geometry(node, x.shape, w.shape)
        n, (oh, ow), channels = x.shape[0], geo.out_hw, x.shape[3]
        taps = w.shape[0] * w.shape[1]
        cols = gy.reshape(n * oh * ow, w.shape[3]) @ w.reshape(taps * channels, w.shape[3]).T
        cols = cols.reshape(n, oh, ow, taps, channels)
        dxp = geo.padded_zeros(n, channels, node.dtype.np_type)
        for k, index in geo.windows():
            dxp[index] += cols[:, :, :, k, :]
        return np.ascontiguousarray(geo.crop(dxp))

    def grad(self, node, g):
        # ⟨Bi(w, gy), g⟩ = ⟨conv2d(g, w), gy⟩ = ⟨w, Bf(g, gy)⟩
        x, w, gy = node.inputs
        return [None, conv2d_backprop_filter(g, w, gy, **_attrs(node)),
                conv2d(g, w, **_attrs(node))]


class Conv2DBackpropFilter(ConvBase):
    """dw = Bf(x, gy): for each filter tap, the input under it times the output gradient,
    summed over the batch and every position. Inputs: x, (w, shape only), gy."""

    name = "conv2d_backprop_filter"
    lowering = "conv2d_backprop_filter"
    num_inputs = 3
    shape_only_inputs = (1,)

    def infer(self, inputs, attrs):
        x, w, gy = inputs
        self.check_out_backprop(gy, self.output_type(x, w, attrs))
        return w

    def reference(self, node, x, w, gy):
        geo = _geometry(node, x.shape, w.shape)
        dw = _im2col(x, geo).T @ gy.reshape(math.prod(gy.shape[:3]), gy.shape[3])
        return dw.reshape(w.shape).astype(node.dtype.np_type, copy=False)

    def grad(self, node, g):
        # ⟨Bf(x, gy), g⟩ = ⟨conv2d(x, g), gy⟩ = ⟨x, Bi(g, gy)⟩
        x, w, gy = node.inputs
        return [conv2d_backprop_input(x, g, gy, **_attrs(node)), None,
                conv2d(x, g, **_attrs(node))]


register(Conv2D())
register(Conv2DBackpropInput())
register(Conv2DBackpropFilter())


def _spatial_attrs(strides, padding, dilations) -> dict:
    return {"strides": as_pair(strides, "strides"), "padding": normalize_padding(padding),
            "dilations": as_pair(dilations, "dilations")}


def conv2d(x, filters, strides=1, padding="VALID", dilations=1, strict=False,
           name=None) -> Node:
    """2-D cross-correlation of NHWC `x` with HWIO `filters` (TF1's conv2d).

    strides, dilations: an int or (h, w); padding: "SAME", "VALID", an int, (pad_h,
    pad_w) or ((top, bottom), (left, right)). Output size is
    floor((N + P − (F − 1)·D − 1) / S) + 1; `strict=True` refuses a remainder.
    """
    x, filters = as_tensor(x), as_tensor(filters)
    return apply("conv2d", [x, filters], name=name, strict=bool(strict),
                 **_spatial_attrs(strides, padding, dilations))


def conv2d_backprop_input(x, filters, out_backprop, strides=1, padding="VALID", dilations=1,
                          name=None) -> Node:
    """Gradient of conv2d w.r.t. its input, shaped like `x` (read for its shape only)."""
    return apply("conv2d_backprop_input",
                 [as_tensor(x), as_tensor(filters), as_tensor(out_backprop)], name=name,
                 **_spatial_attrs(strides, padding, dilations))


def conv2d_backprop_filter(x, filters, out_backprop, strides=1, padding="VALID",
                           dilations=1, name=None) -> Node:
    """Gradient of conv2d w.r.t. its filters, shaped like `filters` (shape only)."""
    return apply("conv2d_backprop_filter",
                 [as_tensor(x), as_tensor(filters), as_tensor(out_backprop)], name=name,
                 **_spatial_attrs(strides, padding, dilations))
