"""softmax, log_softmax and sparse softmax cross-entropy.

Cross-entropy is its own op (not log∘softmax∘gather) because the composition is
numerically poor: it computes log-sum-exp once, stably, and its gradient is
softmax(logits) − one_hot(labels), written in graph ops so it differentiates again.
"""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, register
from ..ir.errors import dtype_error, shape_error
from .base import apply, as_tensor, normalize_axis, require_float


def _log_softmax_array(x, axis):
    if x.shape[axis] == 0:                  # over no classes: an empty result
        return x.copy()
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


class SoftmaxBase(OpDef):
    fusion = Fusion.REDUCTION
    num_inputs = 1

    def normalize_attrs(self, inputs, attrs):
        return {"axis": normalize_axis(attrs["axis"], inputs[0].rank)}

    def infer(self, inputs, attrs):
        require_float(inputs[0], f"{self.name} input")
        return inputs[0]


class Softmax(SoftmaxBase):
    name = "softmax"
    lowering = "softmax"

    @staticmethod
    def normalized(b, x, maximum, total):
        """Its value from x, the max along the axis and Σ exp(x − max)."""
        return b.binary("div", b.unary("exp", b.binary("sub", x, maximum)), total)

    def reference(self, node, x):
        return np.exp(_log_softmax_array(x, node.attrs["axis"])).astype(node.dtype.np_type)

    def grad(self, node, gy):
        from .reduce import reduce_sum
        y = node
        return [y * (gy - reduce_sum(gy * y, node.attrs["axis"], keepdims=True))]


class LogSoftmax(SoftmaxBase):
    name = "log_softmax"
    lowering = "softmax"

    @staticmethod
    def normalized(b, x, maximum, total):
        # (x − max) − log Σ, never x − (max + log Σ): at logits of 1e4 a float32 sum
        # max + log 3 keeps only 1e4's precision (−1.0986328 for −1.0986123)
        return b.binary("sub", b.binary("sub", x, maximum), b.unary("log", total))

    def reference(self, node, x):
        return _log_softmax_array(x, node.attrs["axis"]).astype(node.dtype.np_type)

    def grad(self, node, gy):
        from .elementwise import exp
        from .reduce import reduce_sum
        return [gy - exp(node) * reduce_sum(gy, node.attrs["axis"], keepdims=True)]


register(Softmax())
register(LogSoftmax())


def softmax(logits, axis=-1, name=None) -> Node:
    return apply("softmax", [as_tensor(logits)], name=name, axis=int(axis))


def log_softmax(logits, axis=-1, name=None) -> Node:
    """log(softmax(x)) computed as x − max − log Σ exp(x − max): no overflow, no log(0)."""
    return apply("log_softmax", [as_tensor(logits)], name=name, axis=int(axis))


class SparseSoftmaxCrossEntropy(OpDef):
    name = "sparse_softmax_cross_entropy"
    fusion = Fusion.REDUCTION
    num_inputs = 2
    lowering = "cross_entropy"

    def infer(self, inputs, attrs):
        logits, labels = inputs
        require_float(logits, "logits")
        if not labels.dtype.is_integer:
            raise dtype_error(f"labels must be int32 or int64 class indices, got {labels}")
        if logits.rank < 1 or logits.shape[-1] is None:
            raise shape_error(f"logits need a known last (class) dimension, got {logits}")
        if labels.rank != logits.rank - 1 or any(
                a is not None and b is not None and a != b
                for a, b in zip(labels.shape, logits.shape[:-1])):
            raise shape_error(f"labels {labels} must have the shape of logits {logits} "
                              "without its last (class) dimension")
        return TensorType(logits.dtype, logits.shape[:-1])

    def reference(self, node, logits, labels):
        classes = logits.shape[-1]
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise ValueError(f"label out of range [0, {classes}): "
                             f"min {labels.min()}, max {labels.max()}")
        logp = _log_softmax_array(logits, -1)
        picked = np.take_along_axis(logp, labels[..., None].astype(np.int64), axis=-1)
        return (-picked[..., 0]).astype(node.dtype.np_type)

    def grad(self, node, gy):
        from .indexing import one_hot
        from .shape import expand_dims
        logits, labels = node.inputs
        target = one_hot(labels, logits.shape[-1], dtype=logits.dtype)
        return [(softmax(logits) - target) * expand_dims(gy, -1), None]


register(SparseSoftmaxCrossEntropy())


def sparse_softmax_cross_entropy_with_logits(labels=None, logits=None, name=None) -> Node:
    """Per-example −log softmax(logits)[label]; labels are class indices."""
    if labels is None or logits is None:
        raise TypeError("sparse_softmax_cross_entropy_with_logits needs labels= and logits=")
    return apply("sparse_softmax_cross_entropy", [as_tensor(logits), as_tensor(labels)],
                 name=name)
