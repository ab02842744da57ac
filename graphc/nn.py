"""`gc.nn`: neural-network ops (activations, softmax, cross-entropy, losses)."""
from .ops.conv import conv2d, conv2d_backprop_filter, conv2d_backprop_input
from .ops.elementwise import elu, leaky_relu, relu, sigmoid, softplus, tanh
from .ops.losses import l2_loss, multiclass_hinge_loss
from .ops.nn_extra import (batch_normalization, bias_add, dropout, maxout, moments,
                           stateless_dropout)
from .ops.pool import avg_pool2d, max_pool2d
from .ops.softmax import log_softmax, softmax, sparse_softmax_cross_entropy_with_logits

__all__ = ["elu", "leaky_relu", "log_softmax", "l2_loss", "multiclass_hinge_loss", "relu",
           "sigmoid", "softmax", "softplus", "sparse_softmax_cross_entropy_with_logits",
           "tanh",
           "avg_pool2d", "batch_normalization", "bias_add", "conv2d", "conv2d_backprop_filter",
           "conv2d_backprop_input", "dropout", "max_pool2d", "maxout", "moments",
           "stateless_dropout"]
