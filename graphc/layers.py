"""`gc.layers`: TF1-style layer functions that create their variables and ops.

Each call opens a name scope ("dense", "dense_1", ...), creates its variables there
("dense/kernel", "dense/bias") with initial values from `gc.init`, puts kernels in the
"weights" collection (so `gc.losses.apply_regularization` finds them) and records a
`LayerInfo` in the "layers" collection (for `summary` and parameter counts). Moving
statistics of batch norm are updated by assign ops collected under "update_ops", as in
TF1: group them into the train op.

Variables of a layer or scope are listed by `variables(scope)`, which is what freezing
and transfer learning need (train only `gc.trainable_variables(scope=...)`, or restore
one scope's values into another model).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .frontends import initializers as init
from .ir import Node, ShapeError, float32, get_default_graph
from .ir.types import format_shape
from .ops import data_format as layout
from .ops import nn_extra
from .ops.base import as_tensor, normalize_axis
from .ops.conv import conv2d as conv2d_op
from .ops.elementwise import cast, maximum, where
from .ops.linalg import matmul
from .ops.losses import WEIGHTS
from .ops.pool import avg_pool2d as avg_pool2d_op
from .ops.pool import max_pool2d as max_pool2d_op
from .ops.reduce import size
from .ops.shape import reshape
from .ops.state import TRAINABLE_VARIABLES, VARIABLES, Variable, assign

UPDATE_OPS = "update_ops"   # TF1's tf.GraphKeys.UPDATE_OPS
LAYERS = "layers"


@dataclass(frozen=True, eq=False)
class LayerInfo:
    """What one layer call made: its scope name, kind, output and variables."""

    name: str
    kind: str
    output: Node
    variables: tuple[Node, ...]

    @property
    def num_params(self) -> int:
        return sum(int(np.prod(v.shape)) for v in self.variables)


# -- helpers ------------------------------------------------------------------------------
def _initial_value(initializer, shape, dtype, seed) -> np.ndarray:
    """Call a `gc.init`-style initializer (shape, [seed], [dtype]) or take an array."""
    if not callable(initializer):
        value = np.asarray(initializer, dtype=dtype.np_type)
        if value.shape != tuple(shape):
            raise ValueError(f"initial value of shape {value.shape} given for a variable of "
                             f"shape {tuple(shape)}")
        return value
    params = inspect.signature(initializer).parameters
    kwargs = {}
    if "seed" in params:
        kwargs["seed"] = seed
    if "dtype" in params:
        kwargs["dtype"] = dtype
    return np.asarray(initializer(tuple(shape), **kwargs), dtype=dtype.np_type)


def _variable(name, initializer, shape, dtype, seed, trainable) -> Node:
    return Variable(_initial_value(initializer, shape, dtype, seed), name=name,
                    trainable=trainable)


def _offset_seed(seed, k):
    """Distinct, reproducible seeds for the variables of one layer."""
    return None if seed is None else int(seed) + k


def _known_dim(x: Node, axis: int, layer: str, what: str) -> int:
    d = x.shape[axis]
    if d is None:
        raise ShapeError(f"{layer}: the {what} (axis {axis}) of '{x.name}' {x.type} must be "
                         "known to create the layer's variables")
    return d


def _record(graph, scope: str, kind: str, output: Node, variables) -> Node:
    graph.add_to_collection(LAYERS, LayerInfo(scope.rstrip("/"), kind, output,
                                              tuple(variables)))
    return output


def _activate(y: Node, activation: Callable | None) -> Node:
    return y if activation is None else activation(y)


# -- layers with variables ----------------------------------------------------------------
def dense(inputs, units, activation=None, use_bias=True,
          kernel_initializer=init.glorot_uniform, bias_initializer=init.zeros, seed=None,
          trainable=True, name=None) -> Node:
    """activation(inputs @ kernel + bias); kernel (in, units) is Glorot-uniform by default."""
    x = as_tensor(inputs)
    d_in = _known_dim(x, -1, "dense", "input size")
    graph = x.graph
    with graph.as_default(), graph.name_scope(name or "dense") as scope:
        kernel = _variable("kernel", kernel_initializer, (d_in, int(units)), x.dtype, seed,
                           trainable)
        graph.add_to_collection(WEIGHTS, kernel)
        made = [kernel]
        y = matmul(x, kernel, name="matmul")
        if use_bias:
            bias = _variable("bias", bias_initializer, (int(units),), x.dtype,
                             _offset_seed(seed, 1), trainable)
            made.append(bias)
            y = nn_extra.bias_add(y, bias, name="bias_add")
        y = _activate(y, activation)
        return _record(graph, scope, "dense", y, made)


def conv2d(inputs, filters, kernel_size, strides=1, padding="VALID",
           data_format="channels_last", dilation_rate=1, activation=None, use_bias=True,
           kernel_initializer=init.glorot_uniform, bias_initializer=init.zeros, seed=None,
           strict=False, trainable=True, name=None) -> Node:
    """`filters` output channels from a kernel_size window (HWIO kernel), in TF1's
    argument order.

    strides, padding, dilation_rate and strict mean what they mean for `gc.nn.conv2d`;
    data_format "channels_last" (NHWC) or "channels_first" (NCHW, through a transpose
    on each side that the simplifier cancels between layers).
    """
    x = as_tensor(inputs)
    channel_axis = layout.channel_axis(data_format)
    channels = _known_dim(x, channel_axis, "conv2d", "channel dimension")
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    graph = x.graph
    with graph.as_default(), graph.name_scope(name or "conv2d") as scope:
        kernel = _variable("kernel", kernel_initializer, (kh, kw, channels, int(filters)),
                           x.dtype, seed, trainable)
        graph.add_to_collection(WEIGHTS, kernel)
        bias = _variable("bias", bias_initializer, (int(filters),), x.dtype,
                         _offset_seed(seed, 1), trainable) if use_bias else None
        made = [kernel] if bias is None else [kernel, bias]

        def conv(v, _):
            """NHWC, activation included: an NCHW layer's transpose back then meets the
            next layer's transpose in, and the simplifier cancels the pair."""
            y = conv2d_op(v, kernel, strides, padding, dilation_rate, strict=strict,
                          name="conv")
            y = y if bias is None else nn_extra.bias_add(y, bias, name="bias_add")
            return _activate(y, activation)
        y = layout.in_nhwc(conv, x, data_format, None)
        return _record(graph, scope, "conv2d", y, made)


def batch_norm(inputs, training=False, momentum=0.99, epsilon=1e-3, center=True, scale=True,
               axis=-1, trainable=True, fused=None, name=None) -> Node:
    """Normalise over every axis but `axis` (the channels), then scale by gamma and shift
    by beta; TF1's tf.layers.batch_normalization, with its defaults.

    training: a Python bool or a scalar bool tensor. In training the batch statistics
    normalise (the biased, 1/N variance) and the moving averages move towards them as
    TF1 moves them, moving -= (1 − momentum) · (moving − batch) (momentum = the fraction
    kept: 0.99; PyTorch's momentum=0.1 is 0.9 here), by assign ops added to the
    "update_ops" collection (run them with the train op); otherwise the moving
    statistics are used.

    The moving variance follows TF1's choice of kernel. `fused=None` picks TF1's fused
    kernel where TF1 does (a float32 rank-4 input normalised over axis 1 or 3), whose
    moving variance takes the batch variance with Bessel's correction, N/(N − 1) (N the
    values per channel), as PyTorch's running_var does; elsewhere the biased variance
    moves it, as TF1's unfused layer does. `fused=True` / `False` choose explicitly.
    """
    x = as_tensor(inputs)
    axis = normalize_axis(int(axis), x.rank)
    channels = _known_dim(x, axis, "batch_norm", "channel dimension")
    reduce_axes = tuple(i for i in range(x.rank) if i != axis)
    param_shape = tuple(channels if i == axis else 1 for i in range(x.rank))
    graph, dtype = x.graph, x.dtype
    if fused is None:
        fused = x.rank == 4 and axis in (1, 3) and dtype == float32
    with graph.as_default(), graph.name_scope(name or "batch_norm") as scope:
        made = []
        gamma = beta = None
        if scale:
            gamma = _variable("gamma", init.ones, (channels,), dtype, None, trainable)
            made.append(gamma)
        if center:
            beta = _variable("beta", init.zeros, (channels,), dtype, None, trainable)
            made.append(beta)
        moving_mean = _variable("moving_mean", init.zeros, (channels,), dtype, None, False)
        moving_var = _variable("moving_variance", init.ones, (channels,), dtype, None, False)
        made += [moving_mean, moving_var]
        mean, variance = _batch_norm_statistics(x, training, momentum, reduce_axes,
                                                moving_mean, moving_var, bool(fused))
        if axis != x.rank - 1:
            mean, variance = reshape(mean, param_shape), reshape(variance, param_shape)
            gamma = None if gamma is None else reshape(gamma, param_shape)
            beta = None if beta is None else reshape(beta, param_shape)
        y = nn_extra.batch_normalization(x, mean, variance, beta, gamma, epsilon,
                                         name="normalized")
        return _record(graph, scope, "batch_norm", y, made)


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True,
                        scale=True, training=False, trainable=True, name=None,
                        fused=None) -> Node:
    """`batch_norm` with TF1's name and argument order (tf.layers.batch_normalization)."""
    return batch_norm(inputs, training, momentum, epsilon, center, scale, axis, trainable,
                      fused, name)


def _batch_norm_statistics(x, training, momentum, axes, moving_mean, moving_var, fused):
    """The (mean, variance) to normalise with; adds the moving-average updates."""
    if training is False:
        return moving_mean, moving_var
    if not (training is True or (isinstance(training, Node) and training.dtype.is_bool
                                 and training.rank == 0)):
        raise TypeError(f"batch_norm: training must be a Python bool or a scalar bool "
                        f"tensor, got {training!r}")
    batch_mean, batch_var = nn_extra.moments(x, axes, name="moments")
    moving_target = batch_var * _bessel_factor(x, moving_var.shape[0]) if fused \
        else batch_var
    keep = float(momentum)
    graph = x.graph
    for moving, batch in ((moving_mean, batch_mean), (moving_var, moving_target)):
        target = moving - (moving - batch) * (1.0 - keep)
        if isinstance(training, Node):
            target = where(training, target, moving)
        graph.add_to_collection(UPDATE_OPS, assign(moving, target,
                                                   name=f"update_{_base(moving)}"))
    if isinstance(training, Node):
        return (where(training, batch_mean, moving_mean, name="mean"),
                where(training, batch_var, moving_var, name="variance"))
    return batch_mean, batch_var


def _bessel_factor(x, channels: int):
    """N / (N − 1), N = the values per channel (counted at run time for an unknown batch)."""
    if x.type.is_fully_defined:
        n = float(np.prod(x.shape)) / channels
        return n / max(n - 1.0, 1.0)
    n = cast(size(x), x.dtype) / float(channels)
    return n / maximum(n - 1.0, 1.0)


def _base(node: Node) -> str:
    return node.name.rsplit("/", 1)[-1]


# -- layers without variables -------------------------------------------------------------
def max_pool2d(inputs, pool_size, strides=None, padding="VALID",
               data_format="channels_last", strict=False, name=None) -> Node:
    """Max pooling (strides default to pool_size); see `gc.nn.max_pool2d`. data_format
    as for `conv2d`. TF1's tf.layers.max_pooling2d."""
    return _pool(max_pool2d_op, "max_pool2d", inputs, pool_size, strides, padding,
                 data_format, strict, name)


def avg_pool2d(inputs, pool_size, strides=None, padding="VALID",
               data_format="channels_last", strict=False, name=None) -> Node:
    """Average pooling (strides default to pool_size); see `gc.nn.avg_pool2d`. data_format
    as for `conv2d`. TF1's tf.layers.average_pooling2d."""
    return _pool(avg_pool2d_op, "avg_pool2d", inputs, pool_size, strides, padding,
                 data_format, strict, name)


max_pooling2d, average_pooling2d = max_pool2d, avg_pool2d      # TF1's names


def _pool(op, kind, inputs, pool_size, strides, padding, data_format, strict, name):
    x = as_tensor(inputs)
    graph = x.graph
    with graph.as_default(), graph.name_scope(name or kind) as scope:
        y = layout.in_nhwc(lambda v, _: op(v, pool_size, strides, padding, strict=strict,
                                           name="pool"), x, data_format, None)
        return _record(graph, scope, kind, y, [])


def flatten(inputs, name=None) -> Node:
    """(N, d1, d2, ...) -> (N, d1·d2·...); N may be unknown, the other dims may not."""
    x = as_tensor(inputs)
    if x.rank < 1:
        raise ShapeError(f"flatten: '{x.name}' {x.type} has no batch axis")
    if any(d is None for d in x.shape[1:]):
        raise ShapeError(f"flatten: every dimension of '{x.name}' {x.type} but the first "
                         "must be known")
    size = int(np.prod(x.shape[1:]))
    batch = -1 if x.shape[0] is None else x.shape[0]
    graph = x.graph
    with graph.as_default(), graph.name_scope(name or "flatten") as scope:
        y = reshape(x, (batch, size), name="reshape")
        return _record(graph, scope, "flatten", y, [])


def dropout(inputs, rate=0.5, training=False, seed=None, name=None) -> Node:
    """Inverted dropout, active only when `training` (a Python bool or a bool tensor)
    is true; TF1's layer default is inference (training=False)."""
    x = as_tensor(inputs)
    graph = x.graph
    with graph.as_default(), graph.name_scope(name or "dropout") as scope:
        y = nn_extra.dropout(x, rate, training=training, seed=seed, name="dropout")
        return _record(graph, scope, "dropout", y, [])


# -- inspection ---------------------------------------------------------------------------
def variables(scope=None, trainable_only=False, graph=None) -> list[Node]:
    """Variables under a scope name ("conv2d_1"), of a layer (its output tensor or its
    LayerInfo), or all of them (scope=None), in creation order."""
    if isinstance(scope, LayerInfo | Node):
        info = scope if isinstance(scope, LayerInfo) else _layer_of(scope)
        graph = info.output.graph
        found = list(info.variables)
    else:
        graph = graph or get_default_graph()
        found = graph.get_collection(VARIABLES, scope)
    if trainable_only:
        trainable = graph.get_collection(TRAINABLE_VARIABLES)
        found = [v for v in found if v in trainable]
    return found


def _layer_of(output: Node) -> LayerInfo:
    for info in output.graph.get_collection(LAYERS):
        if info.output is output:
            return info
    raise ValueError(f"'{output.name}' is not the output of a gc.layers call; pass its "
                     "scope name instead")


def count_params(scope=None, trainable_only=False, graph=None) -> int:
    """Number of scalar parameters of a scope, a layer, or a list of variables."""
    if isinstance(scope, list | tuple):
        found = list(scope)
    else:
        found = variables(scope, trainable_only, graph)
    return sum(int(np.prod(v.shape)) for v in found)


def summary(graph=None) -> list[LayerInfo]:
    """The layers made in `graph` (default graph), in creation order."""
    return list((graph or get_default_graph()).get_collection(LAYERS))


def format_summary(graph=None) -> str:
    """A table of layers: scope, kind, output shape and parameter count, with the total."""
    rows = [(info.name, info.kind, f"({format_shape(info.output.shape)})",
             str(info.num_params)) for info in summary(graph)]
    total = sum(info.num_params for info in summary(graph))
    header = ("layer", "kind", "output shape", "params")
    table = [header] + rows + [("total", "", "", str(total))]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = []
    for r in table:
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


__all__ = ["LAYERS", "LayerInfo", "UPDATE_OPS", "average_pooling2d", "avg_pool2d",
           "batch_norm", "batch_normalization", "conv2d", "count_params", "dense", "dropout",
           "flatten", "format_summary", "max_pool2d", "max_pooling2d", "summary",
           "variables"]
