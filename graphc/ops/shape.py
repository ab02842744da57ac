"""Shape ops: reshape, transpose, expand_dims/squeeze, concat/split, broadcast, tile
(slicing, pad, one_hot and gather are in indexing.py).

Ops named `*_like` take a second input only for its run-time shape. They let a
gradient reshape, broadcast or reduce to the shape of a forward tensor whose batch
dimension is unknown (None) while the graph is built.
"""
from __future__ import annotations

import builtins

import numpy as np

from ..ir import Fusion, Node, OpDef, TensorType, register
from ..ir.errors import shape_error
from ..ir.symbolic import is_symbolic
from ..ir.types import dims_compatible
from .base import apply, as_tensor, broadcast_shapes, normalize_axes, normalize_axis, same_dtype


class ShapeOp(OpDef):
    """Base for single-input data-movement ops: the result is a permutation/selection."""

    fusion = Fusion.INJECTIVE
    num_inputs = 1


# -- reshape -------------------------------------------------------------------------------
class Reshape(ShapeOp):
    name = "reshape"
    row_major_view = True

    def infer(self, inputs, attrs):
        (x,) = inputs
        shape = attrs["shape"]
        if builtins.sum(1 for d in shape if d == -1) > 1:
            raise shape_error(f"reshape to {shape}: at most one dimension may be -1")
        if any(isinstance(d, int) and d < -1 for d in shape):
            raise shape_error(f"reshape to {shape}: negative dimension")
        known = _product(d for d in shape if d != -1)
        if x.is_fully_defined:
            if -1 in shape:
                if known == 0 or x.num_elements % known != 0:
                    raise shape_error(f"cannot reshape {x} ({x.num_elements} elements) "
                                      f"to {shape}")
                shape = tuple(x.num_elements // known if d == -1 else d for d in shape)
            elif known != x.num_elements:
                raise shape_error(f"cannot reshape {x} ({x.num_elements} elements) to "
                                  f"{shape} ({known} elements)")
        else:
            known_in = int(np.prod([d for d in x.shape if d is not None]))
            if -1 not in shape and known_in and known % known_in:
                raise shape_error(f"cannot reshape {x} to {shape}: {known} elements is not "
                                  f"a multiple of the {known_in} known input elements")
            shape = tuple(None if d == -1 else d for d in shape)
        return TensorType(x.dtype, shape)

    def reference(self, node, x):
        return np.reshape(x, node.attrs["shape"])

    def grad(self, node, gy):
        x = node.inputs[0]
        if x.type.is_fully_defined:
            return [reshape(gy, x.shape)]
        return [reshape_like(gy, x)]


register(Reshape())


def _product(dims):
    """The product of sizes (ints or symbolic batch sizes)."""
    total = 1
    for d in dims:
        total = total * d
    return total


def reshape(x, shape, name=None) -> Node:
    """Same elements, new shape; one dimension may be -1 (inferred)."""
    shape = (shape,) if isinstance(shape, int) else \
        tuple(d if is_symbolic(d) else int(d) for d in shape)
    return apply("reshape", [as_tensor(x)], name=name, shape=shape)


class ReshapeLike(OpDef):
    name = "reshape_like"
    row_major_view = True
    shape_only_inputs = (1,)
    fusion = Fusion.INJECTIVE
    num_inputs = 2

    def infer(self, inputs, attrs):
        x, ref = inputs
        return TensorType(x.dtype, ref.shape)

    def reference(self, node, x, ref):
        return np.reshape(x, ref.shape)

    def grad(self, node, gy):
        return [reshape_like(gy, node.inputs[0]), None]


register(ReshapeLike())


def reshape_like(x, ref, name=None) -> Node:
    return apply("reshape_like", [as_tensor(x), ref], name=name)


# -- transpose, expand_dims, squeeze -------------------------------------------------------
class Transpose(ShapeOp):
    name = "transpose"

    def normalize_attrs(self, inputs, attrs):
        rank = inputs[0].rank
        perm = attrs["perm"]
        perm = tuple(range(rank))[::-1] if perm is None else tuple(int(p) for p in perm)
        if sorted(p % rank if rank else p for p in perm) != list(range(rank)):
            raise shape_error(f"perm {perm} is not a permutation of {rank} axes")
        return {"perm": tuple(p % rank for p in perm)}

    def infer(self, inputs, attrs):
        x = inputs[0]
        return TensorType(x.dtype, tuple(x.shape[p] for p in attrs["perm"]))

    def element(self, b, vb, node, index):
        perm = node.attrs["perm"]
        source = [None] * len(perm)
        for out_axis, in_axis in enumerate(perm):
            source[in_axis] = index[out_axis]
        return vb.value(node.inputs[0], tuple(source))

    def reference(self, node, x):
        return np.transpose(x, node.attrs["perm"])

    def grad(self, node, gy):
        return [transpose(gy, tuple(np.argsort(node.attrs["perm"]).tolist()))]


register(Transpose())


def transpose(x, perm=None, name=None) -> Node:
    """Permute axes (reverse them when perm is None)."""
    return apply("transpose", [as_tensor(x)], name=name,
                 perm=None if perm is None else tuple(perm))


class ExpandDims(ShapeOp):
    name = "expand_dims"
    row_major_view = True

    def normalize_attrs(self, inputs, attrs):
        out_rank = inputs[0].rank + len(attrs["axes"])
        return {"axes": normalize_axes(attrs["axes"], out_rank)}

    def infer(self, inputs, attrs):
        dims = iter(inputs[0].shape)
        out_rank = inputs[0].rank + len(attrs["axes"])
        shape = tuple(1 if i in attrs["axes"] else next(dims) for i in range(out_rank))
        return TensorType(inputs[0].dtype, shape)

    def reference(self, node, x):
        return np.expand_dims(x, node.attrs["axes"])

    def grad(self, node, gy):
        return [squeeze(gy, node.attrs["axes"])]


register(ExpandDims())


def expand_dims(x, axis, name=None) -> Node:
    """Insert size-1 axes at positions `axis` (an int or several) of the result."""
    axes = (int(axis),) if isinstance(axis, int | np.integer) else tuple(axis)
    return apply("expand_dims", [as_tensor(x)], name=name, axes=axes)


class Squeeze(ShapeOp):
    name = "squeeze"
    row_major_view = True

    def normalize_attrs(self, inputs, attrs):
        x = inputs[0]
        if attrs["axes"] is None:
            return {"axes": tuple(i for i, d in enumerate(x.shape) if d == 1)}
        axes = normalize_axes(attrs["axes"], x.rank)
        for a in axes:
            if x.shape[a] not in (1, None):
                raise shape_error(f"cannot squeeze axis {a} of size {x.shape[a]}")
        return {"axes": axes}

    def infer(self, inputs, attrs):
        x = inputs[0]
        return TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape)
                                         if i not in attrs["axes"]))

    def reference(self, node, x):
        return np.squeeze(x, node.attrs["axes"])

    def grad(self, node, gy):
        return [expand_dims(gy, node.attrs["axes"])]


register(Squeeze())


def squeeze(x, axis=None, name=None) -> Node:
    """Remove size-1 axes (all statically known ones when axis is None)."""
    axes = axis if axis is None else ((axis,) if isinstance(axis, int) else tuple(axis))
    return apply("squeeze", [as_tensor(x)], name=name, axes=axes)


# -- concat / split ------------------------------------------------------------------------
class Concat(OpDef):
    name = "concat"
    fusion = Fusion.INJECTIVE

    def normalize_attrs(self, inputs, attrs):
        if not inputs:
            raise shape_error("concat needs at least one input")
        return {"axis": normalize_axis(attrs["axis"], inputs[0].rank)}

    def infer(self, inputs, attrs):
        dtype = same_dtype(inputs, "concat inputs")
        axis, rank = attrs["axis"], inputs[0].rank
        shape = list(inputs[0].shape)
        for t in inputs[1:]:
            if t.rank != rank:
                raise shape_error(f"concat inputs have different ranks: {inputs[0]} and {t}")
            for i, d in enumerate(t.shape):
                if i == axis:
                    shape[i] = None if shape[i] is None or d is None else shape[i] + d
                elif not dims_compatible(shape[i], d):
                    raise shape_error(f"concat along axis {axis}: dimension {i} differs "
                                      f"({shape[i]} vs {d}) between inputs "
                                      + ", ".join(str(x) for x in inputs))
                elif shape[i] is None:
                    shape[i] = d
        return TensorType(dtype, tuple(shape))

    def element(self, b, vb, node, index):
        """Select among the parts by where the index falls along the axis (each part is
        read at a clamped index, so every load stays in its buffer)."""
        axis, start, value = node.attrs["axis"], 0, None
        bounds = []
        for part in node.inputs:
            bounds.append((part, start))
            start += part.shape[axis]
        for part, offset in reversed(bounds):
            local = list(index)
            local[axis] = b.clamp(b.binary("sub", index[axis], b.index(offset)),
                                  part.shape[axis])
            v = vb.value(part, tuple(local))
            value = v if value is None else b.select(
                b.compare("lt", index[axis], b.index(offset + part.shape[axis])), v, value)
        return value

    def reference(self, node, *xs):
        return np.concatenate(xs, axis=node.attrs["axis"])

    def grad(self, node, gy):
        return [concat_part(gy, node.inputs, i, node.attrs["axis"])
                for i in range(len(node.inputs))]


register(Concat())


def concat(values, axis, name=None) -> Node:
    values = [as_tensor(v) for v in values]
    if len(values) == 1:
        return values[0]
    return apply("concat", values, name=name, axis=int(axis))


class ConcatPart(OpDef):
    """The slice of a concat's result that came from input `index` (its gradient);
    the other inputs only give their run-time sizes along `axis`."""

    name = "concat_part"
    fusion = Fusion.INJECTIVE

    @property
    def shape_only_inputs(self):   # every input but the gradient: any count of them
        return _FROM_ONE

    def infer(self, inputs, attrs):
        return TensorType(inputs[0].dtype, inputs[1 + attrs["index"]].shape)

    def element(self, b, vb, node, index):
        gy, parts = node.inputs[0], node.inputs[1:]
        axis, which = node.attrs["axis"], node.attrs["index"]
        offset = sum(p.shape[axis] for p in parts[:which])
        local = list(index)
        local[axis] = b.add(index[axis], b.index(offset))
        return vb.value(gy, tuple(local))

    def reference(self, node, gy, *parts):
        axis, index = node.attrs["axis"], node.attrs["index"]
        start = builtins.sum(p.shape[axis] for p in parts[:index])
        return np.take(gy, np.arange(start, start + parts[index].shape[axis]), axis=axis)

    def grad(self, node, g):
        parts = node.inputs[1:]
        index = node.attrs["index"]
        pieces = [g if i == index else zeros_like_(p, g.dtype) for i, p in enumerate(parts)]
        return [concat(pieces, node.attrs["axis"])] + [None] * len(parts)


register(ConcatPart())


class _FromOne:
    """Contains every index >= 1 (concat_part's shape-only inputs)."""

    def __contains__(self, i) -> bool:
        return i >= 1


_FROM_ONE = _FromOne()


def concat_part(gy, parts, index, axis) -> Node:
    return apply("concat_part", [gy, *parts], index=index, axis=axis)


def zeros_like_(x, dtype) -> Node:
    from .elementwise import cast, zeros_like
    return zeros_like(x) if x.dtype == dtype else cast(zeros_like(x), dtype)


def split(x, num_or_size_splits, axis=0, name=None) -> list[Node]:
    """Split into equal parts (an int) or parts of the given sizes, as slices of `x`."""
    x = as_tensor(x)
    axis = normalize_axis(int(axis), x.rank) if x.rank else 0
    dim = x.shape[axis]
    if isinstance(num_or_size_splits, int):
        if dim is None:
            raise shape_error(f"split of '{x.name}' {x.type} into {num_or_size_splits} parts: "
                              f"axis {axis} has unknown size; give the part sizes")
        if dim % num_or_size_splits:
            raise shape_error(f"split of '{x.name}' {x.type}: axis {axis} of size {dim} "
                              f"does not divide into {num_or_size_splits} parts")
        sizes = [dim // num_or_size_splits] * num_or_size_splits
    else:
        sizes = [int(s) for s in num_or_size_splits]
        if dim is not None and builtins.sum(sizes) != dim:
            raise shape_error(f"split of '{x.name}' {x.type}: sizes {sizes} do not add up to "
                              f"{dim}")
    from .indexing import getitem
    parts, start = [], 0
    for i, n in enumerate(sizes):
        index = [builtins.slice(None)] * x.rank
        index[axis] = builtins.slice(start, start + n)
        parts.append(getitem(x, tuple(index), name=f"{name or 'split'}_{i}"))
        start += n
    return parts


# -- broadcasting --------------------------------------------------------------------------
class BroadcastTo(ShapeOp):
    name = "broadcast_to"
    fusion = Fusion.BROADCAST

    def infer(self, inputs, attrs):
        x, shape = inputs[0], attrs["shape"]
        out = broadcast_shapes(x.shape, shape)
        if len(out) != len(shape) or any(d is not None and o != d for o, d in zip(out, shape)):
            raise shape_error(f"cannot broadcast {x} to {shape}")
        return TensorType(x.dtype, shape)

    def element(self, b, vb, node, index):
        x = node.inputs[0]
        return vb.value(x, b.broadcast_index(index, node.shape, x.shape))

    def reference(self, node, x):
        return np.broadcast_to(x, node.attrs["shape"])

    def grad(self, node, gy):
        return [sum_like(gy, node.inputs[0])]


register(BroadcastTo())


def broadcast_to(x, shape, name=None) -> Node:
    return apply("broadcast_to", [as_tensor(x)], name=name, shape=tuple(shape))


class BroadcastLike(OpDef):
    name = "broadcast_like"
    shape_only_inputs = (1,)
    fusion = Fusion.BROADCAST
    num_inputs = 2

    def infer(self, inputs, attrs):
        x, ref = inputs
        return TensorType(x.dtype, broadcast_shapes(x.shape, ref.shape))

    def element(self, b, vb, node, index):
        x = node.inputs[0]
        return vb.value(x, b.broadcast_index(index, node.shape, x.shape))

    def reference(self, node, x, ref):
        return np.broadcast_to(x, np.broadcast_shapes(x.shape, ref.shape))

    def grad(self, node, gy):
        return [sum_like(gy, node.inputs[0]), None]


register(BroadcastLike())


def broadcast_like(x, ref, name=None) -> Node:
    """`x` broadcast to the run-time shape of `ref`."""
    return apply("broadcast_like", [as_tensor(x), ref], name=name)


class SumLike(OpDef):
    """Sum `x` down to the run-time shape of `ref` (undoes a broadcast: the gradient of
    an input that was broadcast is summed over the broadcast axes)."""

    name = "sum_like"
    shape_only_inputs = (1,)
    fusion = Fusion.REDUCTION
    num_inputs = 2

    def infer(self, inputs, attrs):
        x, ref = inputs
        return TensorType(x.dtype, ref.shape)

    def reference(self, node, x, ref):
        return unbroadcast_array(x, ref.shape)

    def grad(self, node, gy):
        return [broadcast_like(gy, node.inputs[0]), None]


register(SumLike())


def unbroadcast_array(x: np.ndarray, shape) -> np.ndarray:
    lead = x.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"cannot sum an array of shape {x.shape} down to {shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and x.shape[lead + i] != 1)
    out = x.sum(axis=axes, keepdims=True) if axes else x
    return out.reshape(shape)


def sum_like(x, ref, name=None) -> Node:
    return apply("sum_like", [as_tensor(x), ref], name=name)


# -- tile ----------------------------------------------------------------------------------
class Tile(ShapeOp):
    name = "tile"
    fusion = Fusion.BROADCAST

    def normalize_attrs(self, inputs, attrs):
        if len(attrs["multiples"]) != inputs[0].rank:
            raise shape_error(f"tile multiples {attrs['multiples']} need one entry per axis "
                              f"of {inputs[0]}")
        return attrs

    def infer(self, inputs, attrs):
        x = inputs[0]
        return TensorType(x.dtype, tuple(None if d is None else d * m
                                         for d, m in zip(x.shape, attrs["multiples"])))

    def element(self, b, vb, node, index):
        x = node.inputs[0]
        return vb.value(x, tuple(i if m == 1 else b.binary("mod", i, b.index(d))
                                 for i, d, m in zip(index, x.shape, node.attrs["multiples"])))

    def reference(self, node, x):
        return np.tile(x, node.attrs["multiples"])

    def grad(self, node, gy):
        return [apply("tile_grad", [gy, node.inputs[0]], multiples=node.attrs["multiples"])]


register(Tile())


class TileGrad(OpDef):
    """Sum the tiles of `gy` into one tile shaped like `ref` (tile's gradient)."""

    name = "tile_grad"
    lowering = "tile_grad"
    shape_only_inputs = (1,)
    fusion = Fusion.REDUCTION
    num_inputs = 2

    def infer(self, inputs, attrs):
        return TensorType(inputs[0].dtype, inputs[1].shape)

    def reference(self, node, gy, ref):
        split_shape = []
        for m, d in zip(node.attrs["multiples"], ref.shape):
            split_shape.extend([m, d])
        summed = gy.reshape(split_shape).sum(axis=tuple(range(0, 2 * ref.ndim, 2)))
        return summed.astype(node.dtype.np_type, copy=False)

    def grad(self, node, g):
        return [tile(g, node.attrs["multiples"]), None]


register(TileGrad())


def tile(x, multiples, name=None) -> Node:
    return apply("tile", [as_tensor(x)], name=name, multiples=tuple(int(m) for m in multiples))
