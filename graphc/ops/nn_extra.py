"""Neural-network building blocks beside conv and pooling: bias_add, dropout, batch
normalisation (moments + normalise), maxout.

Only bias_add and the dropout mask are ops of their own: bias_add to check the bias
against the channel axis and reduce its gradient in one step, the mask because it is
random. Batch normalisation and maxout are compositions of primitives, so their
gradients (and gradients of those) come from autodiff with nothing new to trust.
"""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, ShapeError, int64, register
from ..ir.errors import dtype_error, shape_error
from ..ir.types import dims_compatible
from .base import apply, as_tensor, as_tensors_like, normalize_axes, normalize_axis, same_dtype
from .elementwise import rsqrt, square, where
from .random_bits import stream_key, uniform, uniform_expr
from .reduce import reduce_max, reduce_mean, reduce_sum
from .shape import reshape, squeeze
from .state import identity


# -- bias_add -----------------------------------------------------------------------------
class BiasAdd(OpDef):
    """x + bias along the last (channel) axis: NHWC conv outputs and dense layers."""

    name = "bias_add"
    fusion = Fusion.BROADCAST
    num_inputs = 2

    def infer(self, inputs, attrs):
        x, bias = inputs
        dtype = same_dtype(inputs, "bias_add value and bias")
        if dtype.is_bool:
            raise dtype_error("bias_add does not take bool inputs")
        if x.rank < 1:
            raise shape_error(f"bias_add needs a value of rank >= 1, got {x}")
        if bias.rank != 1:
            raise shape_error(f"bias must be 1-D, got {bias}")
        if not dims_compatible(x.shape[-1], bias.shape[0]):
            raise shape_error(f"bias of size {bias.shape[0]} does not match the last "
                              f"(channel) dimension {x.shape[-1]} of {x}")
        return x

    def reference(self, node, x, bias):
        return (x + bias).astype(node.dtype.np_type, copy=False)

    def scalar(self, b, node, x, bias):
        return b.binary("add", x, bias)

    def grad(self, node, gy):
        x = node.inputs[0]
        return [gy, reduce_sum(gy, tuple(range(x.rank - 1)))]


register(BiasAdd())


def bias_add(value, bias, name=None) -> Node:
    """value + bias, the bias (1-D) added along the last axis (TF1's NHWC bias_add)."""
    value, bias = as_tensors_like(value, bias)
    return apply("bias_add", [value, bias], name=name)


# -- dropout ------------------------------------------------------------------------------
class DropoutMask(OpDef):
    """Random keep-mask shaped like x: 1 / (1 − rate) with probability 1 − rate, else 0.

    Stateful: every run draws a new mask from the session's stream for this node (seed,
    node name, draw count), so a new session with the same seed repeats the sequence.
    With `stateless` the mask depends on the seed alone and is the same in every run.
    The bits are counter-based (random_bits.py), so compiled backends draw the same mask
    and the mask fuses into its consumers like any elementwise op.
    """

    name = "dropout_mask"
    stateful = True
    random = True
    num_inputs = 1
    fusion = Fusion.ELEMWISE
    shape_only_inputs = (0,)

    def infer(self, inputs, attrs):
        if not inputs[0].dtype.is_floating:
            raise dtype_error(f"dropout needs a float32 or float64 input, got {inputs[0]}")
        return inputs[0]

    def element(self, b, vb, node, index):
        """keep where the element's uniform ≥ rate: the bits of random_bits.uniform at the
        element's row-major position, from this run's key (a buffer the runtime fills)."""
        key = b.load(vb.rng_keys[node], b.index(0), int64)
        position = b.linear_index(index, b.row_major_strides(node.shape))
        u = uniform_expr(b, key, position, node.dtype)
        rate = node.attrs["rate"]
        return b.select(b.compare("ge", u, b.const(rate, node.dtype)),
                        b.const(1.0 / (1.0 - rate), node.dtype), b.const(0, node.dtype))

    def evaluate(self, node, values, ctx):
        key = dropout_key(node, None if node.attrs["stateless"] else ctx.draw_count(node))
        keep = uniform(key, values[0].shape, node.dtype.np_type) >= node.attrs["rate"]
        return np.where(keep, 1.0 / (1.0 - node.attrs["rate"]), 0.0).astype(node.dtype.np_type)

    def grad(self, node, gy):
        return [None]


register(DropoutMask())


def dropout_key(node: Node, count: int | None) -> int:
    """The stream key of one draw of a dropout mask (count None: the stateless mask)."""
    if count is None:
        return stream_key(node.attrs["seed"], "stateless", 0)
    return stream_key(node.attrs["seed"], node.attrs.get("rng_key") or node.name, count)


def _check_rate(rate) -> float:
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    return rate


def _dropout(x, rate, training, seed, stateless, name):
    x = as_tensor(x)
    rate = _check_rate(rate)
    if rate == 0.0 or training is False:
        return identity(x, name=name or "dropout")
    if isinstance(training, Node):
        if not training.dtype.is_bool or training.rank != 0:
            raise TypeError(f"dropout: training must be a Python bool or a scalar bool "
                            f"tensor, got {training.type}")
    elif training is not True:
        raise TypeError(f"dropout: training must be a Python bool or a scalar bool tensor, "
                        f"got {training!r}")
    mask = apply("dropout_mask", [x], name="dropout_mask", rate=rate,
                 seed=None if seed is None else int(seed), stateless=stateless)
    dropped = x * mask
    if isinstance(training, Node):
        return where(training, dropped, x, name=name or "dropout")
    return identity(dropped, name=name or "dropout")


def dropout(x, rate=0.5, training=True, seed=None, name=None) -> Node:
    """Inverted dropout: zero each element with probability `rate` and scale the rest by
    1 / (1 − rate), so the expectation is unchanged and inference needs no rescaling.

    `training` is a Python bool or a scalar bool tensor (selected per run); when false,
    or when rate is 0, the result is x. A new mask is drawn every run; the same `seed`
    gives the same sequence of masks in a new session.
    """
    return _dropout(x, rate, training, seed, False, name)


def stateless_dropout(x, rate, seed, training=True, name=None) -> Node:
    """Dropout whose mask is a function of `seed` and x's shape only: the same mask in
    every run and every session (holding a mask fixed, e.g. to check gradients)."""
    return _dropout(x, rate, training, seed, True, name)


# -- batch normalisation ------------------------------------------------------------------
def moments(x, axes, keepdims=False, name=None) -> tuple[Node, Node]:
    """(mean, variance) of x over `axes`; variance is the biased (1/N) one."""
    x = as_tensor(x)
    axes = normalize_axes(axes, x.rank)
    base = name or "moments"
    mean = reduce_mean(x, axes, keepdims=True, name=f"{base}_mean")
    variance = reduce_mean(square(x - mean), axes, keepdims=keepdims, name=f"{base}_variance")
    if not keepdims:
        mean = squeeze(mean, axes)
    return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon,
                        name=None) -> Node:
    """(x − mean) · scale / √(variance + ε) + offset, all broadcast against x (TF1).

    offset or scale may be None (0 and 1). Written as x·a + (offset − mean·a) with
    a = scale · rsqrt(variance + ε), so x is touched by one multiply-add.
    """
    x = as_tensor(x)
    mean, variance = as_tensors_like(x, mean, variance)[1:]
    inv = rsqrt(variance + float(variance_epsilon))
    if scale is not None:
        inv = inv * as_tensors_like(x, scale)[1]
    shift = -mean * inv
    if offset is not None:
        shift = as_tensors_like(x, offset)[1] + shift
    return x * inv + shift if name is None else identity(x * inv + shift, name=name)


def layer_normalization(x, scale=None, offset=None, begin_axis=-1, epsilon=1e-5,
                        name=None) -> Node:
    """Layer normalisation: x normalised over the axes begin_axis .. rank − 1 with its
    own (biased) mean and variance there, then · scale + offset (each None or
    broadcast against those trailing axes). A composite of `moments` and
    `batch_normalization`; its gradient comes from theirs."""
    x = as_tensor(x)
    begin = normalize_axis(int(begin_axis), x.rank)
    mean, variance = moments(x, list(range(begin, x.rank)), keepdims=True,
                             name=f"{name or 'layer_normalization'}_moments")
    return batch_normalization(x, mean, variance, offset, scale, epsilon, name=name)


# -- maxout -------------------------------------------------------------------------------
def maxout(x, num_units, axis=-1, name=None) -> Node:
    """Max over groups of k = C / num_units consecutive channels along `axis`: unit u is
    max(x[..., u·k], ..., x[..., u·k + k − 1]). With x = concat of k affine maps this is
    the lecture's max(w1ᵀx + b1, w2ᵀx + b2) for k = 2."""
    x = as_tensor(x)
    axis = normalize_axis(int(axis), x.rank)
    channels, num_units = x.shape[axis], int(num_units)
    if channels is None:
        raise ShapeError(f"maxout: axis {axis} of '{x.name}' {x.type} must have a known size")
    if num_units < 1 or channels % num_units:
        raise ShapeError(f"maxout: {channels} channels of '{x.name}' {x.type} do not split "
                         f"into {num_units} units")
    dims = [-1 if d is None else d for d in x.shape]
    if dims.count(-1) > 1:
        raise ShapeError(f"maxout: '{x.name}' {x.type} has more than one unknown dimension")
    pieces = dims[:axis] + [num_units, channels // num_units] + dims[axis + 1:]
    return reduce_max(reshape(x, pieces), axis + 1, name=name or "maxout")
