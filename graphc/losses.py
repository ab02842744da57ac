"""`gc.losses`: losses and regularisers."""
from .ops.losses import (WEIGHTS, apply_regularization, elastic_net_regularizer, l1_loss,
                         l1_regularizer, l2_loss, l2_regularizer, mean_squared_error,
                         multiclass_hinge_loss, sparse_softmax_cross_entropy)

__all__ = ["WEIGHTS", "apply_regularization", "elastic_net_regularizer", "l1_loss",
           "l1_regularizer", "l2_loss", "l2_regularizer", "mean_squared_error",
           "multiclass_hinge_loss", "sparse_softmax_cross_entropy"]
