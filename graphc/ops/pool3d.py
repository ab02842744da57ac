"""3-D max and average pooling over NDHWC windows (TF1's max_pool3d / avg_pool3d), as
two passes of the 2-D pooling ops.

Both poolings are separable over a box window: the maximum over (depth, height, width)
is the maximum over depth of the maxima over (height, width), and since the number of
real (unpadded) elements of a box is the product of its per-axis counts, the mean over
the box is the mean over depth of the means over (height, width). So the first pass
pools each depth slice as an (N·D, H, W, C) image, the second pools depth as the
height of an (N, D, OH·OW, C) image with a (kd, 1) window. Exact, the gradients come
from the 2-D ops, and every backend runs them. Padding, strides and dilations are per
axis ("SAME" decides each axis's padding from that axis alone).
"""
from __future__ import annotations

from ..ir import Node
from ..ir.errors import ShapeError
from .base import as_tensor
from .pool import avg_pool2d, max_pool2d
from .shape import reshape
from .window import as_triple, split_depth_padding


def _pool3d(pool2d, x, ksize, strides, padding, dilations, name) -> Node:
    x = as_tensor(x)
    if x.rank != 5:
        raise ShapeError(f"3-D pooling input must be NDHWC (rank 5), got {x.type}")
    _, d, h, w, c = x.shape
    if None in (d, h, w, c):
        raise ShapeError(f"3-D pooling needs the depth, height, width and channels known, "
                          f"got {x.type}")
    k = as_triple(ksize, "ksize")
    s = k if strides is None else as_triple(strides, "strides")
    dil = as_triple(dilations, "dilations")
    depth_pad, plane_pad = split_depth_padding(padding)
    if not isinstance(depth_pad, str):
        depth_pad = (depth_pad, (0, 0))       # the depth pass's (height, width) padding
    planes = pool2d(reshape(x, (-1, h, w, c)), k[1:], s[1:], plane_pad, dilations=dil[1:])
    oh, ow = planes.shape[1:3]
    columns = reshape(planes, (-1, d, oh * ow, c))
    pooled = pool2d(columns, (k[0], 1), (s[0], 1), depth_pad, dilations=(dil[0], 1))
    return reshape(pooled, (-1, pooled.shape[1], oh, ow, c), name=name)


def max_pool3d(x, ksize, strides=None, padding="VALID", dilations=1, name=None) -> Node:
    """Maximum over each (kd, kh, kw) window of NDHWC `x` (TF1's tf.nn.max_pool3d;
    strides default to ksize; padded positions never win). ksize, strides, dilations:
    an int, (d, h, w) or (1, d, h, w, 1); padding: "SAME", "VALID", an int or one
    (before, after) pair per spatial axis. The gradient goes to the first maximum of
    each window in (height, width)-then-depth order."""
    return _pool3d(max_pool2d, x, ksize, strides, padding, dilations, name)


def avg_pool3d(x, ksize, strides=None, padding="VALID", dilations=1, name=None) -> Node:
    """Mean over each window of NDHWC `x`, counting only real (unpadded) elements (TF1's
    tf.nn.avg_pool3d)."""
    return _pool3d(avg_pool2d, x, ksize, strides, padding, dilations, name)
