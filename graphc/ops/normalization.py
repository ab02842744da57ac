"""Normalisations beside batch and layer normalisation: RMS, group, instance, local
response (TF1's lrn) and Lp normalisation.

All are compositions of reductions and elementwise ops (group normalisation adds a
reshape, local response normalisation a matmul against a 0/1 band of neighbouring
channels), so their gradients come from autodiff.
"""
from __future__ import annotations

import numpy as np

from ..ir import Node, ShapeError
from .base import as_tensors_like, float_tensor, normalize_axis
from .elementwise import abs as abs_, maximum, pow as pow_, rsqrt, square
from .linalg import matmul
from .nn_extra import batch_normalization, moments
from .reduce import reduce_mean, reduce_sum
from .shape import reshape
from .state import constant, identity


def _named(y: Node, name, default: str) -> Node:
    return identity(y, name=name or default)


def rms_normalization(x, scale=None, begin_axis=-1, epsilon=1e-5, name=None) -> Node:
    """x / √(mean(x²) + ε) over the axes begin_axis .. rank − 1, times `scale` (None or
    broadcast against those axes): layer normalisation without centring (RMSNorm)."""
    x = float_tensor(x, "rms_normalization input")
    begin = normalize_axis(int(begin_axis), x.rank)
    mean_square = reduce_mean(square(x), list(range(begin, x.rank)), keepdims=True)
    y = x * rsqrt(mean_square + float(epsilon))
    if scale is not None:
        y = y * as_tensors_like(x, scale)[1]
    return _named(y, name, "rms_normalization")


def _per_channel(x: Node, value, axis: int) -> Node:
    """A (C,) scale or offset shaped to broadcast along x's channel axis."""
    value = as_tensors_like(x, value)[1]
    if value.rank != 1:
        return value
    shape = [1] * x.rank
    shape[axis] = -1
    return reshape(value, shape)


def group_normalization(x, groups, scale=None, offset=None, epsilon=1e-5, channels_axis=-1,
                        name=None) -> Node:
    """Group normalisation: the channels split into `groups` consecutive groups; each
    example's group is normalised by its own mean and (biased) variance over the
    group's channels and every axis but the batch (0), then · scale + offset (each None
    or a (C,) per-channel vector). TF1 contrib's group_norm, channels last by default."""
    x = float_tensor(x, "group_normalization input")
    axis = normalize_axis(int(channels_axis), x.rank)
    channels, groups = x.shape[axis], int(groups)
    if axis == 0 or channels is None or groups < 1 or channels % groups:
        raise ShapeError(f"group_normalization: the channels (axis {axis}) of '{x.name}' "
                         f"{x.type} must be known, not the batch axis, and split into "
                         f"{groups} groups")
    dims = [-1 if d is None else d for d in x.shape]
    if dims.count(-1) > 1:
        raise ShapeError(f"group_normalization: '{x.name}' {x.type} has more than one "
                         "unknown dimension")
    grouped = reshape(x, dims[:axis] + [groups, channels // groups] + dims[axis + 1:])
    axes = [a for a in range(1, grouped.rank) if a != axis]
    mean, variance = moments(grouped, axes, keepdims=True)
    y = reshape(batch_normalization(grouped, mean, variance, None, None, epsilon), dims)
    return _affine(y, scale, offset, axis, name, "group_normalization")


def instance_normalization(x, scale=None, offset=None, epsilon=1e-5, channels_axis=-1,
                           name=None) -> Node:
    """Instance normalisation: each example's channel normalised by its own mean and
    (biased) variance over the other non-batch axes, then · scale + offset (each None
    or (C,)); group normalisation with one channel per group."""
    x = float_tensor(x, "instance_normalization input")
    axis = normalize_axis(int(channels_axis), x.rank)
    if axis == 0 or x.rank < 3:
        raise ShapeError(f"instance_normalization: '{x.name}' {x.type} needs a batch, a "
                         "channel and at least one other axis")
    axes = [a for a in range(1, x.rank) if a != axis]
    mean, variance = moments(x, axes, keepdims=True)
    y = batch_normalization(x, mean, variance, None, None, epsilon)
    return _affine(y, scale, offset, axis, name, "instance_normalization")


def _affine(y: Node, scale, offset, axis: int, name, default: str) -> Node:
    if scale is not None:
        y = y * _per_channel(y, scale, axis)
    if offset is not None:
        y = y + _per_channel(y, offset, axis)
    return _named(y, name, default)


def local_response_normalization(input, depth_radius=5,  # noqa: A002 - TF1's name
                                 bias=1.0, alpha=1.0, beta=0.5, name=None) -> Node:
    """TF1's tf.nn.local_response_normalization (lrn) over the last axis:
    x / (bias + alpha · Σ x²)^beta, the sum over channels c − r .. c + r clipped to the
    channels. `depth_radius` may be a (before, after) pair for an uneven window. The
    windowed sum is a matmul of x² against a constant 0/1 band matrix."""
    x = float_tensor(input, "local_response_normalization input")
    channels = x.shape[-1]
    if channels is None:
        raise ShapeError(f"local_response_normalization: the channels of '{x.name}' "
                         f"{x.type} must be known")
    before, after = (depth_radius, depth_radius) if np.ndim(depth_radius) == 0 \
        else depth_radius
    source, target = np.arange(channels)[:, None], np.arange(channels)[None, :]
    band = (source >= target - int(before)) & (source <= target + int(after))
    window_sum = matmul(square(x), constant(band.astype(x.dtype.np_type)))
    y = x * pow_(window_sum * float(alpha) + float(bias), -float(beta))
    return _named(y, name, "local_response_normalization")


lrn = local_response_normalization


def lp_normalize(x, p=2, axis=-1, epsilon=1e-12, name=None) -> Node:
    """x / max(‖x‖_p, ε) along `axis` (PyTorch's normalize): a zero vector stays zero.
    p = 2 is x · rsqrt(max(Σx², ε²)), TF1's l2_normalize with its ε squared."""
    x = float_tensor(x, "lp_normalize input")
    p = float(p)
    if p <= 0:
        raise ValueError(f"lp_normalize: p must be positive, got {p}")
    if p == 2.0:
        y = x * rsqrt(maximum(reduce_sum(square(x), axis, keepdims=True),
                              float(epsilon) ** 2))
    else:
        magnitude = abs_(x) if p == 1.0 else pow_(abs_(x), p)
        norm = reduce_sum(magnitude, axis, keepdims=True)
        if p != 1.0:
            norm = pow_(norm, 1.0 / p)
        y = x / maximum(norm, float(epsilon))
    return _named(y, name, "lp_normalize")
