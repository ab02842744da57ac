"""Power-average pooling, (Σ over the window |x|^p)^(1/p) (PyTorch's LPPool2d, ONNX's
LpPool), composed as a depthwise convolution with a filter of ones over |x|^p: the
window geometry (strides, padding, dilations) is the convolution's, padding adds 0."""
from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError
from .base import as_tensor
from .data_format import in_nhwc, spatial
from .depthwise import depthwise_conv2d
from .elementwise import abs, pow, sqrt, square
from .state import constant, identity
from .window import as_pair


def lp_pool2d(input, p, ksize, strides, padding="VALID", dilations=1,  # noqa: A002
              data_format="NHWC", name=None) -> Node:
    """(Σ |x|^p)^(1/p) over each window (p = 2: the root of the sum of squares)."""
    x = as_tensor(input)
    if p <= 0:
        raise ValueError(f"lp_pool2d: p must be positive, got {p}")
    kh, kw = as_pair(spatial(ksize, data_format), "ksize")

    def pool(v, name):
        channels = v.shape[3]
        if channels is None:
            raise ShapeError(f"lp_pool2d of '{v.name}' {v.type}: the channels need a known "
                             "size")
        powered = square(v) if p == 2 else pow(abs(v), float(p))
        ones = constant(np.ones((kh, kw, channels, 1), v.dtype.np_type))
        total = depthwise_conv2d(powered, ones, strides=spatial(strides, data_format),
                                 padding=padding, dilations=spatial(dilations, data_format))
        return identity(sqrt(total) if p == 2 else pow(total, 1.0 / p), name=name)
    return in_nhwc(pool, x, data_format, name or "lp_pool2d")
