"""graphc: a symbolic computation-graph compiler for deep learning.

Declare a model as a static graph (placeholders, variables, ops), derive its gradients
symbolically, and run it with a Session. Public names follow TensorFlow 1.x.
"""
from . import (bitwise, data, distributed, image, init, layers, linalg, losses, models, nn,
               passes, signal, test, train)
from .autodiff import gradients
from .log import set_log
from .ir import (DTypeError, FeedError, Graph, GraphcError, GraphMismatchError, ShapeError,
                 TensorType, bool_, float32, float64, get_default_graph, int32, int64,
                 reset_default_graph)
from .ir import Node as Tensor
from .ops import (Variable, abs, acos, acosh, add, add_n, argmax, argmin, argsort, asin,
                  asinh, assign, assign_add, assign_sub, atan, atanh, bitcast, cosh, is_inf,
                  is_nan, sinh, tan,
                  boolean_mask, broadcast_to, cast, ceil, clip_by_global_norm, clip_by_norm,
                  clip_by_value, concat, constant, control_dependencies, cos, cumprod, cumsum,
                  div, eye,
                  divide, einsum, equal, exp, expand_dims, expm1, fill, floor, floordiv,
                  floormod,
                  gather, gather_nd, global_norm, global_variables,
                  global_variables_initializer, greater, greater_equal, group, identity,
                  initialize_all_variables, less, less_equal, local_variables_initializer,
                  log, log1p, logical_and, logical_not, logical_or, matmul, maximum, minimum,
                  mod, mul, multiply, name_scope, neg, negative, no_op, not_equal, one_hot,
                  ones, ones_like, pad, placeholder, placeholder_with_default, pow, random_normal,
                  random_uniform, range, rank, reciprocal, reduce_all, reduce_any,
                  reduce_logsumexp, reduce_max, reduce_mean, reduce_min, reduce_prod,
                  reduce_sum, reshape, reverse, reverse_sequence, round, rsqrt, scatter_nd,
                  shape, sigmoid, sign, sin, size,
                  slice, sort, split, sqrt, square, squeeze, stack, stop_gradient, sub, subtract,
                  tanh, tensor_scatter_nd_add, tensor_scatter_nd_max, tensor_scatter_nd_min,
                  tensor_scatter_nd_mul, tensor_scatter_nd_sub, tensor_scatter_nd_update,
                  tile, top_k, trainable_variables, transpose, truediv, truncated_normal,
                  truncatediv, truncatemod,
                  unique, unique_all, unique_with_counts, unstack, variables_initializer, where,
                  zeros, zeros_like)
from .ops import print_ as print  # noqa: A001 - TF1 spelling gc.print
from .ops.image_layout import depth_to_space, space_to_depth
from .ir import ExecutionError, NumericsError
from .session import InteractiveSession, Session, get_default_session
from .frontends.variable_scope import (AUTO_REUSE, VariableScope, get_variable,
                                       get_variable_scope, variable_scope)
from .export import ExportError, WeightsError, export, load_exported
from .frontends.tf1_initializers import (constant_initializer, glorot_normal_initializer,
                                        glorot_uniform_initializer, ones_initializer,
                                        random_normal_initializer, random_uniform_initializer,
                                        truncated_normal_initializer, zeros_initializer)

bool = bool_  # noqa: A001 - TF1 spelling gc.bool


def __getattr__(name: str):
    """`gc.viz` imported on first use: a process that never draws does not load the
    pictures' modules and the graphviz package."""
    if name == "viz":
        import importlib
        return importlib.import_module(".viz", __name__)
    raise AttributeError(f"module 'graphc' has no attribute {name!r}")

__version__ = "0.1.0"
