"""graphc's error classes. Each names the op, the node and the user's source line."""
from __future__ import annotations


class GraphcError(Exception):
    """Base class of every error graphc raises on bad input."""


class ShapeError(GraphcError, ValueError):
    """Shapes that do not fit an op (raised while the graph is built)."""


class DTypeError(GraphcError, TypeError):
    """Element types that do not fit an op."""


class FeedError(GraphcError, ValueError):
    """A feed that is missing, of the wrong shape or dtype, or not a placeholder."""


class GraphMismatchError(GraphcError, ValueError):
    """A tensor used with a graph or session it does not belong to."""


class ExecutionError(GraphcError, RuntimeError):
    """An op failed while running (bad label, out-of-range index, shape known only now)."""


class NumericsError(ExecutionError):
    """A NaN or an infinity appeared (Session(check_numerics=True))."""


def numerics_message(node) -> str:
    """Names the op, its node and line, and for a backward node the forward op (and line)
    whose gradient it computes."""
    text = f"{node.describe()} produced NaN or Inf"
    if node.grad_of is not None:
        text += f"; it computes part of the gradient of {node.grad_of.forward.describe()}"
    elif node.op.name in ("assign", "assign_add", "assign_sub"):
        text += f"; it updates variable '{node.inputs[0].name}'"
    return text


class InferError(Exception):
    """Raised by an op's type inference with a bare message.

    Graph.create_node catches it and re-raises a ShapeError or DTypeError that adds the
    op, the node name, the input types and the user's source line, so every op's
    checks stay one line long.
    """

    def __init__(self, message: str, kind: type[GraphcError] = ShapeError):
        super().__init__(message)
        self.kind = kind


def shape_error(message: str) -> InferError:
    return InferError(message, ShapeError)


def dtype_error(message: str) -> InferError:
    return InferError(message, DTypeError)
