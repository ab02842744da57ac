"""Graph IR: dtypes, tensor types, nodes, graphs, the op registry and the printer."""
from .dtypes import ALL_DTYPES, DType, as_dtype, bool_, float32, float64, int32, int64
from .errors import (DTypeError, ExecutionError, FeedError, GraphcError, GraphMismatchError,
                     InferError, NumericsError, ShapeError, dtype_error, numerics_message,
                     shape_error)
from .graph import Graph, get_default_graph, reset_default_graph
from .node import GradInfo, Node
from .op import OPS, Fusion, OpDef, get_op, register, register_op
from .printer import format_graph, format_node
from .source import SourceLocation, user_location
from .types import TensorType, format_shape, normalize_shape, shape_compatible
