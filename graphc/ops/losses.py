"""Losses and regularisers built from primitive ops (autodiff differentiates them); TF1's
weighted tf.losses family is in weighted_losses.py."""
from __future__ import annotations

from ..ir import Node, get_default_graph
from .base import as_tensor
from .elementwise import abs, cast, not_equal, relu, square, where, zeros_like
from .reduce import reduce_sum
from .indexing import one_hot
from .shape import transpose

WEIGHTS = "weights"  # collection of tensors that regularizers apply to by default


def multiclass_hinge_loss(labels, logits, margin=1.0, name=None) -> Node:
    """Per-example multiclass SVM loss Σ_{j≠y} max(0, s_j − s_y + margin)."""
    labels, logits = as_tensor(labels), as_tensor(logits)
    target = one_hot(labels, logits.shape[-1], dtype=logits.dtype)
    correct = reduce_sum(logits * target, -1, keepdims=True)
    margins = relu(logits - correct + margin) * (1 - target)
    return reduce_sum(margins, -1, name=name or "hinge_loss")


def nll_loss(log_probs, labels, weights=None, ignore_index=None, reduction="mean",
             axis=1, name=None) -> Node:
    """Negative log-likelihood of integer `labels` under `log_probs`, the classes along
    `axis` (labels have log_probs' shape without that axis): −log_probs[…, y, …] · w[y],
    with w = `weights` (one per class; default 1) and 0 where y == `ignore_index` (which
    may lie outside [0, C)). `reduction`: "none" (per element), "sum", or "mean" (the sum over
    Σ w). A composite of one_hot and reduce_sum, so autodiff differentiates it."""
    log_probs, labels = as_tensor(log_probs), as_tensor(labels)
    axis = axis % log_probs.rank
    perm = [a for a in range(log_probs.rank) if a != axis] + [axis]
    keep = None if ignore_index is None else not_equal(labels, int(ignore_index))
    if keep is not None:      # ignored labels may be out of range: pick class 0, weight 0
        labels = where(keep, labels, zeros_like(labels))
    target = one_hot(labels, log_probs.shape[axis], dtype=log_probs.dtype)
    w = reduce_sum(target if weights is None else target * as_tensor(weights), -1)
    if keep is not None:
        w = w * cast(keep, log_probs.dtype)
    loss = -reduce_sum(transpose(log_probs, perm) * target, -1) * w
    if reduction == "none":
        return loss
    if reduction == "sum":
        return reduce_sum(loss, name=name or "nll_loss")
    if reduction == "mean":
        return reduce_sum(loss) / reduce_sum(w)   # 0/0 = nan when every label is ignored
    raise ValueError(f"nll_loss: reduction must be 'none', 'sum' or 'mean', got {reduction!r}")


def l2_loss(t, name=None) -> Node:
    """½ Σ t² (TF1's l2_loss)."""
    return reduce_sum(square(as_tensor(t)), name=name or "l2_loss") * 0.5


def l1_loss(t, name=None) -> Node:
    return reduce_sum(abs(as_tensor(t)), name=name or "l1_loss")


def l1_regularizer(scale: float):
    """weights ↦ scale · Σ|w|."""
    def l1(weights):
        return l1_loss(weights) * scale
    return l1


def l2_regularizer(scale: float):
    """weights ↦ scale · ½ Σ w²  (the lecture's λ·½‖W‖²)."""
    def l2(weights):
        return l2_loss(weights) * scale
    return l2


def elastic_net_regularizer(l1_scale: float, l2_scale: float):
    """weights ↦ l1_scale · Σ|w| + l2_scale · ½ Σ w²."""
    def elastic_net(weights):
        return l1_loss(weights) * l1_scale + l2_loss(weights) * l2_scale
    return elastic_net


def apply_regularization(regularizer, weights_list=None, graph=None) -> Node:
    """Sum of `regularizer(w)` over `weights_list` (default: the "weights" collection)."""
    if weights_list is None:
        weights_list = (graph or get_default_graph()).get_collection(WEIGHTS)
    if not weights_list:
        raise ValueError("apply_regularization: no weights given and the 'weights' "
                         "collection is empty")
    from .elementwise import add_n
    return add_n([regularizer(w) for w in weights_list], name="regularization")
