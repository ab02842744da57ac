"""TF1's gc.nn functions composed of primitives: dense-label and sigmoid cross-entropy,
embedding_lookup, in_top_k, l2_normalize, the pooling and convolution spellings with
data_format (NCHW runs as a transpose on each side of the NHWC op, which the simplifier
cancels between layers), conv1d (a conv2d over a height of 1) and conv2d_transpose
(conv2d_backprop_input, its output's shape from a broadcast zero it never reads).
"""
from __future__ import annotations

from ..ir import Node, ShapeError
from .base import as_tensor, as_tensors_like
from .conv import conv2d as _conv2d, conv2d_backprop_input
from .conv_nd import grouped_conv2d, per_group
from .data_format import TO_NHWC, in_nhwc, spatial
from .elementwise import abs, cast, exp, less, log1p, maximum, relu, rsqrt, square
from .indexing import gather, one_hot
from .pool import avg_pool2d, max_pool2d
from .reduce import reduce_sum
from .shape import broadcast_to, concat, expand_dims, squeeze, transpose
from .softmax import log_softmax
from .state import constant, identity, stop_gradient


def softmax_cross_entropy_with_logits_v2(labels=None, logits=None, axis=-1, name=None) -> Node:
    """Per-example −Σ labels · log softmax(logits) for dense label distributions; the
    gradient flows into labels too (TF1's _v2)."""
    if labels is None or logits is None:
        raise TypeError("softmax_cross_entropy_with_logits needs labels= and logits=")
    logits, labels = as_tensors_like(logits, labels)
    losses = -reduce_sum(labels * log_softmax(logits, axis), axis)
    return identity(losses, name=name or "softmax_cross_entropy")


def softmax_cross_entropy_with_logits(labels=None, logits=None, axis=-1, name=None) -> Node:
    """As the _v2 function, with no gradient into labels (TF1's first version)."""
    if labels is None or logits is None:
        raise TypeError("softmax_cross_entropy_with_logits needs labels= and logits=")
    logits, labels = as_tensors_like(logits, labels)
    return softmax_cross_entropy_with_logits_v2(stop_gradient(labels), logits, axis, name)


def sigmoid_cross_entropy_with_logits(labels=None, logits=None, name=None) -> Node:
    """Elementwise −z·log σ(x) − (1 − z)·log(1 − σ(x)), as TF1 computes it without
    overflow: max(x, 0) − x·z + log(1 + e^−|x|)."""
    if labels is None or logits is None:
        raise TypeError("sigmoid_cross_entropy_with_logits needs labels= and logits=")
    x, z = as_tensors_like(logits, labels)
    return identity(relu(x) - x * z + log1p(exp(-abs(x))),
                    name=name or "logistic_loss")


def embedding_lookup(params, ids, partition_strategy="mod", name=None,
                     max_norm=None) -> Node:
    """Rows of `params` (a tensor, or a list of shards) picked by `ids`. Shards are joined
    as TF1's 'div' strategy lays them out; 'mod' with several shards is not supported."""
    if isinstance(params, list | tuple):
        if len(params) > 1 and partition_strategy != "div":
            raise NotImplementedError("embedding_lookup over several shards needs "
                                      "partition_strategy='div'")
        params = concat(list(params), 0)
    if max_norm is not None:
        raise NotImplementedError("embedding_lookup's max_norm is not supported")
    return gather(params, ids, name=name or "embedding_lookup")


def in_top_k(predictions, targets, k, name=None) -> Node:
    """Whether each row's target class is among its k largest predictions; classes tied
    with the target's score count as in the top k (TF1)."""
    predictions, targets = as_tensor(predictions), as_tensor(targets)
    if predictions.rank != 2 or predictions.shape[1] is None:
        raise ShapeError(f"in_top_k needs predictions of shape [batch, classes] with known "
                         f"classes, got {predictions.type}")
    hot = one_hot(targets, predictions.shape[1], dtype=predictions.dtype)
    target_score = reduce_sum(predictions * hot, 1, keepdims=True)
    above = reduce_sum(cast(predictions > target_score, predictions.dtype), 1)
    return less(above, float(k), name=name or "in_top_k")


def l2_normalize(x, axis=None, epsilon=1e-12, name=None) -> Node:
    """x / √max(Σx², ε) over `axis` (all axes when None)."""
    x = as_tensor(x)
    norm_sq = reduce_sum(square(x), axis, keepdims=True)
    return identity(x * rsqrt(maximum(norm_sq, epsilon)), name=name or "l2_normalize")


def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None) -> Node:
    """TF1's tf.nn.max_pool: ksize and strides an int, (h, w) or (1, h, w, 1)."""
    ksize, strides = spatial(ksize, data_format), spatial(strides, data_format)
    return in_nhwc(lambda x, n: max_pool2d(x, ksize, strides, padding, name=n), value,
                    data_format, name)


def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None) -> Node:
    """TF1's tf.nn.avg_pool (padding excluded from each window's count, as TF1)."""
    ksize, strides = spatial(ksize, data_format), spatial(strides, data_format)
    return in_nhwc(lambda x, n: avg_pool2d(x, ksize, strides, padding, name=n), value,
                    data_format, name)


def conv2d(input, filters=None, strides=1, padding="VALID", dilations=1,  # noqa: A002
           strict=False, name=None, data_format="NHWC", filter=None,  # noqa: A002
           groups=1) -> Node:
    """conv2d (ops/conv.py) with TF1's data_format= and filter= spellings: HWIO filters,
    NHWC or NCHW input and output. groups > 1: a grouped convolution (filters with
    C / groups input channels; `grouped_conv2d`)."""
    w = filters if filter is None else filter
    strides, dilations = spatial(strides, data_format), spatial(dilations, data_format)
    if groups != 1:
        if strict:
            raise ValueError("conv2d: strict=True is not supported with groups")
        return in_nhwc(lambda x, n: grouped_conv2d(x, w, groups, strides, padding, dilations,
                                                   name=n), input, data_format, name)
    return in_nhwc(lambda x, n: _conv2d(x, w, strides, padding, dilations, strict, name=n),
                    input, data_format, name)


def conv1d(value, filters, stride=1, padding="VALID", data_format="NWC", dilations=1,
           name=None) -> Node:
    """1-D convolution of NWC `value` with WIO `filters`, as a conv2d of height 1."""
    if data_format not in ("NWC", "NCW"):
        raise ValueError(f"data_format must be 'NWC' or 'NCW', got {data_format!r}")
    x = as_tensor(value)
    if data_format == "NCW":
        x = transpose(x, (0, 2, 1))
    stride = stride[-2] if isinstance(stride, list | tuple) else stride
    y = _conv2d(expand_dims(x, 1), expand_dims(as_tensor(filters), 0), (1, stride),
                padding if isinstance(padding, str) else ((0, 0), _pair(padding)),
                (1, dilations))
    y = squeeze(y, 1)
    if data_format == "NCW":
        y = transpose(y, (0, 2, 1))
    return identity(y, name=name or "conv1d")


def _pair(padding):
    return (padding, padding) if isinstance(padding, int) else tuple(padding)


def conv2d_transpose(value, filter, output_shape, strides, padding="SAME",  # noqa: A002
                     data_format="NHWC", name=None, dilations=1, groups=1) -> Node:
    """The gradient of conv2d with respect to its input, as an op (TF1's; filters are
    [h, w, output channels / groups, input channels]; output_shape fully known).
    groups > 1: input channel block g makes output channel block g."""
    output_shape = tuple(int(d) for d in output_shape)
    if data_format == "NCHW":
        output_shape = tuple(output_shape[i] for i in TO_NHWC)
    strides = spatial(strides, data_format)
    dilations = spatial(dilations, data_format)
    like = broadcast_to(constant(0.0, as_tensor(value).dtype),
                        output_shape[:3] + (output_shape[3] // int(groups),))

    def transposed(v, n):
        if groups == 1:
            return conv2d_backprop_input(like, filter, v, strides, padding, dilations, name=n)
        y = per_group(lambda vg, wg: conv2d_backprop_input(like, wg, vg, strides, padding,
                                                           dilations),
                      groups, v, filter, 3, "conv2d_transpose")
        return y if n is None else identity(y, name=n)
    return in_nhwc(transposed, value, data_format, name or "conv2d_transpose")
