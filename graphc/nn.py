"""`gc.nn`: neural-network ops (activations, softmax, cross-entropy, convolution, pooling,
normalisations, attention), with TF1's names and spellings (PyTorch's where TF1 has none)."""
from .ops.attention import (AttentionResult, attention, rotary_embedding,
                            scaled_dot_product_attention)
from .ops.activations import (celu, erf, gelu, hard_swish, hardmax, mish, relu6, selu, silu,
                              softsign, swish, thresholded_relu)
from .ops.causal_conv import causal_conv1d
from .ops.conv import conv2d_backprop_filter, conv2d_backprop_input
from .ops.conv_nd import conv3d, conv3d_transpose, grouped_conv2d
from .ops.depthwise import depthwise_conv2d, depthwise_conv2d_native, separable_conv2d
from .ops.image_layout import depth_to_space, space_to_depth
from .ops.elementwise import elu, leaky_relu, relu, sigmoid, softplus, tanh
from .ops.losses import l2_loss, multiclass_hinge_loss
from .ops.nn_extra import (batch_normalization, bias_add, dropout, layer_normalization,
                           maxout, moments, stateless_dropout)
from .ops.nn_tf1 import (avg_pool, conv1d, conv2d, conv2d_transpose, embedding_lookup,
                         in_top_k, l2_normalize, max_pool, sigmoid_cross_entropy_with_logits,
                         softmax_cross_entropy_with_logits,
                         softmax_cross_entropy_with_logits_v2)
from .ops.linear_attention import linear_attention
from .ops.normalization import (group_normalization, instance_normalization,
                                local_response_normalization, lp_normalize, lrn,
                                rms_normalization)
from .ops.lp_pool import lp_pool2d
from .ops.pool import avg_pool2d, max_pool2d, max_pool_with_argmax
from .ops.pool3d import avg_pool3d, max_pool3d
from .ops import rnn_cell
from .ops.rnn import static_bidirectional_rnn, static_rnn
from .ops.sorting import top_k
from .ops.softmax import log_softmax, softmax, sparse_softmax_cross_entropy_with_logits

__all__ = ["elu", "erf", "gelu", "leaky_relu", "log_softmax", "l2_loss",
           "multiclass_hinge_loss", "relu", "relu6", "selu", "sigmoid", "silu", "softmax",
           "softplus", "softsign", "sparse_softmax_cross_entropy_with_logits", "swish", "tanh",
           "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits",
           "softmax_cross_entropy_with_logits_v2", "embedding_lookup", "in_top_k",
           "l2_normalize",
           "avg_pool", "avg_pool2d", "avg_pool3d", "batch_normalization", "bias_add",
           "causal_conv1d", "conv1d", "conv2d",
           "conv2d_backprop_filter", "conv2d_backprop_input", "conv2d_transpose",
           "conv3d", "conv3d_transpose", "grouped_conv2d",
           "depthwise_conv2d", "depthwise_conv2d_native", "separable_conv2d",
           "top_k", "dropout", "layer_normalization", "max_pool",
           "max_pool2d", "max_pool3d", "max_pool_with_argmax", "maxout", "moments", "stateless_dropout", "space_to_depth",
           "depth_to_space",
           "AttentionResult", "attention", "linear_attention", "rotary_embedding",
           "scaled_dot_product_attention",
           "group_normalization", "instance_normalization", "local_response_normalization",
           "lp_normalize", "lrn", "rms_normalization",
           "celu", "hard_swish", "hardmax", "lp_pool2d", "mish", "thresholded_relu",
           "rnn_cell", "static_bidirectional_rnn", "static_rnn"]
