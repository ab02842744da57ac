"""`gc.losses`: TF1's tf.losses (weighted, with reductions) and graphc's regularisers."""
from .ops.losses import (WEIGHTS, apply_regularization, elastic_net_regularizer, l1_loss,
                         l1_regularizer, l2_loss, l2_regularizer, multiclass_hinge_loss,
                         nll_loss)
from .ops.weighted_losses import (LOSSES, REGULARIZATION_LOSSES, Reduction,
                                  absolute_difference, compute_weighted_loss, get_losses,
                                  get_regularization_loss, get_regularization_losses,
                                  get_total_loss, hinge_loss, huber_loss, log_loss,
                                  mean_squared_error, sigmoid_cross_entropy,
                                  softmax_cross_entropy, sparse_softmax_cross_entropy)

__all__ = ["LOSSES", "REGULARIZATION_LOSSES", "Reduction", "WEIGHTS", "absolute_difference",
           "apply_regularization", "compute_weighted_loss", "elastic_net_regularizer",
           "get_losses", "get_regularization_loss", "get_regularization_losses",
           "get_total_loss", "hinge_loss", "huber_loss", "l1_loss", "l1_regularizer",
           "l2_loss", "l2_regularizer", "log_loss", "mean_squared_error",
           "multiclass_hinge_loss", "nll_loss", "sigmoid_cross_entropy", "softmax_cross_entropy",
           "sparse_softmax_cross_entropy"]
