"""Reductions along axes (sum, mean, max, min), argmax/argmin, and `size`."""
from __future__ import annotations

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, as_dtype, int64, register
from ..ir.errors import dtype_error, shape_error
from .base import apply, as_tensor, normalize_axes, normalize_axis


def reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


class ReduceOp(OpDef):
    """A fold along axes; lowers to an accumulator loop combining with `fold` (a loop-IR
    op) from the fold's identity, divided by the count for a mean."""

    fusion = Fusion.REDUCTION
    num_inputs = 1
    lowering = "reduce"

    def __init__(self, name, fn, grad_rule, fold, mean=False):
        self.name = name
        self.fn = fn
        self.grad_rule = grad_rule
        self.fold, self.mean = fold, mean

    def normalize_attrs(self, inputs, attrs):
        return dict(attrs, axes=normalize_axes(attrs["axes"], inputs[0].rank))

    def infer(self, inputs, attrs):
        (x,) = inputs
        if x.dtype.is_bool:
            raise dtype_error(f"{self.name} does not take bool input (cast it first)")
        return TensorType(x.dtype, reduced_shape(x.shape, attrs["axes"], attrs["keepdims"]))

    def reference(self, node, x):
        extra = {}
        if self.name in EMPTY_EXTREMUM:     # over no elements: −inf / +inf, as in TF
            extra["initial"] = empty_extremum(self.name, node.dtype)
        out = self.fn(x, axis=node.attrs["axes"], keepdims=node.attrs["keepdims"], **extra)
        return np.asarray(out, dtype=node.dtype.np_type)

    def grad(self, node, gy):
        return [self.grad_rule(node, node.inputs[0], gy)]


EMPTY_EXTREMUM = {"reduce_max": -np.inf, "reduce_min": np.inf}
"""The value of a max or min over no elements (a batch of 0): the identity of the fold."""


def empty_extremum(op_name: str, dtype):
    """EMPTY_EXTREMUM in `dtype`: an integer type's lowest or highest value."""
    value = EMPTY_EXTREMUM[op_name]
    if dtype.is_floating:
        return value
    info = np.iinfo(dtype.np_type)
    return info.min if value < 0 else info.max


def _kept(node, t):
    """`t` (shaped like the reduction's output) with the reduced axes put back as 1s."""
    if node.attrs["keepdims"] or not node.attrs["axes"]:
        return t
    from .shape import expand_dims
    return expand_dims(t, node.attrs["axes"])


def _g_sum(node, x, gy):
    from .shape import broadcast_like
    return broadcast_like(_kept(node, gy), x)


def _g_mean(node, x, gy):
    from .elementwise import cast
    from .shape import broadcast_like
    count = cast(size(x, node.attrs["axes"]), x.dtype)
    return broadcast_like(_kept(node, gy) / count, x)


def _g_extremum(node, x, gy):
    """The gradient goes to the elements equal to the extremum, shared among ties."""
    from .elementwise import cast, equal
    mask = cast(equal(x, _kept(node, node)), x.dtype)
    ties = reduce_sum(mask, node.attrs["axes"], keepdims=True)
    return mask * (_kept(node, gy) / ties)


for _row in [
    ReduceOp("reduce_sum", np.sum, _g_sum, fold="add"),
    ReduceOp("reduce_mean", np.mean, _g_mean, fold="add", mean=True),
    ReduceOp("reduce_max", np.max, _g_extremum, fold="max"),
    ReduceOp("reduce_min", np.min, _g_extremum, fold="min"),
]:
    register(_row)


def reduction_args(axis, keepdims, keep_dims=None, reduction_indices=None):
    """(axes, keepdims) from TF1's spellings: keep_dims= and reduction_indices= are the
    older names of keepdims= and axis=."""
    if reduction_indices is not None:
        if axis is not None:
            raise ValueError("give axis= or reduction_indices=, not both")
        axis = reduction_indices
    if keep_dims is not None:
        keepdims = keep_dims
    axes = axis if axis is None or isinstance(axis, int | np.integer) else tuple(axis)
    return (int(axes) if isinstance(axes, np.integer) else axes), bool(keepdims)


def _reduce(op_name):
    def op(x, axis=None, keepdims=False, name=None, keep_dims=None, reduction_indices=None):
        axes, keepdims = reduction_args(axis, keepdims, keep_dims, reduction_indices)
        return apply(op_name, [as_tensor(x)], name=name, axes=axes, keepdims=keepdims)
    op.__name__ = op_name
    op.__doc__ = (f"{op_name} over `axis` (an int, a list, or None for all axes); "
                  "keep_dims= is TF1's older name of keepdims=.")
    return op


reduce_sum = _reduce("reduce_sum")
reduce_mean = _reduce("reduce_mean")
reduce_max = _reduce("reduce_max")
reduce_min = _reduce("reduce_min")


class ArgOp(OpDef):
    """The index of the extremum along an axis; lowers to a loop keeping the best value
    and its index, taking a new one when it compares `better` (the first on ties)."""

    fusion = Fusion.REDUCTION
    num_inputs = 1
    lowering = "arg_reduce"

    def __init__(self, name, fn, better):
        self.name = name
        self.fn = fn
        self.better = better

    def normalize_attrs(self, inputs, attrs):
        return dict(attrs, axis=normalize_axis(attrs["axis"], inputs[0].rank))

    def infer(self, inputs, attrs):
        (x,) = inputs
        axis = attrs["axis"]
        if x.shape[axis] == 0:
            raise shape_error(f"{self.name} over an empty axis {axis} of {x}: no index to give")
        shape = tuple(d for i, d in enumerate(x.shape) if i != axis)
        return TensorType(attrs["output_type"], shape)

    def reference(self, node, x):
        if x.shape[node.attrs["axis"]] == 0:
            raise ValueError(f"{self.name} over an empty axis {node.attrs['axis']} of "
                             f"{x.dtype}{list(x.shape)}")
        return self.fn(x, axis=node.attrs["axis"]).astype(node.dtype.np_type)

    def grad(self, node, gy):
        return [None]


register(ArgOp("argmax", np.argmax, better="gt"))
register(ArgOp("argmin", np.argmin, better="lt"))


def argmax(x, axis=-1, output_type=int64, name=None) -> Node:
    """Index of the largest element along `axis` (the first one on ties)."""
    return apply("argmax", [as_tensor(x)], name=name, axis=int(axis),
                 output_type=as_dtype(output_type))


def argmin(x, axis=-1, output_type=int64, name=None) -> Node:
    return apply("argmin", [as_tensor(x)], name=name, axis=int(axis),
                 output_type=as_dtype(output_type))


class Size(OpDef):
    """Number of elements of `x` over `axes` (all when None), known only at run time
    when `x` has unknown dimensions; used by mean's gradient."""

    name = "size"
    num_inputs = 1
    shape_only_inputs = (0,)
    fusion = Fusion.INJECTIVE

    def normalize_attrs(self, inputs, attrs):
        axes = attrs["axes"]
        return attrs if axes is None else dict(attrs, axes=normalize_axes(axes, inputs[0].rank))

    def infer(self, inputs, attrs):
        return TensorType(attrs["dtype"], ())

    def reference(self, node, x):
        axes = node.attrs["axes"]
        n = 1
        for i in range(x.ndim) if axes is None else axes:
            n *= x.shape[i]
        return np.asarray(n, dtype=node.dtype.np_type)

    def element(self, b, vb, node, index):
        """A count: a constant, or an expression of N in a batch-polymorphic program
        (simplify turns static ones into constants before lowering)."""
        shape = node.inputs[0].shape
        count = 1
        for axis in range(len(shape)) if node.attrs["axes"] is None else node.attrs["axes"]:
            count = count * shape[axis]
        return b.const(count, node.dtype)

    def grad(self, node, gy):
        return [None]


register(Size())


def size(x, axis=None, dtype=int64, name=None) -> Node:
    """The element count over `axis` (all); int64 for internal counts (a mean's
    gradient). TF1's gc.size, int32 by default, is in constructors.py."""
    axes = axis if axis is None or isinstance(axis, int) else tuple(axis)
    return apply("size", [as_tensor(x)], name=name, axes=axes, dtype=as_dtype(dtype))
