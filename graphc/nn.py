"""`gc.nn`: neural-network ops (activations, softmax, cross-entropy, losses)."""
from .ops.elementwise import elu, leaky_relu, relu, sigmoid, softplus, tanh
from .ops.losses import l2_loss, multiclass_hinge_loss
from .ops.softmax import log_softmax, softmax, sparse_softmax_cross_entropy_with_logits

__all__ = ["elu", "leaky_relu", "log_softmax", "l2_loss", "multiclass_hinge_loss", "relu",
           "sigmoid", "softmax", "softplus", "sparse_softmax_cross_entropy_with_logits",
           "tanh"]
