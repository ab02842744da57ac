"""graphc: a symbolic computation-graph compiler for deep learning.

Declare a model as a static graph (placeholders, variables, ops), derive its gradients
symbolically, and run it with a Session. Public names follow TensorFlow 1.x.
"""
from . import data, init, layers, losses, models, nn, passes, test, train, viz
from .autodiff import gradients
from .log import set_log
from .ir import (DTypeError, FeedError, Graph, GraphcError, GraphMismatchError, ShapeError,
                 TensorType, bool_, float32, float64, get_default_graph, int32, int64,
                 reset_default_graph)
from .ir import Node as Tensor
from .ops import (Variable, abs, add, add_n, argmax, argmin, assign, assign_add, assign_sub,
                  broadcast_to, cast, clip_by_global_norm, clip_by_norm, clip_by_value, concat,
                  constant, control_dependencies, div, divide, equal, exp, expand_dims, gather,
                  global_norm, global_variables, greater, greater_equal, group, identity, less,
                  less_equal, log, logical_and, logical_not, logical_or, matmul, maximum, minimum,
                  mul, multiply, name_scope, neg, negative, no_op, not_equal, one_hot, ones_like,
                  pad, placeholder, pow, reciprocal, reduce_max, reduce_mean, reduce_min,
                  reduce_sum, reshape, rsqrt, sigmoid, sign, size, slice, split, sqrt, square,
                  squeeze, stop_gradient, sub, subtract, tanh, tile, trainable_variables,
                  transpose, truediv, where, zeros_like)
from .ops import print_ as print  # noqa: A001 - TF1 spelling gc.print
from .ir import ExecutionError, NumericsError
from .session import Session
from .export import ExportError, WeightsError, export, load_exported

bool = bool_  # noqa: A001 - TF1 spelling gc.bool

__version__ = "0.1.0"
