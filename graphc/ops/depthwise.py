"""TF1's depthwise_conv2d and separable_conv2d, composed of slices, products and sums.

A depthwise convolution filters each input channel on its own: with filters
[kh, kw, C, M], output channel c·M + m is input channel c convolved with filter (c, m).
As a sum over the kh·kw window taps it is

    y[n, i, j, c, m] = Σ_{a,b} xpad[n, i·sₕ + a·dₕ, j·s_w + b·d_w, c] · w[a, b, c, m],

one strided slice of the padded input per tap, times that tap's (C, M) filter slice,
added up: exactly the depthwise work (no C-fold dense convolution with a block-diagonal
filter), each piece an op with a gradient rule and a lowering, so it runs and
differentiates on every backend. The taps and the padding are conv2d's
(ops/window.py's Geometry), so "SAME", "VALID", explicit pads, strides and dilations
mean what they mean for conv2d. Spatial sizes must be known (they fix the slices); the
batch may be unknown.
"""
from __future__ import annotations

from ..ir import Node, ShapeError
from .base import as_tensors_like
from .conv import conv2d
from .data_format import in_nhwc, spatial
from .elementwise import add_n
from .indexing import pad
from .shape import expand_dims, reshape
from .state import identity
from .window import Geometry, as_pair, normalize_padding


def depthwise_conv2d(input, filter, strides, padding, rate=None,  # noqa: A002 - TF1 names
                     name=None, data_format=None, dilations=None) -> Node:
    """TF1's tf.nn.depthwise_conv2d: NHWC (or NCHW) input, filters [kh, kw, C, M],
    C·M output channels; `rate` (or `dilations`) dilates the filter."""
    x, w = as_tensors_like(input, filter)
    strides, dilations = _strides_and_dilations(strides, rate, dilations, data_format)
    return in_nhwc(lambda v, n: _depthwise(v, w, strides, padding, dilations, n), x,
                   data_format, name or "depthwise")


def depthwise_conv2d_native(input, filter, strides, padding,  # noqa: A002 - TF1 names
                            data_format="NHWC", dilations=(1, 1, 1, 1), name=None) -> Node:
    """TF1's tf.nn.depthwise_conv2d_native (the same computation)."""
    return depthwise_conv2d(input, filter, strides, padding, None, name, data_format,
                            dilations)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides,  # noqa: A002
                     padding, rate=None, name=None, data_format=None, dilations=None) -> Node:
    """TF1's tf.nn.separable_conv2d: a depthwise convolution, then a 1x1 convolution with
    `pointwise_filter` [1, 1, C·M, out] mixing the channels."""
    x, dw, pw = as_tensors_like(input, depthwise_filter, pointwise_filter)
    if pw.rank != 4 or tuple(pw.shape[:2]) != (1, 1):
        raise ShapeError(f"separable_conv2d: pointwise_filter must be [1, 1, in, out], got "
                         f"'{pw.name}' {pw.type}")
    strides, dilations = _strides_and_dilations(strides, rate, dilations, data_format)
    return in_nhwc(lambda v, n: conv2d(_depthwise(v, dw, strides, padding, dilations, None),
                                       pw, name=n),
                   x, data_format, name or "separable_conv2d")


def _strides_and_dilations(strides, rate, dilations, data_format):
    strides = as_pair(spatial(strides, data_format), "strides")
    dilations = rate if rate is not None else dilations
    dilations = (1, 1) if dilations is None else \
        as_pair(spatial(dilations, data_format), "dilations")
    return strides, dilations


def _depthwise(x: Node, w: Node, strides, padding, dilations, name) -> Node:
    """The NHWC depthwise convolution as a sum over taps (module docstring)."""
    if x.rank != 4 or w.rank != 4:
        raise ShapeError(f"depthwise_conv2d: input {x.type} must be NHWC and filters "
                         f"{w.type} [kh, kw, C, M] (rank 4 each)")
    (kh, kw, channels, multiplier), (_, h, wd, c_in) = w.shape, x.shape
    if None in (kh, kw, channels, multiplier, h, wd) or c_in not in (None, channels):
        raise ShapeError(f"depthwise_conv2d: the input {x.type} must have known height, "
                         f"width and the filters' {channels} channels, and the filters "
                         f"{w.type} known sizes")
    try:
        geo = Geometry((h, wd), (kh, kw), strides, dilations, normalize_padding(padding))
    except ValueError as err:
        raise ShapeError(f"depthwise_conv2d of {x.type} with filters {w.type}: {err}") \
            from None
    if any(any(p) for p in geo.pads):
        x = pad(x, ((0, 0), geo.pads[0], geo.pads[1], (0, 0)))
    taps = [expand_dims(x[index], 4) * w[k // kw, k % kw] for k, index in geo.windows()]
    y = add_n(taps) if len(taps) > 1 else taps[0]
    batch = -1 if x.shape[0] is None else x.shape[0]
    return identity(reshape(y, (batch, *geo.out_hw, channels * multiplier)), name=name)
