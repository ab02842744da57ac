"""Every op of graphc; importing this package registers them all."""
from ..ir.node import OPERATORS
from .base import apply, as_tensor
from .debug import print_
from .collective import allreduce, allreduce_bucket
from .clip import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm
from .conv import conv2d, conv2d_backprop_filter, conv2d_backprop_input
from .elementwise import (abs, add, add_n, cast, ceil, cos, div, divide, elu, equal, exp,
                          expm1, floor, floordiv, floormod, greater, greater_equal, is_inf,
                          is_nan, leaky_relu, less, less_equal, log, log1p, logical_and,
                          logical_not, logical_or,
                          maximum, minimum, mod, mul, multiply, neg, negative, not_equal,
                          ones_like, pow, reciprocal, relu, round, rsqrt, sigmoid, sign, sin,
                          softplus, sqrt, square, sub, subtract, tanh, truediv, truncatediv,
                          truncatemod, where,
                          zeros_like)
from .trig import acos, acosh, asin, asinh, atan, atanh, cosh, sinh, tan
from . import bitwise
from .bitcast import bitcast
from .composite_reduce import (cumprod, cumsum, reduce_all, reduce_any, reduce_logsumexp,
                               reduce_prod)
from .constructors import eye, fill, ones, range, rank, shape, size, zeros
from .array_composites import (boolean_mask, gather_nd, reverse, reverse_sequence, scatter_nd,
                               stack, unstack)
from .sorting import argsort, sort, top_k
from .data_dependent import unique, unique_all, unique_with_counts
from .scatter import (tensor_scatter_nd_add, tensor_scatter_nd_max,
                      tensor_scatter_nd_min, tensor_scatter_nd_mul, tensor_scatter_nd_sub,
                      tensor_scatter_nd_update)
from .random import ndtri, random_normal, random_uniform, truncated_normal
from .linalg import matmul
from .einsum import einsum
from .losses import (apply_regularization, elastic_net_regularizer, l1_loss, l1_regularizer,
                     l2_loss, l2_regularizer, multiclass_hinge_loss)
from .weighted_losses import mean_squared_error, sparse_softmax_cross_entropy
from .nn_extra import (batch_normalization, bias_add, dropout, maxout, moments,
                       stateless_dropout)
from .pool import avg_pool2d, max_pool2d
from .reduce import argmax, argmin, reduce_max, reduce_mean, reduce_min, reduce_sum
from .indexing import gather, getitem, one_hot, pad, slice
from .shape import (broadcast_like, broadcast_to, concat, expand_dims, reshape, reshape_like,
                    split, squeeze, sum_like, tile, transpose)
from .softmax import log_softmax, softmax, sparse_softmax_cross_entropy_with_logits
from .state import (Variable, assign, assign_add, assign_sub, constant, control_dependencies,
                    global_variables, global_variables_initializer, group, identity,
                    initial_value_of, initialize_all_variables, local_variables_initializer,
                    name_scope, no_op, placeholder, placeholder_with_default, stop_gradient,
                    trainable_variables, variables_initializer)


def _install_operators() -> None:
    """The functions a tensor's Python operators call (`ir.node.OPERATORS`)."""
    OPERATORS.update(add=add, subtract=subtract, multiply=multiply, divide=divide, pow=pow,
                     matmul=matmul, negative=negative, abs=abs, less=less,
                     floordiv=floordiv, floormod=floormod,
                     less_equal=less_equal, greater=greater, greater_equal=greater_equal,
                     getitem=getitem)


_install_operators()
