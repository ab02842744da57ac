"""Helpers the op modules share: turning Python values into tensors and applying ops."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..ir import DType, Graph, Node, as_dtype, get_default_graph
from ..ir.errors import DTypeError, GraphMismatchError, dtype_error, shape_error


def graph_of(values: Sequence) -> Graph:
    """The graph the tensor inputs belong to (all must agree), else the default graph."""
    graph = None
    for v in values:
        if isinstance(v, Node):
            if graph is None:
                graph = v.graph
            elif v.graph is not graph:
                raise GraphMismatchError(
                    f"tensors '{v.name}' and another input belong to different graphs")
    return graph if graph is not None else get_default_graph()


def as_tensor(value, dtype: DType | None = None, graph: Graph | None = None,
              name: str | None = None) -> Node:
    """A tensor as is, or a Python/numpy value as a constant (of `dtype` when given)."""
    if isinstance(value, Node):
        if dtype is not None and value.dtype != as_dtype(dtype):
            raise TypeError(f"tensor '{value.name}' is {value.dtype.name}, "
                            f"expected {as_dtype(dtype).name}")
        return value
    from .state import constant
    return constant(value, dtype=dtype, name=name, graph=graph)


def as_tensors_like(*values) -> list[Node]:
    """Convert Python scalars/arrays among `values` to the dtype of the tensor operands.

    Python numbers and lists adopt the tensors' dtype (x * 2 stays float32) when they
    convert exactly; a float literal with an integer or bool tensor (or an int literal
    with a bool tensor, or one out of an integer dtype's range) is a TypeError, as in
    TF1, never a silent truncation. numpy arrays keep their own dtype, so a float64
    array against a float32 tensor is an error rather than a silent cast.
    """
    graph = graph_of(values)
    tensor = next((v for v in values if isinstance(v, Node)), None)
    out = []
    for v in values:
        if isinstance(v, Node):
            out.append(v)
        elif isinstance(v, np.ndarray | np.generic) or tensor is None:
            out.append(as_tensor(v, graph=graph))
        else:
            out.append(as_tensor(_exact_literal(v, tensor), dtype=tensor.dtype, graph=graph))
    return out


def _exact_literal(value, tensor: Node):
    """`value` (a Python number or nested list), checked to convert to the dtype of
    `tensor` without losing anything."""
    dtype = tensor.dtype
    array = np.asarray(value)
    kind = array.dtype.kind
    if dtype.is_floating or array.size == 0:
        return value
    if dtype.name == "bool":
        lossless = kind == "b"
    elif kind in "iu":
        info = np.iinfo(dtype.np_type)
        lossless = info.min <= array.min() and array.max() <= info.max
    else:
        lossless = kind == "b"
    if not lossless:
        raise TypeError(f"{value!r} cannot take the dtype {dtype.name} of tensor "
                        f"'{tensor.name}' ({tensor.type}) without changing its value; "
                        f"convert the tensor first, e.g. "
                        f"gc.cast({tensor.name}, gc.float32)")
    return value


def apply(op_name: str, inputs: Sequence[Node], name: str | None = None, **attrs) -> Node:
    graph = graph_of(inputs)
    return graph.create_node(op_name, inputs, attrs, name=name)


# -- small checks used by many infer() methods ----------------------------------------------
def same_dtype(types, what: str = "inputs"):
    first = types[0].dtype
    for t in types[1:]:
        if t.dtype != first:
            raise dtype_error(f"{what} have different dtypes: "
                              + " vs ".join(str(t) for t in types) + " (use gc.cast)")
    return first


def require_float(t, what: str = "input"):
    if not t.dtype.is_floating:
        raise dtype_error(f"{what} must be float32 or float64, got {t}")


def float_tensor(value, what: str) -> Node:
    """`value` as a tensor, refused unless float32 or float64: the check of a function
    composed of ops (require_float is type inference's)."""
    t = as_tensor(value)
    if not t.dtype.is_floating:
        raise DTypeError(f"{what} must be float32 or float64, got '{t.name}' {t.type}")
    return t


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise shape_error(f"{what} {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def normalize_axes(axis, rank: int) -> tuple[int, ...]:
    """None means all axes; ints may be negative; duplicates are an error."""
    if axis is None:
        return tuple(range(rank))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = tuple(sorted(normalize_axis(int(a), rank) for a in axes))
    if len(set(out)) != len(out):
        raise shape_error(f"repeated axis in {axis}")
    return out


def broadcast_shapes(*shapes) -> tuple:
    """numpy broadcasting with unknown dims: None against 1 or None stays None."""
    first = tuple(shapes[0])
    if all(tuple(s) == first for s in shapes[1:]):     # the common case: nothing to do
        return first
    rank = max(len(s) for s in shapes)
    out = [1] * rank
    unknown = [False] * rank
    for shape in shapes:
        offset = rank - len(shape)
        for i, d in enumerate(shape, offset):
            if d is None:
                unknown[i] = True
            elif d != 1:
                if out[i] != 1 and out[i] != d:
                    raise shape_error("shapes " + " and ".join(_fmt(s) for s in shapes)
                                      + " cannot be broadcast together")
                out[i] = d
    return tuple(None if unknown[i] and out[i] == 1 else out[i] for i in range(rank))


def _fmt(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
