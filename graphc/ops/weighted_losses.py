"""TF1's tf.losses (gc.losses): per-element losses, weighted and reduced as TF1 does.

Every loss computes its per-element values, multiplies them by `weights` (a number or
a tensor broadcast against them) and reduces by `reduction`; the default,
SUM_BY_NONZERO_WEIGHTS, divides the weighted sum by the count of non-zero weights
(0 when there are none), so with weights 1 it is the mean. Each result also joins the
graph's "losses" collection (get_total_loss adds them up).
"""
from __future__ import annotations

from ..ir import Node, get_default_graph
from .base import as_tensor, as_tensors_like
from .elementwise import (abs, add_n, cast, log, minimum, not_equal, ones_like, relu, square,
                          where, zeros_like)
from .nn_tf1 import sigmoid_cross_entropy_with_logits, softmax_cross_entropy_with_logits_v2
from .reduce import reduce_sum
from .shape import broadcast_like
from .softmax import sparse_softmax_cross_entropy_with_logits
from .state import constant, identity, stop_gradient

LOSSES = "losses"
REGULARIZATION_LOSSES = "regularization_losses"


class Reduction:
    """How compute_weighted_loss reduces the weighted losses (TF1's names)."""

    NONE = "none"
    SUM = "weighted_sum"
    MEAN = "weighted_mean"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE,
                cls.SUM_BY_NONZERO_WEIGHTS)


def _safe_div(numerator: Node, denominator: Node) -> Node:
    """numerator / denominator, 0 where the denominator is 0 (TF1's div_no_nan)."""
    positive = not_equal(denominator, zeros_like(denominator))
    return where(positive, numerator / where(positive, denominator, ones_like(denominator)),
                 zeros_like(numerator))


def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Node:
    """losses · weights, reduced by `reduction`; added to `loss_collection`."""
    losses = as_tensor(losses)
    if reduction not in Reduction.all():
        raise ValueError(f"unknown reduction {reduction!r}; use gc.losses.Reduction")
    weights = as_tensors_like(losses, weights)[1]
    weighted = losses * weights
    if reduction == Reduction.NONE:
        loss = weighted
    else:
        total = reduce_sum(weighted)
        if reduction == Reduction.SUM:
            loss = total
        elif reduction == Reduction.MEAN:
            loss = _safe_div(total, reduce_sum(broadcast_like(weights, losses)))
        elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
            loss = _safe_div(total, reduce_sum(ones_like(losses)))
        else:
            present = cast(not_equal(broadcast_like(weights, losses), 0.0), losses.dtype)
            loss = _safe_div(total, reduce_sum(present))
    loss = identity(loss, name=scope or "value")
    if loss_collection:
        loss.graph.add_to_collection(loss_collection, loss)
    return loss


def _weighted(per_element, weights, scope, loss_collection, reduction, default_name):
    return compute_weighted_loss(per_element, weights, scope or default_name, loss_collection,
                                 reduction)


def absolute_difference(labels, predictions, weights=1.0, scope=None,
                        loss_collection=LOSSES,
                        reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Node:
    """|predictions − labels|, weighted and reduced."""
    predictions, labels = as_tensors_like(predictions, labels)
    return _weighted(abs(predictions - labels), weights, scope, loss_collection, reduction,
                     "absolute_difference")


def mean_squared_error(labels, predictions, weights=1.0, scope=None, loss_collection=LOSSES,
                       reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Node:
    """(predictions − labels)², weighted and reduced (the mean, with weights 1)."""
    predictions, labels = as_tensors_like(predictions, labels)
    return _weighted(square(predictions - labels), weights, scope, loss_collection,
                     reduction, "mean_squared_error")


def huber_loss(labels, predictions, weights=1.0, delta=1.0, scope=None,
               loss_collection=LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Node:
    """½e² where |e| ≤ delta, delta·(|e| − ½delta) beyond (e = predictions − labels)."""
    predictions, labels = as_tensors_like(predictions, labels)
    error = abs(predictions - labels)
    quadratic = minimum(error, float(delta))
    per_element = square(quadratic) * 0.5 + (error - quadratic) * float(delta)
    return _weighted(per_element, weights, scope, loss_collection, reduction, "huber_loss")


def log_loss(labels, predictions, weights=1.0, epsilon=1e-7, scope=None,
             loss_collection=LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Node:
    """−y·log(p + ε) − (1 − y)·log(1 − p + ε) for probabilities p."""
    predictions, labels = as_tensors_like(predictions, labels)
    per_element = -(labels * log(predictions + epsilon)) - \
        (1.0 - labels) * log(1.0 - predictions + epsilon)
    return _weighted(per_element, weights, scope, loss_collection, reduction, "log_loss")


def hinge_loss(labels, logits, weights=1.0, scope=None, loss_collection=LOSSES,
               reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Node:
    """max(0, 1 − (2y − 1)·logits) for labels y in {0, 1} (TF1's binary hinge loss;
    the multiclass SVM loss is multiclass_hinge_loss)."""
    logits, labels = as_tensors_like(logits, labels)
    signs = labels * 2.0 - 1.0
    return _weighted(relu(1.0 - signs * logits), weights, scope, loss_collection, reduction,
                     "hinge_loss")


def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0.0,
                          scope=None, loss_collection=LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Node:
    """Elementwise sigmoid cross-entropy; labels smoothed towards ½ by label_smoothing."""
    logits, labels = as_tensors_like(logits, multi_class_labels)
    if label_smoothing:
        labels = labels * (1.0 - label_smoothing) + 0.5 * label_smoothing
    per_element = sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    return _weighted(per_element, weights, scope, loss_collection, reduction,
                     "sigmoid_cross_entropy_loss")


def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0.0,
                          scope=None, loss_collection=LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS) -> Node:
    """Per-example softmax cross-entropy against dense labels (no gradient into them),
    smoothed towards the uniform distribution by label_smoothing."""
    logits, labels = as_tensors_like(logits, onehot_labels)
    if label_smoothing:
        classes = logits.shape[-1]
        labels = labels * (1.0 - label_smoothing) + label_smoothing / classes
    per_example = softmax_cross_entropy_with_logits_v2(labels=stop_gradient(labels),
                                                       logits=logits)
    return _weighted(per_example, weights, scope, loss_collection, reduction,
                     "softmax_cross_entropy_loss")


def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None,
                                 loss_collection=LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                                 name=None) -> Node:
    """Per-example cross-entropy against class indices, weighted and reduced (the mean
    over the batch with weights 1)."""
    per_example = sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return _weighted(per_example, weights, scope or name, loss_collection, reduction,
                     "cross_entropy")


def get_losses(graph=None) -> list[Node]:
    return (graph or get_default_graph()).get_collection(LOSSES)


def get_regularization_losses(graph=None) -> list[Node]:
    return (graph or get_default_graph()).get_collection(REGULARIZATION_LOSSES)


def get_regularization_loss(graph=None, name="total_regularization_loss") -> Node:
    """The sum of the regularization losses (get_variable's regularizer=), or 0."""
    losses = get_regularization_losses(graph)
    return add_n(losses, name=name) if losses else constant(0.0, name=name)


def get_total_loss(add_regularization_losses=True, name="total_loss", graph=None) -> Node:
    """The sum of the collected losses (and regularization losses)."""
    losses = get_losses(graph) + (get_regularization_losses(graph)
                                  if add_regularization_losses else [])
    if not losses:
        raise ValueError("get_total_loss: no losses have been collected")
    return add_n(losses, name=name)

