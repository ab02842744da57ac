"""Max and average pooling over NHWC windows, and their backward ops.

Max pooling's gradient goes to one element per window: the first maximum in window
order (row-major over the window), so ties are broken the same way on every backend.
Overlapping windows (stride < window) add their contributions. The backward op is
linear in the incoming gradient with the argmax held fixed, so its own gradient is the
matching "gather at the argmax" op, and that one's gradient is the scatter again.

Average pooling divides by the number of real (non-padding) elements in each window,
as TF1 does for "SAME"; its backward op spreads gy / count over the window, and the
gradient of that linear map is average pooling again.

Windows may be dilated (taps `dilations` apart, as ONNX's and PyTorch's poolings); 3-D
pooling (`max_pool3d`, `avg_pool3d`) is separable into these 2-D ops.
"""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, int64, register
from ..ir.errors import dtype_error, shape_error
from ..ir.types import dims_compatible, format_shape
from .base import apply, as_tensor, require_float
from .window import (Geometry, as_pair, check_pool_padding, format_spatial,
                     normalize_padding, output_hw)


class PoolBase(OpDef):
    fusion = Fusion.OUT_ELEMWISE_FUSABLE
    num_inputs = 1

    def normalize_attrs(self, inputs, attrs):
        attrs = dict(attrs, dilations=tuple(attrs.get("dilations", (1, 1))))
        check_pool_padding(attrs["padding"], attrs["ksize"], attrs["dilations"])
        return attrs

    def printed_attrs(self, attrs):
        shown = {"ksize": attrs["ksize"]}
        shown.update(format_spatial(attrs["strides"], attrs["padding"], attrs["dilations"]))
        if attrs.get("strict"):
            shown["strict"] = True
        return shown

    def pooled_type(self, x: TensorType, attrs) -> TensorType:
        require_float(x, "pooling input")
        if x.rank != 4:
            raise shape_error(f"pooling input must be NHWC (rank 4), got {x}")
        oh, ow = output_hw(x.shape[1:3], attrs["ksize"], attrs["strides"],
                           attrs["dilations"], attrs["padding"], attrs.get("strict", False),
                           "window")
        return TensorType(x.dtype, (x.shape[0], oh, ow, x.shape[3]))

    def check_gy(self, gy: TensorType, x: TensorType, attrs) -> None:
        expected = self.pooled_type(x, attrs)
        if gy.dtype != x.dtype:
            raise dtype_error(f"gradient {gy} must have dtype {x.dtype.name}")
        if gy.rank != 4 or not all(dims_compatible(a, b)
                                   for a, b in zip(gy.shape, expected.shape)):
            raise shape_error(f"gradient {gy} must have the pooled shape "
                              f"({format_shape(expected.shape)})")


def _geometry(node: Node, x_shape) -> Geometry:
    a = node.attrs
    return Geometry(x_shape[1:3], a["ksize"], a["strides"], a["dilations"],
                    a["padding"], a.get("strict", False), "window")


def _pool_attrs(node: Node) -> dict:
    return {k: node.attrs[k] for k in ("ksize", "strides", "padding", "dilations")}


# -- max ----------------------------------------------------------------------------------
def _argmax_windows(x: np.ndarray, geo: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """(max, offset k of the first maximum) per window; padding never wins."""
    xp = geo.pad(x, -np.inf)
    best, arg = None, None
    for k, index in geo.windows():
        v = xp[index]
        if best is None:
            best, arg = v.copy(), np.zeros(v.shape, dtype=np.int64)
            continue
        better = v > best          # strict: an equal later value does not take over
        best = np.where(better, v, best)
        arg[better] = k
    return best, arg


class MaxPool2D(PoolBase):
    name = "max_pool2d"
    lowering = "max_pool2d"

    def infer(self, inputs, attrs):
        return self.pooled_type(inputs[0], attrs)

    def reference(self, node, x):
        geo = _geometry(node, x.shape)
        xp = geo.pad(x, -np.inf)
        out = None
        for _, index in geo.windows():
            out = xp[index].copy() if out is None else np.maximum(out, xp[index])
        return out.astype(node.dtype.np_type, copy=False)

    def grad(self, node, gy):
        return [apply("max_pool2d_grad", [node.inputs[0], gy], **_pool_attrs(node))]


class MaxPool2DGrad(PoolBase):
    """dx: each window's gradient added at its argmax. Inputs: x, gy."""

    name = "max_pool2d_grad"
    lowering = "max_pool2d_grad"
    fusion = Fusion.OUT_ELEMWISE_FUSABLE     # the ReLU mask of the layer below fuses in
    num_inputs = 2

    def infer(self, inputs, attrs):
        x, gy = inputs
        self.check_gy(gy, x, attrs)
        return x

    def reference(self, node, x, gy):
        geo = _geometry(node, x.shape)
        _, arg = _argmax_windows(x, geo)
        dxp = geo.padded_zeros(x.shape[0], x.shape[3], node.dtype.np_type)
        zero = np.zeros((), dtype=node.dtype.np_type)
        for k, index in geo.windows():
            dxp[index] += np.where(arg == k, gy, zero)
        return np.ascontiguousarray(geo.crop(dxp))

    def grad(self, node, g):
        # linear in gy with the argmax fixed: the adjoint reads g at each argmax
        x, _ = node.inputs
        return [None, apply("max_pool2d_grad_grad", [x, g], **_pool_attrs(node))]


class MaxPool2DGradGrad(PoolBase):
    """g read at each window's argmax (shaped like the pooled output). Inputs: x, g."""

    name = "max_pool2d_grad_grad"
    lowering = "max_pool2d_grad_grad"
    fusion = Fusion.OPAQUE
    num_inputs = 2

    def infer(self, inputs, attrs):
        x, g = inputs
        if g.dtype != x.dtype or g.rank != 4 or not all(
                dims_compatible(a, b) for a, b in zip(g.shape, x.shape)):
            raise shape_error(f"g {g} must have the type of the pooled input {x}")
        return self.pooled_type(x, attrs)

    def reference(self, node, x, g):
        geo = _geometry(node, x.shape)
        _, arg = _argmax_windows(x, geo)
        gp = geo.pad(g)
        out = np.zeros(arg.shape, dtype=node.dtype.np_type)
        for k, index in geo.windows():
            picked = arg == k
            out[picked] = gp[index][picked]
        return out

    def grad(self, node, gy):
        x, _ = node.inputs
        return [None, apply("max_pool2d_grad", [x, gy], **_pool_attrs(node))]


class MaxPool2DArgmax(PoolBase):
    """Where each window's first maximum is, as TF1's max_pool_with_argmax numbers it:
    (h·W + w)·C + c in x (NHWC, flattened), plus n·H·W·C with include_batch_in_index.
    int64; not differentiable."""

    name = "max_pool2d_argmax"
    lowering = "max_pool2d_argmax"
    fusion = Fusion.OPAQUE

    def infer(self, inputs, attrs):
        return TensorType(int64, self.pooled_type(inputs[0], attrs).shape)

    def reference(self, node, x):
        geo = _geometry(node, x.shape)
        _, arg = _argmax_windows(x, geo)
        n, oh, ow, c = np.indices(arg.shape, dtype=np.int64)
        kw = geo.ksize[1]
        h = oh * geo.strides[0] + arg // kw * geo.dilations[0] - geo.pads[0][0]
        w = ow * geo.strides[1] + arg % kw * geo.dilations[1] - geo.pads[1][0]
        _, height, width, channels = x.shape
        index = (h * width + w) * channels + c
        if node.attrs["include_batch_in_index"]:
            index += n * (height * width * channels)
        return index

    def grad(self, node, gy):
        return [None]


# -- average ------------------------------------------------------------------------------
def _window_counts(geo: Geometry, dtype) -> np.ndarray:
    """(1, OH, OW, 1): how many real elements each window covers."""
    ones = geo.pad(np.ones((1, *geo.in_hw, 1), dtype=dtype))
    counts = np.zeros((1, *geo.out_hw, 1), dtype=dtype)
    for _, index in geo.windows():
        counts += ones[index]
    return counts


class AvgPool2D(PoolBase):
    name = "avg_pool2d"
    lowering = "avg_pool2d"

    def infer(self, inputs, attrs):
        return self.pooled_type(inputs[0], attrs)

    def reference(self, node, x):
        geo = _geometry(node, x.shape)
        xp = geo.pad(x)
        total = np.zeros((x.shape[0], *geo.out_hw, x.shape[3]), dtype=node.dtype.np_type)
        for _, index in geo.windows():
            total += xp[index]
        return total / _window_counts(geo, node.dtype.np_type)

    def grad(self, node, gy):
        return [apply("avg_pool2d_grad", [node.inputs[0], gy], **_pool_attrs(node))]


class AvgPool2DGrad(PoolBase):
    """dx: gy / count spread evenly over each window. Inputs: (x, shape only), gy."""

    name = "avg_pool2d_grad"
    lowering = "avg_pool2d_grad"
    num_inputs = 2
    shape_only_inputs = (0,)

    def infer(self, inputs, attrs):
        x, gy = inputs
        self.check_gy(gy, x, attrs)
        return x

    def reference(self, node, x, gy):
        geo = _geometry(node, x.shape)
        share = gy / _window_counts(geo, node.dtype.np_type)
        dxp = geo.padded_zeros(x.shape[0], x.shape[3], node.dtype.np_type)
        for _, index in geo.windows():
            dxp[index] += share
        return np.ascontiguousarray(geo.crop(dxp))

    def grad(self, node, g):
        # the adjoint of "spread evenly" is "average": avg_pool2d again
        return [None, apply("avg_pool2d", [g], **_pool_attrs(node))]


for _op in (MaxPool2D(), MaxPool2DGrad(), MaxPool2DGradGrad(), MaxPool2DArgmax(), AvgPool2D(),
            AvgPool2DGrad()):
    register(_op)


def _pool(op_name, x, ksize, strides, padding, strict, dilations, name):
    ksize = as_pair(ksize, "ksize")
    strides = ksize if strides is None else as_pair(strides, "strides")
    return apply(op_name, [as_tensor(x)], name=name, ksize=ksize, strides=strides,
                 padding=normalize_padding(padding), strict=bool(strict),
                 dilations=as_pair(dilations, "dilations"))


def max_pool2d(x, ksize, strides=None, padding="VALID", strict=False, name=None,
               dilations=1) -> Node:
    """Maximum over each ksize window of NHWC `x` (strides default to ksize).

    ksize, strides: an int, (h, w) or TF's (1, h, w, 1); padding as for conv2d
    (padded positions never win); dilations: taps that far apart (an int or (h, w)).
    The gradient goes to the first maximum of each window.
    """
    return _pool("max_pool2d", x, ksize, strides, padding, strict, dilations, name)


def max_pool_with_argmax(input, ksize, strides, padding, include_batch_in_index=False,  # noqa: A002
                         name=None, dilations=1) -> tuple[Node, Node]:
    """(max_pool2d of NHWC `input`, int64 argmax) as TF1's tf.nn.max_pool_with_argmax:
    each window's first maximum at flat index (h·W + w)·C + c of the input, plus
    n·H·W·C with include_batch_in_index."""
    x = as_tensor(input)
    pooled = max_pool2d(x, ksize, strides, padding, name=name, dilations=dilations)
    argmax = apply("max_pool2d_argmax", [x], ksize=pooled.attrs["ksize"],
                   strides=pooled.attrs["strides"], padding=pooled.attrs["padding"],
                   dilations=pooled.attrs["dilations"],
                   include_batch_in_index=bool(include_batch_in_index))
    return pooled, argmax


def avg_pool2d(x, ksize, strides=None, padding="VALID", strict=False, name=None,
               dilations=1) -> Node:
    """Mean over each ksize window of NHWC `x`, counting only real (unpadded) elements."""
    return _pool("avg_pool2d", x, ksize, strides, padding, strict, dilations, name)
